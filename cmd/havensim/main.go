// Command havensim runs Haven's cores in the deterministic simulator
// (package sim): many seeds, each a whole cluster with clients under
// injected faults, each checked for Raft's safety properties, for liveness
// once the faults heal, and for linearizability of what the clients saw.
// The workload is a small key-value store above the Raft core (-workload
// kv), or the Haven service core itself with sessions, lists and watches
// (-workload sessions), whose clients are also checked for watch events
// without gaps and for sessions that expire when, and only when, they must.
//
// A failing seed prints the command that replays it exactly.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/havenproject/haven/sim"
	// The workloads -workload names: each registers itself with sim.
	_ "github.com/havenproject/haven/sim/kv"
	_ "github.com/havenproject/haven/sim/sessions"
)

const usageHead = `havensim runs simulated Haven clusters: the real Raft cores of N nodes on a
simulated network, disks and clocks, driven by one seeded random generator in
virtual time, with clients whose history is checked for linearizability.

Two workloads: kv runs a small key-value store above raft; sessions runs the
Haven service core (package session, the code havend runs) on every node,
with clients that open sessions (ttl 500 ms for half of them, 1-3 s for the
others), push, update, delete, read and watch lists, ping, move to other nodes
and resume with their token, close their sessions or crash without closing.
It also checks every watch event against the committed log (no gap, no
duplicate, no reordering, across resumes with since), that no session is
expired while its client's pings were answered OK within its ttl, and that
every dead session ends within its ttl and a stated bound once a leader is
stable.

Each seed injects faults for -duration of virtual time (message loss, delay
with a heavy tail, duplication, reordering, partitions of every shape,
swizzle-clogging, crashes that lose or tear unsynced writes, pauses, clock
drift), checks Raft's safety properties after every event, then heals
everything and requires a leader and an acknowledged new write within %v
of virtual time (ten election timeouts; when messages carry about one entry,
plus a mean round trip for each entry a member is behind), lets the nodes
settle, and checks the clients' history with porcupine.

Seeds run in parallel on runtime.NumCPU() workers (%d here); each seed is
single-threaded and deterministic, so the same seed always gives the same
run. A failing seed prints its seed and the havensim command that replays it.
A seed whose linearizability check runs out of -check-timeout passes but is
listed as undecided; replay it alone with a longer -check-timeout.

Usage:
  havensim [flags]

Examples:
  havensim -explore               (every order of events within a bound: havensim -explore -help)
  havensim -seeds 200 -duration 60s -faults swarm
  havensim -seed 17 -trace seed-17.trace -viz seed-17.html
  havensim -seed 17 -timeline seed-17-timeline.html -explain
  havensim -seeds 1000 -json

Flags:
`

const usageTail = `
With one seed, -trace, -viz and -timeline write the given files (whatever the
verdict), and -explain tells the story of a failure. With several seeds, only
failing seeds write them, with the seed number put before the file extension
(trace-17.txt).

Exit status: 0 if every seed passed, 1 if any failed, 2 for bad usage.
`

type options struct {
	nodes         int
	seeds         int
	seed          uint64
	seedList      string
	duration      time.Duration
	faults        string
	workload      string
	lease         string
	knobs         string
	history       string
	trace         string
	viz           string
	json          bool
	rate          float64
	clients       int
	keys          int
	workers       int
	compactEvery  uint64
	stopOnFailure bool
	checkTimeout  time.Duration
	pictures      pictures
}

func main() {
	// The simulator allocates briskly and keeps little: a campaign runs
	// about a fifth faster when the collector lets the heap grow to five
	// times the live data (GOGC=400) instead of twice. An explicit GOGC in
	// the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// parseFlags parses args into fs, whose Usage writes to fs.Output(). The
// usage goes to stdout when it was asked for (-h, -help), so that it pipes
// into a pager, and to stderr after a mistake, with what was wrong.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	if errors.Is(err, flag.ErrHelp) {
		_, _ = out.WriteTo(stdout)
	} else {
		_, _ = out.WriteTo(stderr)
	}
	return err
}

func run(args []string, stdout, stderr io.Writer) int {
	if slices.Contains(args, "-explore") || slices.Contains(args, "--explore") {
		return runExplore(args, stdout, stderr)
	}
	fs := flag.NewFlagSet("havensim", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.nodes, "nodes", 5, "number of nodes in the cluster (1.."+strconv.Itoa(sim.MaxNodes)+")")
	fs.IntVar(&o.seeds, "seeds", 20, "run seeds 1..K")
	fs.Uint64Var(&o.seed, "seed", 0, "run this one seed only (overrides -seeds)")
	fs.StringVar(&o.seedList, "seed-list", "", "run these comma-separated seeds (overrides -seeds)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "virtual time of the fault phase of each seed")
	fs.StringVar(&o.faults, "faults", "swarm", "fault profile: none, light, heavy, or swarm (each seed draws its own mix)")
	fs.StringVar(&o.workload, "workload", "kv", "client workload: kv (key-value store above raft), or sessions (the Haven service core: sessions, lists, watches)")
	fs.StringVar(&o.lease, "lease", "drawn", "lease reads (§6.4.1): drawn (as the fault profile draws them), never, always, or no-checkquorum (ask raft for leases without CheckQuorum, which it must refuse)")
	fs.StringVar(&o.knobs, "knobs", "", "force corners on in every seed, comma-separated: no-prevote, no-checkquorum, membership, transfer (a share of TimeoutNow messages then arrive elections late), adversarial-drift, diverge, holdback, restart-replay (late replays across a restart, and a leader's last messages copied to its next incarnation), backpressure (small raft and service-core bounds), wipe (a founding member restarts on an empty disk and must be refused), watch-elsewhere (sessions clients start watches with since = a version another client was shown), snapshot-crash (half the nodes that install a leader's snapshot crash during its fsync)")
	fs.StringVar(&o.trace, "trace", "", "write the event trace to this file")
	fs.StringVar(&o.history, "history", "", "write each seed's history (committed log, operations, sessions, pings, expiries, watch registrations and deliveries) to this file as JSON lines (linearizability/history); with several seeds, the seed number goes before the extension")
	fs.StringVar(&o.viz, "viz", "", "write the porcupine HTML visualization of the history to this file")
	fs.BoolVar(&o.json, "json", false, "print one JSON object summarizing the run as the last line, and no progress")
	fs.Float64Var(&o.rate, "rate", 100, "client operations per virtual second")
	fs.IntVar(&o.clients, "clients", 10, "number of clients")
	fs.IntVar(&o.keys, "keys", 100, "number of keys (kv) or lists (sessions) the clients use")
	fs.Uint64Var(&o.compactEvery, "compact-every", 0, "compact each node's log every N applied entries (0: as the fault profile draws it)")
	fs.IntVar(&o.workers, "workers", runtime.NumCPU(), "seeds run in parallel")
	fs.BoolVar(&o.stopOnFailure, "stop-on-failure", false, "start no new seed after the first failure")
	fs.DurationVar(&o.checkTimeout, "check-timeout", 30*time.Second, "time limit of each seed's linearizability check")
	fs.StringVar(&o.pictures.timeline, "timeline", "", "write the timeline of the run (lanes of roles and terms, faults, messages, client operations, the failed check) to this HTML file")
	fs.BoolVar(&o.pictures.explain, "explain", false, "print, in words, the part of the trace that matters to a failed check: the nodes, terms and indices it names, who led, what crashed, the faults")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usageHead, sim.LivenessBound, runtime.NumCPU())
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), usageTail)
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "havensim: unexpected arguments %q\n", fs.Args())
		return 2
	}
	seedSet := false
	fs.Visit(func(f *flag.Flag) { seedSet = seedSet || f.Name == "seed" })
	camp, err := o.campaign(seedSet)
	if err != nil {
		fmt.Fprintf(stderr, "havensim: %v\n", err)
		return 2
	}
	if !o.json {
		fmt.Fprintf(stdout, "havensim: %d seed(s) × %v virtual, %d nodes, faults %s, workload %s, %d workers\n",
			len(camp.Seeds), o.duration, o.nodes, o.faults, o.workload, o.workers)
		camp.Progress = progressPrinter(stderr, isTerminal(stderr))
	}
	if err := o.pictures.prepare(camp); err != nil {
		fmt.Fprintf(stderr, "havensim: %v\n", err)
		return 2
	}
	sum := camp.Run()
	if !o.json && isTerminal(stderr) {
		fmt.Fprint(stderr, "\r\033[K")
	}
	printFailures(stderr, &sum)
	if err := o.pictures.write(camp, &sum, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "havensim: %v\n", err)
		return 2
	}
	if o.json {
		printJSON(stdout, &sum)
	} else {
		printSummary(stdout, &sum)
	}
	if len(sum.Failures) > 0 {
		return 1
	}
	return 0
}

func (o *options) campaign(seedSet bool) (*sim.Campaign, error) {
	profile, err := sim.ParseFaultProfile(o.faults)
	if err != nil {
		return nil, err
	}
	lease, err := sim.ParseLeaseMode(o.lease)
	if err != nil {
		return nil, err
	}
	if o.nodes < 1 || o.nodes > sim.MaxNodes {
		return nil, fmt.Errorf("-nodes %d: want 1..%d", o.nodes, sim.MaxNodes)
	}
	if o.duration <= 0 {
		return nil, fmt.Errorf("-duration %v: want a positive duration", o.duration)
	}
	if o.rate <= 0 || o.clients <= 0 || o.keys <= 0 {
		return nil, errors.New("-rate, -clients and -keys must be positive")
	}
	base := sim.Config{
		Nodes: o.nodes, Duration: o.duration, Faults: profile, Workload: o.workload,
		ClientRate: o.rate, Clients: o.clients, Keys: o.keys, CheckTimeout: o.checkTimeout,
		Lease: lease, CompactEvery: o.compactEvery, Knobs: o.knobs,
	}
	if err := sim.CheckWorkload(&base); err != nil {
		return nil, err
	}
	var seeds []uint64
	switch {
	case o.seedList != "":
		for _, s := range strings.Split(o.seedList, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("-seed-list: %w", err)
			}
			seeds = append(seeds, v)
		}
	case seedSet:
		seeds = []uint64{o.seed}
	default:
		if o.seeds < 1 {
			return nil, fmt.Errorf("-seeds %d: want at least 1", o.seeds)
		}
		for s := 1; s <= o.seeds; s++ {
			seeds = append(seeds, uint64(s))
		}
	}
	return &sim.Campaign{
		Base: base, Seeds: seeds, Workers: o.workers, StopOnFailure: o.stopOnFailure,
		TracePath: o.trace, VisualizationPath: o.viz, HistoryPath: o.history,
	}, nil
}

// progressPrinter reports progress on stderr: a line rewritten in place on a
// terminal, a line every few seconds otherwise (CI logs).
func progressPrinter(w io.Writer, terminal bool) func(done, total int, r *sim.Result) {
	start := time.Now()
	var last time.Time
	failures := 0
	var simTime time.Duration
	return func(done, total int, r *sim.Result) {
		simTime += r.SimTime
		if r.Err != nil {
			failures++
			if terminal {
				fmt.Fprint(w, "\r\033[K")
			}
			fmt.Fprintf(w, "seed %d FAILED: %s\n", r.Seed, firstLine(r.Err.Error()))
		}
		wall := time.Since(start).Seconds()
		line := fmt.Sprintf("%d/%d seeds, %d failed, %.0f virtual s in %.1f s (%.0fx)",
			done, total, failures, simTime.Seconds(), wall, simTime.Seconds()/max(wall, 1e-9))
		switch {
		case terminal:
			fmt.Fprint(w, "\r\033[K"+line)
		case done == total || time.Since(last) >= 5*time.Second:
			last = time.Now()
			fmt.Fprintln(w, line)
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func printFailures(w io.Writer, sum *sim.Summary) {
	for _, r := range sum.Failures {
		fmt.Fprintf(w, "seed %d FAILED at %v of virtual time:\n  %s\n", r.Seed, r.FailedAt,
			strings.ReplaceAll(r.Err.Error(), "\n", "\n  "))
		fmt.Fprintf(w, "  params: %s\n", r.Params)
		if r.Workload.VisualizationPath != "" {
			fmt.Fprintf(w, "  visualization: %s\n", r.Workload.VisualizationPath)
		}
		fmt.Fprintf(w, "  replay: %s\n", r.Replay)
	}
}

// seedList is seeds as a comma-separated list, the first max of them.
func seedList(seeds []uint64, max int) string {
	var b strings.Builder
	for i, s := range seeds {
		if i == max {
			fmt.Fprintf(&b, " … (%d more)", len(seeds)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(s, 10))
	}
	return b.String()
}

func printSummary(w io.Writer, sum *sim.Summary) {
	fmt.Fprintf(w, "seeds:            %d (%d failed)\n", sum.Seeds, len(sum.Failures))
	fmt.Fprintf(w, "ops checked:      %d linearizability verdicts %v; %d writes acknowledged, %d outcomes unknown to clients\n",
		sum.Ops, sum.Verdicts, sum.Acked, sum.Unknown)
	if len(sum.Undecided) > 0 {
		fmt.Fprintf(w, "undecided:        %d seed(s) whose linearizability check ran out of -check-timeout (not failures, not proofs; replay one with a longer -check-timeout): %s\n",
			len(sum.Undecided), seedList(sum.Undecided, 20))
	}
	if sum.Sessions > 0 || sum.WatchEvents > 0 {
		fmt.Fprintf(w, "sessions:         %d sessions checked (no false expiry, dead ones ended in time), %d watch events checked against the log\n",
			sum.Sessions, sum.WatchEvents)
	}
	fmt.Fprintf(w, "events:           %d (%d messages between nodes; at most %d sent by one node within 100ms)\n", sum.Stats.Events, sum.Stats.Messages, sum.Stats.PeakSends)
	fmt.Fprintf(w, "elections:        %d leaders seen, %d log compactions, %d divergent entries overwritten\n", sum.Stats.Elections, sum.Stats.Compactions, sum.Stats.TruncatedEntries)
	fmt.Fprintf(w, "faults injected:\n")
	for _, c := range sum.Stats.FaultCounts() {
		fmt.Fprintf(w, "  %-22s %d\n", c.Name, c.Count)
	}
	h := &sum.WriteLatency
	fmt.Fprintf(w, "commit latency:   write call to acknowledgment (virtual): p50 %v  p90 %v  p99 %v  max %v\n",
		round(h.Percentile(50)), round(h.Percentile(90)), round(h.Percentile(99)), round(h.Max))
	fmt.Fprintf(w, "time:             %.1f virtual s in %.2f wall s: %.0fx real time\n",
		sum.SimTime.Seconds(), sum.WallTime.Seconds(), sum.Speedup())
	if len(sum.Failures) == 0 {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintf(w, "FAIL: %d seed(s) failed\n", len(sum.Failures))
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

type jsonFailure struct {
	Seed   uint64  `json:"seed"`
	AtSec  float64 `json:"at_seconds"`
	Error  string  `json:"error"`
	Replay string  `json:"replay"`
}

type jsonSummary struct {
	Seeds        int               `json:"seeds"`
	Failures     int               `json:"failures"`
	FailedSeeds  []jsonFailure     `json:"failed_seeds"`
	Ops          int               `json:"ops"`
	Acked        int               `json:"acked_writes"`
	Unknown      int               `json:"unknown_outcomes"`
	Verdicts     map[string]int    `json:"verdicts"`
	Undecided    []uint64          `json:"undecided_seeds"`
	SimSeconds   float64           `json:"sim_seconds"`
	WallSeconds  float64           `json:"wall_seconds"`
	Speedup      float64           `json:"speedup"`
	Events       uint64            `json:"events"`
	Elections    uint64            `json:"elections"`
	PeakSends    uint64            `json:"peak_sends_per_100ms"`
	Faults       map[string]uint64 `json:"faults"`
	LatencyP50Ms float64           `json:"commit_latency_p50_ms"`
	LatencyP99Ms float64           `json:"commit_latency_p99_ms"`
	LatencyMaxMs float64           `json:"commit_latency_max_ms"`
	WatchEvents  int               `json:"watch_events_checked"`
	Sessions     int               `json:"sessions_checked"`
}

func printJSON(w io.Writer, sum *sim.Summary) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	out := jsonSummary{
		Seeds: sum.Seeds, Failures: len(sum.Failures), FailedSeeds: []jsonFailure{},
		Ops: sum.Ops, Acked: sum.Acked, Unknown: sum.Unknown, Verdicts: sum.Verdicts, Undecided: append([]uint64{}, sum.Undecided...),
		SimSeconds: sum.SimTime.Seconds(), WallSeconds: sum.WallTime.Seconds(), Speedup: sum.Speedup(),
		Events: sum.Stats.Events, Elections: sum.Stats.Elections, PeakSends: sum.Stats.PeakSends, Faults: map[string]uint64{},
		LatencyP50Ms: ms(sum.WriteLatency.Percentile(50)), LatencyP99Ms: ms(sum.WriteLatency.Percentile(99)),
		LatencyMaxMs: ms(sum.WriteLatency.Max),
		WatchEvents:  sum.WatchEvents, Sessions: sum.Sessions,
	}
	for _, r := range sum.Failures {
		out.FailedSeeds = append(out.FailedSeeds, jsonFailure{Seed: r.Seed, AtSec: r.FailedAt.Seconds(), Error: r.Err.Error(), Replay: r.Replay})
	}
	for _, c := range sum.Stats.FaultCounts() {
		out.Faults[c.Name] = c.Count
	}
	b, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintf(w, `{"error":%q}`+"\n", err.Error())
		return
	}
	fmt.Fprintf(w, "%s\n", b)
}
