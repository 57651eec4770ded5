package sim

import (
	"testing"
	"time"
)

// BenchmarkSimulate5NodesSwarm measures simulated seconds per wall second on
// one goroutine: five nodes, 100 client operations per virtual second,
// swarm faults, one 60 s seed per iteration, the final checks and the
// linearizability check included.
func BenchmarkSimulate5NodesSwarm(b *testing.B) {
	var sim, wall time.Duration
	var events uint64
	for i := range b.N {
		r := Run(Config{Seed: uint64(i + 1), Duration: 60 * time.Second, Faults: FaultsSwarm})
		if r.Err != nil {
			b.Fatalf("seed %d: %v", i+1, r.Err)
		}
		sim += r.SimTime
		wall += r.WallTime
		events += r.Stats.Events
	}
	b.ReportMetric(sim.Seconds()/wall.Seconds(), "sim-s/wall-s")
	b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
}

// BenchmarkSessionsWorkload measures the Haven service core in the
// simulator on one goroutine: five nodes running session.Core, ten clients
// at 100 operations per virtual second plus their pings, swarm faults, one
// 60 s seed per iteration, every check included (the lists history checked
// by porcupine, the watch and session checkers). It reports the client
// requests answered (of every kind, pings included) per wall second, and
// virtual seconds simulated per wall second.
func BenchmarkSessionsWorkload(b *testing.B) {
	var sim, wall time.Duration
	var requests int
	for i := range b.N {
		r := Run(Config{Seed: uint64(i + 1), Duration: 60 * time.Second, Faults: FaultsSwarm, Workload: "sessions"})
		if r.Err != nil {
			b.Fatalf("seed %d: %v", i+1, r.Err)
		}
		sim += r.SimTime
		wall += r.WallTime
		requests += r.Workload.Requests
	}
	b.ReportMetric(float64(requests)/wall.Seconds(), "requests/s")
	b.ReportMetric(sim.Seconds()/wall.Seconds(), "sim-s/wall-s")
}

// BenchmarkCampaign5NodesSwarm is the same on the worker pool havensim
// uses, one worker per CPU.
func BenchmarkCampaign5NodesSwarm(b *testing.B) {
	camp := Campaign{Base: Config{Duration: 60 * time.Second, Faults: FaultsSwarm}, Seeds: seedRange(1, max(b.N, 2))}
	sum := camp.Run()
	if len(sum.Failures) > 0 {
		b.Fatalf("seed %d: %v", sum.Failures[0].Seed, sum.Failures[0].Err)
	}
	b.ReportMetric(sum.Speedup(), "sim-s/wall-s")
}
