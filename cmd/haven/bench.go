package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/netproto/client"
	"github.com/spf13/cobra"
)

// benchOptions are haven bench's flags.
type benchOptions struct {
	mode      string
	stale     bool
	clients   int
	duration  time.Duration
	warmup    time.Duration
	valueSize int
	rate      float64
	placement string
	histogram string
	kill      string
	pids      string
	quiet     bool
}

// benchResult is haven bench's final line with -o json. Latencies are in
// milliseconds; throughput in operations (or, for watch, deliveries) per
// second of the measured window; CPU is the cluster's, summed over its
// processes, while the measured window ran.
type benchResult struct {
	Mode       string   `json:"mode"`
	Stale      bool     `json:"stale,omitempty"`
	Clients    int      `json:"clients"`
	Placement  string   `json:"placement"`
	ValueSize  int      `json:"value_size"`
	Rate       float64  `json:"rate"`
	DurationS  float64  `json:"duration_s"`
	Ops        int64    `json:"ops"`
	Errors     int64    `json:"errors"`
	Throughput float64  `json:"throughput"`
	P50        float64  `json:"p50_ms"`
	P90        float64  `json:"p90_ms"`
	P99        float64  `json:"p99_ms"`
	P999       float64  `json:"p999_ms"`
	Max        float64  `json:"max_ms"`
	Mean       float64  `json:"mean_ms"`
	CPUSeconds *float64 `json:"cpu_seconds"`
	CPUPerOp   *float64 `json:"cpu_ms_per_op"`
	CPUCores   *float64 `json:"cpu_cores"`
	FailoverMs *float64 `json:"failover_ms,omitempty"`
	Killed     string   `json:"killed,omitempty"`
	Endpoints  []string `json:"endpoints"`
	Leader     string   `json:"leader,omitempty"`
	FirstError string   `json:"first_error,omitempty"`
}

func (a *app) benchCommand() *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench push|read|watch|close-notify|failover",
		Short: "Measure the cluster: throughput, latency percentiles, CPU",
		Long: `Run a load against the cluster and report throughput, latency percentiles
(p50, p90, p99, p99.9, max) and the cluster's CPU while it ran (from each
node's /metrics process_cpu_seconds_total).

Modes:
  push          each client pushes small items owned by its session
  read          linearizable reads of one list (--stale: stale reads)
  watch         one writer updates an item; --clients watchers on the other
                nodes; latency from the write to each watcher's event
  close-notify  a session pushes, a watcher on another node sees it, the
                session closes; latency from close to the watcher's delete
  failover      clients push while the leader is killed with --kill (e.g.
                'kill -9 {pid}'; {pid}, {id} and {address} are filled in,
                the pid from /v1/status, --pids, or the local process on the
                leader's port); reports failover_ms, the
                time from the kill to the first write begun after it that
                succeeded

--rate R runs open loop: R operations per second in all, each timed from
when it was due, not from when it was sent, so a slow cluster cannot hide
its queueing (no coordinated omission). Without --rate each client sends its
next operation when the last one is answered.

--placement followers-first puts the first clients on followers (then the
leader, round robin); given uses --endpoints in the order given.

Live progress goes to stderr each second. -o json prints one line with the
fields mode, stale, clients, placement, value_size, rate, duration_s, ops,
errors, throughput, p50_ms, p90_ms, p99_ms, p999_ms, max_ms, mean_ms,
cpu_seconds, cpu_ms_per_op, cpu_cores (null when /metrics is unreachable),
failover_ms and killed (failover), endpoints, leader, first_error (the first
failure, if any). --histogram FILE writes
the latency histogram in HdrHistogram's percentile format (milliseconds).`,
		Example: `  haven bench push --clients 64 --duration 10s
  haven bench read --stale --clients 64
  haven bench push --rate 2000 --clients 16 --histogram push.hgrm
  haven bench failover --kill 'kill -9 {pid}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("bench takes a mode: push, read, watch, close-notify or failover")
			}
			switch args[0] {
			case "push", "read", "watch", "close-notify", "failover":
				return nil
			}
			return usageError("unknown bench mode %q (push, read, watch, close-notify, failover)", args[0])
		},
		ValidArgs: []string{"push", "read", "watch", "close-notify", "failover"},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.mode = args[0]
			if o.clients < 1 {
				return usageError("--clients must be at least 1")
			}
			if o.placement != "followers-first" && o.placement != "given" {
				return usageError("--placement must be followers-first or given")
			}
			if o.valueSize < 0 {
				return usageError("--value-size must be 0 or more")
			}
			if o.rate < 0 {
				return usageError("--rate must be 0 (closed loop) or more")
			}
			if o.stale && o.mode != "read" {
				return usageError("--stale is for bench read")
			}
			if o.mode == "failover" && o.kill == "" {
				return usageError("bench failover needs --kill, e.g. --kill 'kill -9 {pid}'")
			}
			ctx, stop := a.interruptible(cmd)
			defer stop()
			return a.bench(ctx, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.stale, "stale", false, "read mode: stale reads")
	f.IntVar(&o.clients, "clients", 1, "concurrent clients (sessions)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "measured time")
	f.DurationVar(&o.warmup, "warmup", time.Second, "load before measuring (not counted)")
	f.IntVar(&o.valueSize, "value-size", 64, "bytes of data per item")
	f.Float64Var(&o.rate, "rate", 0, "operations per second in all, open loop (0: closed loop)")
	f.StringVar(&o.placement, "placement", "followers-first", "where clients connect: followers-first or given")
	f.StringVar(&o.histogram, "histogram", "", "write the latency histogram (HdrHistogram percentile format, ms) to this file")
	f.StringVar(&o.kill, "kill", "", "failover: shell command that kills a node; {pid}, {id}, {address} are filled in")
	f.StringVar(&o.pids, "pids", "", "failover: node pids as id=pid,id=pid when /v1/status has none")
	f.BoolVar(&o.quiet, "quiet", false, "no live progress")
	return cmd
}

// clusterInfo is what bench learns of the cluster before it starts.
type clusterInfo struct {
	all       []string // Haven addresses
	leader    string   // Haven address of the leader ("" if unknown)
	leaderID  string
	followers []string
	views     []nodeView
	// unreachable is why no node answered, neither GET /v1/status nor a
	// connect: the bench then stops at once instead of at its setup's
	// deadline.
	unreachable error
}

func (a *app) learnCluster(ctx context.Context) clusterInfo {
	info := clusterInfo{}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	views, _, err := a.clusterView(sctx, nil)
	if err == nil {
		info.views = views
		for _, v := range views {
			if v.Status == nil {
				continue
			}
			info.all = append(info.all, v.Address)
			if v.Status.Role == "leader" {
				info.leader, info.leaderID = v.Address, v.ID
			} else {
				info.followers = append(info.followers, v.Address)
			}
		}
	}
	if len(info.all) == 0 {
		info.all = a.endpointList()
		info.followers = nil
		if c, err := a.connect(sctx); err == nil {
			info.leader = c.Leader()
			_ = c.Close(sctx)
		} else {
			info.unreachable = err
		}
		for _, e := range info.all {
			if e != info.leader {
				info.followers = append(info.followers, e)
			}
		}
	}
	return info
}

// placementFor is the endpoint list of client i: its own node first, then
// the others as fallbacks.
func (info clusterInfo) placementFor(i int, placement string, given []string) []string {
	order := given
	if placement == "followers-first" {
		order = append(append([]string{}, info.followers...), info.leader)
		if info.leader == "" {
			order = info.all
		}
	}
	var clean []string
	for _, e := range order {
		if e != "" {
			clean = append(clean, e)
		}
	}
	if len(clean) == 0 {
		clean = given
	}
	n := len(clean)
	out := make([]string, 0, n)
	for k := 0; k < n; k++ {
		out = append(out, clean[(i+k)%n])
	}
	return out
}

// recorder collects latencies of the measured window.
type recorder struct {
	mu       sync.Mutex
	firstErr error // the first error of the measured window, for the report
	hist     *hdrhistogram.Histogram
	ops      atomic.Int64 // measured operations
	errs     atomic.Int64
	window   atomic.Int64 // ops since the last progress line
}

func newRecorder() *recorder {
	return &recorder{hist: hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), 3)}
}

func (r *recorder) record(d time.Duration) {
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	r.mu.Lock()
	_ = r.hist.RecordValue(min(us, r.hist.HighestTrackableValue()))
	r.mu.Unlock()
	r.ops.Add(1)
	r.window.Add(1)
}

func (r *recorder) fail(err error) {
	r.errs.Add(1)
	r.mu.Lock()
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.mu.Unlock()
}

func (r *recorder) quantileMs(q float64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return float64(r.hist.ValueAtQuantile(q)) / 1000
}

// phase tells workers whether the measured window is open.
type phase struct {
	measureStart time.Time
	end          atomic.Int64 // unix nanos; workers stop after it
}

func (p *phase) measuring(t time.Time) bool { return !t.Before(p.measureStart) }
func (p *phase) over(t time.Time) bool      { return t.UnixNano() >= p.end.Load() }

// window is how long the measured window was open: operations begun in it
// are the ones counted (one still running at its end counts too).
func (p *phase) window() time.Duration {
	end := time.Unix(0, p.end.Load())
	if now := time.Now(); now.Before(end) { // interrupted
		end = now
	}
	return end.Sub(p.measureStart)
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *app) bench(ctx context.Context, o *benchOptions) error {
	info := a.learnCluster(ctx)
	if info.unreachable != nil {
		return info.unreachable
	}
	given := a.endpointList()
	prefix := "/data/bench/" + runID()
	rec := newRecorder()
	pad := strings.Repeat("x", max(o.valueSize, 1))

	ph := &phase{measureStart: time.Now().Add(o.warmup)}
	// Setting up (sessions, the read item) happens before the clock starts.
	var setup func(ctx context.Context) (worker func(ctx context.Context, i int) error, cleanup func(), err error)
	var failoverAt atomic.Int64 // unix nanos of the kill's return
	var failoverMs atomic.Int64 // nanos from kill to first success; -1 none yet
	failoverMs.Store(-1)
	killed := ""

	switch o.mode {
	case "push", "failover":
		setup = func(ctx context.Context) (func(context.Context, int) error, func(), error) {
			cs, err := a.benchClients(ctx, o.clients, info, o.placement, given)
			if err != nil {
				return nil, nil, err
			}
			seq := make([]atomic.Int64, o.clients)
			worker := func(ctx context.Context, i int) error {
				n := seq[i].Add(1)
				started := time.Now()
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				_, err := cs[i].Push(wctx, fmt.Sprintf("%s/c%d/%d", prefix, i, n), pad)
				if err == nil && o.mode == "failover" {
					if k := failoverAt.Load(); k != 0 && started.UnixNano() >= k && failoverMs.Load() < 0 {
						failoverMs.CompareAndSwap(-1, time.Now().UnixNano()-k)
					}
				}
				return err
			}
			return worker, func() { closeAll(cs) }, nil
		}
	case "read":
		setup = func(ctx context.Context) (func(context.Context, int) error, func(), error) {
			owner, err := a.connect(ctx)
			if err != nil {
				return nil, nil, err
			}
			path := prefix + "/read"
			if _, err := owner.Push(ctx, path, pad); err != nil {
				_ = owner.Close(ctx)
				return nil, nil, err
			}
			cs, err := a.benchClients(ctx, o.clients, info, o.placement, given)
			if err != nil {
				_ = owner.Close(ctx)
				return nil, nil, err
			}
			var opts []client.ReadOption
			if o.stale {
				opts = append(opts, client.Stale())
			}
			worker := func(ctx context.Context, i int) error {
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				_, err := cs[i].Get(wctx, path, opts...)
				return err
			}
			return worker, func() { closeAll(cs); _ = owner.Close(context.Background()) }, nil
		}
	case "watch":
		return a.benchWatch(ctx, o, info, given, prefix, rec, ph)
	case "close-notify":
		return a.benchCloseNotify(ctx, o, info, given, prefix, rec, ph)
	}

	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	worker, cleanup, err := setup(sctx)
	cancel()
	if err != nil {
		return err
	}
	defer cleanup()

	cpu := a.startCPU(ctx, info)
	start := time.Now()
	ph.measureStart = start.Add(o.warmup)
	ph.end.Store(ph.measureStart.Add(o.duration).UnixNano())
	stopProgress := a.progress(o, rec, ph)

	if o.mode == "failover" {
		target, err := killTarget(info, o.pids)
		if err != nil {
			stopProgress()
			return err
		}
		killed = target.id
		go func() {
			at := ph.measureStart.Add(min(o.duration/4, 2*time.Second))
			time.Sleep(time.Until(at))
			cmdline := strings.NewReplacer("{pid}", target.pid, "{id}", target.id, "{address}", target.address).Replace(o.kill)
			out, err := exec.Command("sh", "-c", cmdline).CombinedOutput()
			if err != nil {
				fmt.Fprintf(a.stderr, "bench: kill command %q: %v: %s\n", cmdline, err, out)
			}
			failoverAt.Store(time.Now().UnixNano())
		}()
		// Run until the failover is seen (at most 30 s past the end).
		go func() {
			limit := time.Unix(0, ph.end.Load()).Add(30 * time.Second)
			for time.Now().Before(limit) {
				if failoverMs.Load() >= 0 && time.Now().UnixNano() >= ph.end.Load() {
					return
				}
				if failoverMs.Load() < 0 && time.Now().UnixNano() >= ph.end.Load() {
					ph.end.Store(time.Now().Add(100 * time.Millisecond).UnixNano())
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}

	runLoad(ctx, o, ph, rec, worker)
	measured := ph.window()
	stopProgress()
	res := a.finish(o, rec, measured, cpu.stop(ctx, rec.ops.Load()), info)
	if o.mode == "failover" {
		res.Killed = killed
		if v := failoverMs.Load(); v >= 0 {
			ms := float64(v) / 1e6
			res.FailoverMs = &ms
		}
	}
	return a.report2(o, rec, res)
}

func closeAll(cs []*client.Client) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func(c *client.Client) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_ = c.Close(ctx)
		}(c)
	}
	wg.Wait()
}

// benchClients opens n sessions, each on its placement.
func (a *app) benchClients(ctx context.Context, n int, info clusterInfo, placement string, given []string) ([]*client.Client, error) {
	cs := make([]*client.Client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cs[i], errs[i] = client.Connect(ctx, client.Config{Endpoints: info.placementFor(i, placement, given), TTL: a.ttl, Ordered: true})
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			var live []*client.Client
			for _, c := range cs {
				if c != nil {
					live = append(live, c)
				}
			}
			closeAll(live)
			return nil, err
		}
	}
	return cs, nil
}

// runLoad runs worker in o.clients goroutines until the phase ends. Open
// loop (--rate): each operation has a due time and its latency is counted
// from it.
func runLoad(ctx context.Context, o *benchOptions, ph *phase, rec *recorder, worker func(context.Context, int) error) {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < o.clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var interval time.Duration
			due := start
			if o.rate > 0 {
				interval = time.Duration(float64(time.Second) * float64(o.clients) / o.rate)
				due = start.Add(interval * time.Duration(i) / time.Duration(o.clients))
			}
			for ctx.Err() == nil {
				now := time.Now()
				// Open loop: every operation due before the end is sent,
				// however late (else a slow cluster would shed the very
				// operations that show it is slow), up to a grace period.
				if o.rate == 0 && ph.over(now) || ph.over(now.Add(-10*time.Second)) {
					return
				}
				began := now
				if o.rate > 0 {
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					began = due
					due = due.Add(interval)
					if ph.over(began) {
						return
					}
				}
				err := worker(ctx, i)
				if !ph.measuring(began) {
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						rec.fail(err)
					}
					continue
				}
				rec.record(time.Since(began))
			}
		}(i)
	}
	wg.Wait()
}

// progress prints a line a second to stderr; the returned func stops it.
func (a *app) progress(o *benchOptions, rec *recorder, ph *phase) func() {
	if o.quiet {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		begin := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := rec.window.Swap(0)
				state := "warmup"
				if ph.measuring(now) {
					state = "measuring"
				}
				fmt.Fprintf(a.stderr, "[%5.1fs %s] %8.0f/s  total %d  errors %d  p50 %.2fms  p99 %.2fms\n",
					now.Sub(begin).Seconds(), state, float64(n), rec.ops.Load(), rec.errs.Load(), rec.quantileMs(50), rec.quantileMs(99))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

type killInfo struct{ id, pid, address string }

// killTarget names the leader to kill and its pid: from /v1/status, else
// --pids, else the local process listening on its Haven address.
func killTarget(info clusterInfo, pids string) (killInfo, error) {
	if info.leaderID == "" {
		return killInfo{}, &client.Error{Code: fsm.Unavailable, Op: "bench", Message: "no leader found in /v1/status to kill"}
	}
	k := killInfo{id: info.leaderID, address: info.leader}
	for _, v := range info.views {
		if v.ID == info.leaderID && v.Status != nil && v.Status.PID != 0 {
			k.pid = strconv.Itoa(v.Status.PID)
		}
	}
	for _, kv := range strings.Split(pids, ",") {
		id, pid, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && id == k.id {
			k.pid = pid
		}
	}
	if k.pid == "" {
		if pid := localPID(k.address); pid != 0 {
			// One process serving several members (havend -dev) would take
			// the whole cluster down with it: refuse.
			for _, v := range info.views {
				if v.ID != k.id && localPID(v.Address) == pid {
					return k, usageError("leader %s shares process %d with %s (havend -dev?): failover needs separate processes", k.id, pid, v.ID)
				}
			}
			k.pid = strconv.Itoa(pid)
		}
	}
	if k.pid == "" {
		return k, usageError("no pid for leader %s: /v1/status has none and no local process listens on %s; give --pids %s=PID,...", k.id, k.address, k.id)
	}
	return k, nil
}
