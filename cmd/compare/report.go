package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

var workloadTitles = map[string]string{
	"write1":       "session-owned write, 1 client",
	"write64":      "session-owned write, 64 clients",
	"read64":       "linearizable read, 64 clients (ZooKeeper: sync + getData)",
	"stale64":      "local read, 64 clients (Haven stale, etcd serializable, ZooKeeper getData: not linearizable)",
	"write-notify": "write → watcher on another node notified",
	"close-notify": "session close → watcher on another node notified",
	"failover":     "kill -9 of the leader → first successful write",
}

// render is the table: per workload and system, medians over repetitions
// of throughput, p50, p99 and the cluster's CPU per operation, and Haven's
// ratio to each other system.
func render(o *options, results map[key][]sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| workload | system | ops/s | p50 | p99 | cluster CPU per op | Haven's ratio |\n")
	fmt.Fprintf(&b, "| --- | --- | ---: | ---: | ---: | ---: | --- |\n")
	for _, w := range o.workloads {
		med := map[string]sample{}
		for _, s := range o.systems {
			med[s] = median(results[key{s, w}])
		}
		for _, s := range o.systems {
			m := med[s]
			ops := fmt.Sprintf("%.0f", m.opsPerSec)
			cpu := fmt.Sprintf("%.0f µs", float64(m.cpuPerOp)/float64(time.Microsecond))
			if w == "failover" {
				ops, cpu = "—", "—"
			}
			ratio := ""
			if s != "haven" && med["haven"].ops > 0 && m.ops > 0 {
				if w == "failover" || w == "close-notify" || w == "write-notify" {
					ratio = fmt.Sprintf("p50 %.2f× as long", float64(med["haven"].p50)/float64(m.p50))
				} else {
					ratio = fmt.Sprintf("%.2f× the ops/s, %.2f× the CPU per op", med["haven"].opsPerSec/m.opsPerSec,
						float64(med["haven"].cpuPerOp)/float64(max(m.cpuPerOp, 1)))
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", workloadTitles[w], s, ops,
				fmtDur(m.p50), fmtDur(m.p99), cpu, ratio)
		}
	}
	fmt.Fprintf(&b, "\nMedians over %d repetitions (%s).\n", o.reps, repsNote(o, results))
	return b.String()
}

func repsNote(o *options, results map[key][]sample) string {
	var parts []string
	for _, s := range o.systems {
		var vals []string
		for _, x := range results[key{s, "write64"}] {
			vals = append(vals, fmt.Sprintf("%.0f", x.opsPerSec))
		}
		if len(vals) > 0 {
			parts = append(parts, fmt.Sprintf("%s write64 ops/s per repetition: %s", s, strings.Join(vals, ", ")))
		}
	}
	return strings.Join(parts, "; ")
}

// median takes each figure's median on its own.
func median(xs []sample) sample {
	if len(xs) == 0 {
		return sample{}
	}
	pick := func(f func(sample) float64) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return sample{
		opsPerSec: pick(func(s sample) float64 { return s.opsPerSec }),
		p50:       time.Duration(pick(func(s sample) float64 { return float64(s.p50) })),
		p99:       time.Duration(pick(func(s sample) float64 { return float64(s.p99) })),
		cpuPerOp:  time.Duration(pick(func(s sample) float64 { return float64(s.cpuPerOp) })),
		ops:       int(pick(func(s sample) float64 { return float64(s.ops) })),
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// describeMachine heads the markdown file: when, on what, which versions
// and settings.
func describeMachine(o *options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Haven, etcd and ZooKeeper side by side\n\n")
	fmt.Fprintf(&b, "Written by `cmd/compare` on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %d cores (%s), %s.\n", runtime.NumCPU(), firstLine(cmdOut("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")), strings.TrimSpace(firstLine(cmdOut("sh", "-c", "free -h | awk '/Mem/ {print $2\" memory\"}'"))))
	fmt.Fprintf(&b, "- etcd: %s. ZooKeeper: %s. Haven: this tree, %s.\n",
		firstLine(cmdOut("etcd", "--version")), firstLine(cmdOut("sh", "-c", "dpkg-query -W -f='${Version}' zookeeper")), runtime.Version())
	fmt.Fprintf(&b, "- Three nodes of each, separate processes on loopback, each system's defaults, fsync on; one load generator (Haven's Go client, etcd's clientv3, go-zookeeper); clients spread over the three nodes; values of %d bytes; sessions, leases and ZooKeeper sessions of %v.\n", o.valueSize, o.ttl)
	fmt.Fprintf(&b, "- Each throughput figure: %v measured after %v of warm-up, closed loop; write-notify: %d samples per repetition, writer and watcher on each pair of nodes in turn; close-notify: %d samples per repetition; failover: one kill per repetition. The systems ran in turn, each in a fresh cluster, %d times.\n\n", o.duration, o.warmup, 3*max(1, o.notifies/3), o.closes, o.reps)
	return b.String()
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
