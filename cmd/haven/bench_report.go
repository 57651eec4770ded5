package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/netproto/client"
)

// cpuSampler reads the cluster's CPU seconds before and after, once per
// process: nodes with the same pid in /v1/status, or whose /metrics agree on
// the process's start time, memory and CPU, are one process (havend -dev).
type cpuSampler struct {
	before map[string]client.ProcessCPU // by HTTP address, one per process
}

func (a *app) startCPU(ctx context.Context, info clusterInfo) *cpuSampler {
	s := &cpuSampler{before: map[string]client.ProcessCPU{}}
	// Sample every node at once, so that one process seen through several
	// nodes gives the same figures.
	type sample struct {
		view nodeView
		pc   client.ProcessCPU
		err  error
	}
	var samples []*sample
	for _, v := range info.views {
		if v.Status != nil {
			samples = append(samples, &sample{view: v})
		}
	}
	var wg sync.WaitGroup
	for _, sm := range samples {
		wg.Add(1)
		go func(sm *sample) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			sm.pc, sm.err = client.FetchCPU(cctx, sm.view.HTTPAddress)
		}(sm)
	}
	wg.Wait()
	seenPID := map[int]bool{}
	var kept []client.ProcessCPU
next:
	for _, sm := range samples {
		if sm.err != nil {
			continue
		}
		if pid := sm.view.Status.PID; pid != 0 {
			if seenPID[pid] {
				continue
			}
			seenPID[pid] = true
		} else {
			for _, k := range kept {
				if k.SameProcess(sm.pc) {
					continue next
				}
			}
		}
		kept = append(kept, sm.pc)
		s.before[sm.view.HTTPAddress] = sm.pc
	}
	return s
}

// stop gives the CPU seconds used since start (nil if none could be read).
func (s *cpuSampler) stop(ctx context.Context, ops int64) *float64 {
	total, any := 0.0, false
	for h, b := range s.before {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		pc, err := client.FetchCPU(cctx, h)
		cancel()
		switch {
		case err != nil:
		case pc.Started == b.Started && pc.Seconds >= b.Seconds:
			total += pc.Seconds - b.Seconds
			any = true
		default: // the process restarted meanwhile (failover): count its new life
			total += pc.Seconds
			any = true
		}
	}
	if !any {
		return nil
	}
	return &total
}

func (a *app) finish(o *benchOptions, rec *recorder, measured time.Duration, cpu *float64, info clusterInfo) benchResult {
	rec.mu.Lock()
	h := rec.hist
	res := benchResult{
		Mode: o.mode, Stale: o.stale, Clients: o.clients, Placement: o.placement, ValueSize: o.valueSize, Rate: o.rate,
		DurationS: measured.Seconds(), Ops: rec.ops.Load(), Errors: rec.errs.Load(),
		P50: float64(h.ValueAtQuantile(50)) / 1000, P90: float64(h.ValueAtQuantile(90)) / 1000,
		P99: float64(h.ValueAtQuantile(99)) / 1000, P999: float64(h.ValueAtQuantile(99.9)) / 1000,
		Max: float64(h.Max()) / 1000, Mean: h.Mean() / 1000,
		Endpoints: info.all, Leader: info.leader,
	}
	if rec.firstErr != nil {
		res.FirstError = rec.firstErr.Error()
	}
	rec.mu.Unlock()
	if measured > 0 {
		res.Throughput = float64(res.Ops) / measured.Seconds()
	}
	if cpu != nil {
		res.CPUSeconds = cpu
		cores := *cpu / measured.Seconds()
		res.CPUCores = &cores
		if res.Ops > 0 {
			per := *cpu * 1000 / float64(res.Ops)
			res.CPUPerOp = &per
		}
	}
	return res
}

func (a *app) report2(o *benchOptions, rec *recorder, res benchResult) error {
	if o.histogram != "" {
		f, err := os.Create(o.histogram)
		if err != nil {
			return usageError("--histogram: %v", err)
		}
		rec.mu.Lock()
		_, err = rec.hist.PercentilesPrint(f, 5, 1000)
		rec.mu.Unlock()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return &client.Error{Code: fsm.InternalError, Op: "bench", Message: err.Error()}
		}
	}
	if a.json() {
		return a.emitJSON(res)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	mode := res.Mode
	if res.Stale {
		mode += " (stale)"
	}
	loop := "closed loop"
	if res.Rate > 0 {
		loop = fmt.Sprintf("open loop at %.0f/s", res.Rate)
	}
	fmt.Fprintf(tw, "mode\t%s, %d clients, %s, placement %s, %d-byte values\n", mode, res.Clients, loop, res.Placement, res.ValueSize)
	fmt.Fprintf(tw, "measured\t%.2fs, %d ops, %d errors\n", res.DurationS, res.Ops, res.Errors)
	if res.FirstError != "" {
		fmt.Fprintf(tw, "first error\t%s\n", res.FirstError)
	}
	fmt.Fprintf(tw, "throughput\t%.1f ops/s\n", res.Throughput)
	fmt.Fprintf(tw, "latency\tp50 %.3fms  p90 %.3fms  p99 %.3fms  p99.9 %.3fms  max %.3fms  (mean %.3fms)\n", res.P50, res.P90, res.P99, res.P999, res.Max, res.Mean)
	if res.CPUSeconds != nil {
		per := "-"
		if res.CPUPerOp != nil {
			per = fmt.Sprintf("%.3f ms per op", *res.CPUPerOp)
		}
		fmt.Fprintf(tw, "cluster CPU\t%.2fs (%.2f cores), %s\n", *res.CPUSeconds, *res.CPUCores, per)
	} else {
		fmt.Fprintf(tw, "cluster CPU\tunknown (no /metrics answered)\n")
	}
	if res.Mode == "failover" {
		if res.FailoverMs != nil {
			fmt.Fprintf(tw, "failover\t%.1fms from killing %s to the first write that succeeded after it\n", *res.FailoverMs, res.Killed)
		} else {
			fmt.Fprintf(tw, "failover\tno write succeeded after killing %s\n", res.Killed)
		}
	}
	return tw.Flush()
}
