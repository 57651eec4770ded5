package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/havenproject/haven/linearizability"
)

// ReplayCommand is the havensim command that reruns cfg's seed exactly,
// writing its trace and the visualization of its history.
func ReplayCommand(cfg Config) string {
	if cfg.Params != nil || cfg.Schedule != nil || cfg.NewWorkload != nil {
		return "(this run's parameters, schedule or workload were given by its caller, not drawn from the seed: rerun the caller, e.g. the rapid test with its -rapid.seed)"
	}
	cfg.setDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "go run ./cmd/havensim -seed %d -nodes %d -duration %v -faults %s -workload %s",
		cfg.Seed, cfg.Nodes, cfg.Duration, cfg.Faults, cfg.Workload)
	if cfg.ClientRate != 100 {
		fmt.Fprintf(&b, " -rate %g", cfg.ClientRate)
	}
	if cfg.Clients != 10 {
		fmt.Fprintf(&b, " -clients %d", cfg.Clients)
	}
	if cfg.Lease != LeaseAsDrawn {
		fmt.Fprintf(&b, " -lease %s", cfg.Lease)
	}
	if cfg.CompactEvery != 0 {
		fmt.Fprintf(&b, " -compact-every %d", cfg.CompactEvery)
	}
	if cfg.Keys != 100 {
		fmt.Fprintf(&b, " -keys %d", cfg.Keys)
	}
	if cfg.Knobs != "" {
		fmt.Fprintf(&b, " -knobs %s", cfg.Knobs)
	}
	fmt.Fprintf(&b, " -trace seed-%d.trace -viz seed-%d.html", cfg.Seed, cfg.Seed)
	return b.String()
}

// Campaign runs many seeds.
type Campaign struct {
	// Base is the configuration of every run; its Seed is replaced.
	Base  Config
	Seeds []uint64
	// Workers run seeds in parallel (default runtime.NumCPU()). Each seed
	// runs on one goroutine and is deterministic whatever the others do.
	Workers int
	// StopOnFailure stops starting new seeds after the first failure.
	StopOnFailure bool
	// TracePath and VisualizationPath, if set, name the files to write. For
	// a single seed they are used as given; for several, the seed number is
	// put before the extension, and only failing seeds write them.
	TracePath, VisualizationPath string
	// HistoryPath, if set, is where each seed writes its history (the
	// seed number goes before the extension when there are several).
	HistoryPath string
	// Progress, if set, is called after each seed, from one goroutine at a
	// time.
	Progress func(done, total int, r *Result)
}

// Summary aggregates a campaign.
type Summary struct {
	Seeds    int
	Failures []Result // sorted by seed
	Ops      int
	Acked    int
	Unknown  int
	// WatchEvents and Sessions sum the workloads' reports of them.
	WatchEvents int
	Sessions    int
	// SimTime is the virtual time simulated over all seeds; WallTime the
	// real time the campaign took.
	SimTime, WallTime time.Duration
	Stats             Stats
	WriteLatency      Histogram
	// Verdicts counts the linearizability verdicts; Undecided lists the
	// seeds that passed with a check that ran out of time (verdict
	// "unknown"), sorted once Run ends. They do not fail the campaign:
	// nothing was found, but nothing was proved.
	Verdicts  map[string]int
	Undecided []uint64
	// Hashes holds each seed's trace hash, by seed.
	Hashes map[uint64]uint64
}

// Speedup is virtual seconds simulated per wall-clock second.
func (s *Summary) Speedup() float64 {
	if s.WallTime <= 0 {
		return 0
	}
	return s.SimTime.Seconds() / s.WallTime.Seconds()
}

// seedPath returns path for a single-seed campaign, or path with the seed
// before its extension.
func seedPath(path string, seed uint64, single bool) string {
	if path == "" || single {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), seed, ext)
}

// Run runs the campaign.
func (c *Campaign) Run() Summary {
	start := time.Now()
	workers := c.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	workers = max(1, min(workers, len(c.Seeds)))
	single := len(c.Seeds) == 1
	sum := Summary{Verdicts: map[string]int{}, Hashes: map[uint64]uint64{}}
	var mu sync.Mutex
	var stop bool
	next := 0
	take := func() (uint64, bool) {
		mu.Lock()
		defer mu.Unlock()
		if stop || next >= len(c.Seeds) {
			return 0, false
		}
		next++
		return c.Seeds[next-1], true
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seed, ok := take()
				if !ok {
					return
				}
				r := c.runSeed(seed, single)
				mu.Lock()
				sum.add(&r)
				if r.Err != nil && c.StopOnFailure {
					stop = true
				}
				if c.Progress != nil {
					c.Progress(sum.Seeds, len(c.Seeds), &r)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(sum.Undecided)
	slices.SortFunc(sum.Failures, func(a, b Result) int {
		switch {
		case a.Seed < b.Seed:
			return -1
		case a.Seed > b.Seed:
			return 1
		}
		return 0
	})
	sum.WallTime = time.Since(start)
	return sum
}

func (c *Campaign) runSeed(seed uint64, single bool) Result {
	cfg := c.Base
	cfg.Seed = seed
	cfg.VisualizationPath = seedPath(c.VisualizationPath, seed, single)
	cfg.HistoryPath = seedPath(c.HistoryPath, seed, single)
	// One seed writes its visualization whatever the verdict; a campaign
	// only those of histories that are not linearizable.
	cfg.VisualizeAlways = single
	if single {
		return c.runWithTrace(cfg, seedPath(c.TracePath, seed, single))
	}
	r := Run(cfg)
	if r.Err != nil && c.TracePath != "" {
		// A failing seed of a campaign runs again to write its trace; the
		// run is deterministic, so the rerun fails the same way.
		c.runWithTrace(cfg, seedPath(c.TracePath, seed, single))
	}
	return r
}

func (c *Campaign) runWithTrace(cfg Config, path string) Result {
	if path == "" {
		return Run(cfg)
	}
	f, err := os.Create(path)
	if err != nil {
		return Result{Seed: cfg.Seed, Err: err, Replay: ReplayCommand(cfg)}
	}
	cfg.Trace = f
	r := Run(cfg)
	if err := f.Close(); err != nil && r.Err == nil {
		r.Err = err
	}
	return r
}

func (s *Summary) add(r *Result) {
	s.Seeds++
	if r.Err != nil {
		s.Failures = append(s.Failures, *r)
	}
	s.Ops += r.Workload.Ops
	s.Acked += r.Workload.Acked
	s.Unknown += r.Workload.Unknown
	s.WatchEvents += r.Workload.WatchEvents
	s.Sessions += r.Workload.Sessions
	s.SimTime += r.SimTime
	s.Stats.add(&r.Stats)
	s.WriteLatency.Merge(&r.Workload.WriteLatency)
	if r.Workload.Verdict != "" {
		s.Verdicts[r.Workload.Verdict]++
	}
	if r.Err == nil && r.Workload.Verdict == string(linearizability.VerdictUnknown) {
		s.Undecided = append(s.Undecided, r.Seed)
	}
	s.Hashes[r.Seed] = r.TraceHash
}
