package sim

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// campaignSize reads the size of the CI campaign: HAVEN_SIM_SEEDS seeds
// (default 200) of HAVEN_SIM_DURATION virtual time each (default 60s), so a
// long campaign is `HAVEN_SIM_SEEDS=20000 go test ./sim -run TestSwarm`.
func campaignSize(t *testing.T) (int, time.Duration) {
	return campaignSizeFrom(t, "HAVEN_SIM_SEEDS", "HAVEN_SIM_DURATION", 200)
}

// campaignSizeFrom reads a campaign's size from the two variables named,
// defaulting to seeds seeds of 60 s.
func campaignSizeFrom(t *testing.T, seedsVar, durationVar string, seeds int) (int, time.Duration) {
	duration := 60 * time.Second
	if v := os.Getenv(seedsVar); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, seedsVar)
		seeds = n
	}
	if v := os.Getenv(durationVar); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, durationVar)
		duration = d
	}
	return seeds, duration
}

// campaignLease is the lease mode of the CI campaign: HAVEN_SIM_LEASE
// (drawn, never, always, no-checkquorum), default drawn.
func campaignLease(t *testing.T) LeaseMode {
	v := os.Getenv("HAVEN_SIM_LEASE")
	if v == "" {
		return LeaseAsDrawn
	}
	m, err := ParseLeaseMode(v)
	require.NoError(t, err, "HAVEN_SIM_LEASE")
	return m
}

func seedRange(first, n int) []uint64 {
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(first + i)
	}
	return seeds
}

// requirePassed fails the test with every failing seed and its replay
// command.
func requirePassed(t *testing.T, sum Summary) {
	t.Helper()
	if len(sum.Failures) == 0 {
		return
	}
	var b strings.Builder
	for _, r := range sum.Failures {
		b.WriteString("\nseed " + strconv.FormatUint(r.Seed, 10) + ": " + r.Err.Error() +
			"\n  params: " + r.Params.String() + "\n  replay: " + r.Replay)
	}
	t.Fatalf("%d of %d seeds failed:%s", len(sum.Failures), sum.Seeds, b.String())
}

// TestSwarm is the CI campaign: five nodes, swarm faults, every check.
func TestSwarm(t *testing.T) {
	seeds, duration := campaignSize(t)
	camp := Campaign{
		Base:  Config{Nodes: 5, Duration: duration, Faults: FaultsSwarm, Lease: campaignLease(t)},
		Seeds: seedRange(1, seeds),
	}
	sum := camp.Run()
	requirePassed(t, sum)
	require.Equal(t, seeds, sum.Seeds)
	// The campaign must have exercised what it claims to.
	require.Greater(t, sum.Ops, seeds*100, "client operations checked")
	require.Greater(t, sum.Acked, 0)
	require.Equal(t, seeds, sum.Verdicts["ok"], "every history linearizable")
	for _, kind := range []FaultKind{FaultPartitionHalves, FaultPartitionOneWay, FaultPartitionBridge,
		FaultIsolateLeader, FaultIsolateNode, FaultClog, FaultCrash, FaultPause, FaultDiverge, FaultHoldBack} {
		require.Greater(t, sum.Stats.Faults[kind], uint64(0), "fault %s injected", kind)
	}
	for _, c := range []counter{countLoss, countDuplicate, countReorder, countTail, countCrashPoint, countCrashPointEarly, countUnsyncedTorn,
		countMembership, countTransfer, countHeldBack, countTruncation, countLeaseRead} {
		require.Greater(t, sum.Stats.Counts[c], uint64(0), "%s", counterNames[c])
	}
	require.Greater(t, sum.Stats.Compactions, uint64(0))
	t.Logf("%d seeds × %v: %d ops, %d elections, %.0f virtual s in %.1f s (%.0fx)",
		sum.Seeds, duration, sum.Ops, sum.Stats.Elections, sum.SimTime.Seconds(), sum.WallTime.Seconds(), sum.Speedup())
}

// profiles are the fault profiles, other cluster sizes and lease modes that
// TestProfiles (key-value) and TestSessionsProfiles (service core) each run
// on a few seeds.
var profiles = []struct {
	name string
	cfg  Config
}{
	{"none", Config{Faults: FaultsNone}},
	{"light", Config{Faults: FaultsLight}},
	{"heavy", Config{Faults: FaultsHeavy}},
	{"three nodes", Config{Nodes: 3, Faults: FaultsSwarm}},
	{"one node", Config{Nodes: 1, Faults: FaultsSwarm}},
	{"seven nodes", Config{Nodes: 7, Faults: FaultsHeavy}},
	{"lease reads", Config{Faults: FaultsHeavy, Lease: LeaseAlways}},
	{"lease asked without CheckQuorum", Config{Faults: FaultsLight, Lease: LeaseWithoutCheckQuorum}},
	{"frequent snapshots", Config{Faults: FaultsHeavy, CompactEvery: 3}},
	{"PreVote off", Config{Faults: FaultsSwarm, Knobs: "no-prevote,membership,transfer"}},
	{"CheckQuorum off", Config{Faults: FaultsSwarm, Knobs: "no-checkquorum,membership,transfer"}},
	{"lease reads, PreVote off", Config{Faults: FaultsHeavy, Lease: LeaseAlways, Knobs: "no-prevote,transfer"}},
	{"lease reads, adversarial drift", Config{Faults: FaultsSwarm, Lease: LeaseAlways, Knobs: "adversarial-drift,transfer,membership"}},
	{"membership and transfers", Config{Faults: FaultsHeavy, Knobs: "membership,transfer"}},
	{"divergence and hold-back", Config{Faults: FaultsSwarm, Knobs: "diverge,holdback,transfer"}},
	{"crashes in snapshot installs", Config{Faults: FaultsHeavy, CompactEvery: 2, Knobs: "snapshot-crash"}},
}

// TestProfiles runs every profile on the key-value workload.
func TestProfiles(t *testing.T) {
	tests := profiles
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Duration = 15 * time.Second
			camp := Campaign{Base: tt.cfg, Seeds: seedRange(1, 6)}
			sum := camp.Run()
			requirePassed(t, sum)
			require.Greater(t, sum.Acked, 0, "writes acknowledged")
			require.Equal(t, 6, sum.Verdicts["ok"])
			if tt.cfg.Faults == FaultsNone {
				var faults uint64
				for _, c := range sum.Stats.FaultCounts() {
					faults += c.Count
				}
				require.Zero(t, faults, "profile none injects no fault")
			}
			if tt.cfg.Lease == LeaseWithoutCheckQuorum {
				require.Greater(t, sum.Stats.Counts[countConfigRefused], uint64(0), "raft refused lease reads without CheckQuorum")
			}
			if tt.cfg.Lease == LeaseAlways {
				require.Greater(t, sum.Stats.Counts[countLeaseRead], uint64(0), "lease reads checked against the quorum's promise")
			}
			requireKnobsExercised(t, tt.cfg.Knobs, sum)
		})
	}
}

// requireKnobsExercised checks that a campaign did what its knobs ask.
func requireKnobsExercised(t *testing.T, knobs string, sum Summary) {
	t.Helper()
	for knob, cs := range map[string][]counter{"membership": {countMembership}, "transfer": {countTransfer, countLateTimeoutNow}, "holdback": {countHeldBack},
		"snapshot-crash": {countCrashSnapshot}} {
		for _, c := range cs {
			if strings.Contains(knobs, knob) {
				require.Greater(t, sum.Stats.Counts[c], uint64(0), "%s: %s", knob, counterNames[c])
			}
		}
	}
	if strings.Contains(knobs, "diverge") {
		require.Greater(t, sum.Stats.Faults[FaultDiverge], uint64(0), "divergence faults")
		require.Greater(t, sum.Stats.TruncatedEntries, uint64(0), "divergent entries overwritten")
	}
}

// stuckWorkload never makes progress: the liveness phase must report it.
type stuckWorkload struct{ Workload }

func (stuckWorkload) ProgressSince(time.Duration) bool { return false }

func TestLivenessFailureIsReported(t *testing.T) {
	r := Run(Config{Seed: 1, Duration: 2 * time.Second, Faults: FaultsNone,
		NewWorkload: func(cfg *Config) Workload { return stuckWorkload{workloads["kv"](cfg)} }})
	require.Error(t, r.Err)
	require.Contains(t, r.Err.Error(), "no convergence")
	require.Equal(t, 2*time.Second+LivenessBound, r.FailedAt, "reported when the bound expires")
	require.Contains(t, r.Replay, "given by its caller")
}

// A seed whose linearizability check ran out of time is listed as
// undecided, not counted as a pass only.
func TestUndecidedSeedsAreListed(t *testing.T) {
	s := Summary{Verdicts: map[string]int{}, Hashes: map[uint64]uint64{}}
	s.add(&Result{Seed: 9, Workload: WorkloadReport{Verdict: "unknown"}})
	s.add(&Result{Seed: 4, Workload: WorkloadReport{Verdict: "ok"}})
	s.add(&Result{Seed: 2, Workload: WorkloadReport{Verdict: "unknown"}})
	s.add(&Result{Seed: 5, Err: errors.New("boom"), Workload: WorkloadReport{Verdict: "unknown"}})
	require.Equal(t, []uint64{9, 2}, s.Undecided, "a failed seed is a failure, not undecided")
	require.Equal(t, map[string]int{"ok": 1, "unknown": 3}, s.Verdicts)
	require.Len(t, s.Failures, 1)
}

func TestWorkloadNames(t *testing.T) {
	require.NoError(t, CheckWorkload(&Config{Workload: "kv"}))
	require.NoError(t, CheckWorkload(&Config{Workload: "sessions"}))
	err := CheckWorkload(&Config{Workload: "nonsense"})
	require.ErrorContains(t, err, `unknown workload "nonsense"`)
}

func TestReplayCommand(t *testing.T) {
	cmd := ReplayCommand(Config{Seed: 17, Nodes: 3, Duration: 30 * time.Second, Faults: FaultsHeavy, Lease: LeaseNever, CompactEvery: 5})
	require.Equal(t, "go run ./cmd/havensim -seed 17 -nodes 3 -duration 30s -faults heavy -workload kv -lease never -compact-every 5 -trace seed-17.trace -viz seed-17.html", cmd)
}

func TestHealedRunSettles(t *testing.T) {
	r := Run(Config{Seed: 3, Duration: 10 * time.Second, Faults: FaultsHeavy})
	require.NoError(t, r.Err)
	require.Greater(t, r.SimTime, 10*time.Second, "liveness and settling follow the fault phase")
	require.LessOrEqual(t, r.SimTime, 10*time.Second+2*LivenessBound)
	require.Greater(t, r.Workload.Ops, 100)
	require.Equal(t, "ok", r.Workload.Verdict)
}
