package sim

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/sim/simfs"
)

// With the damaging faults frequent, the WAL must refuse every damaged disk
// it cannot read truthfully, and never return wrong data: the runs pass
// (every check on), disks fail, and the nodes left settle without them.
func TestDamagedDisksFailAndTheRunGoesOn(t *testing.T) {
	saved := diskFaults
	diskFaults = simfs.Faults{FlipPerCrash: 0.5, MisdirectPerWrite: 1e-3}
	defer func() { diskFaults = saved }()
	camp := Campaign{
		Base:  Config{Nodes: 5, Duration: 20 * time.Second, Faults: FaultsSwarm},
		Seeds: seedRange(1, 12),
	}
	sum := camp.Run()
	requirePassed(t, sum)
	require.Positive(t, sum.Stats.Counts[countDiskFlip], "bits flipped")
	require.Positive(t, sum.Stats.Counts[countDiskMisdirect], "writes misdirected")
	require.Positive(t, sum.Stats.Counts[countDiskFailed], "damaged disks refused")
}

// A wiped member stays down for good, so the entries it acknowledged before
// its disk was emptied count towards a commit as a permanently crashed
// member's would: no election can go ahead without it, and so without a
// majority of the others. TestFaultSchedules found the run below: n4
// acknowledges index 29, is wiped, and n1's acknowledgment then completes
// the leader's quorum (n1, n3, n4); the check once counted only n1 and n3.
func TestAWipedMembersAcknowledgmentsStillCount(t *testing.T) {
	params := calmParams()
	params.Loss, params.FsyncMean, params.FaultLength, params.HotKeys = 0.02, 5*time.Millisecond, 100*time.Millisecond, 0.5
	params.MaxMsgBytes = 1 << 20
	var trace strings.Builder
	r := Run(Config{Seed: 0x23, Nodes: 5, Duration: 2 * time.Second, Params: &params, Trace: &trace,
		Schedule: []Fault{
			{At: 0, Kind: FaultPause, Length: 10 * time.Millisecond},
			{At: 57, Kind: FaultHoldBack, Length: 10896470, Nodes: 0x1d, Pick: 0x15},
			{At: 489, Kind: FaultCrashLeader, Length: 10028978, Nodes: 0x6, Pick: 0x3e37affc},
			{At: 102243170, Kind: FaultIsolateLeader, Length: 10026639, Nodes: 0x2, Pick: 0x35c14f},
			{At: 1037662666, Kind: FaultWipe, Length: 10 * time.Millisecond, Nodes: 0x18},
		}})
	require.NoError(t, r.Err)
	// The scenario still happens: n4 is wiped right after acknowledging
	// index 29, which the leader commits afterwards.
	tr := trace.String()
	acked := strings.Index(tr, "deliver MsgAppResp n4->n3 term=2 index=29")
	wiped := strings.Index(tr, "fault: wipe n4's disk")
	committed := regexp.MustCompile(`n3->n\d+ term=2 .*commit=29\b`).FindStringIndex(tr)
	require.Positive(t, acked, "n4 acknowledges 29")
	require.Greater(t, wiped, acked, "n4 is wiped after acknowledging 29")
	require.NotNil(t, committed, "the leader announces commit 29")
	require.Greater(t, committed[0], wiped, "29 commits only after n4 was wiped, with its acknowledgment")
	require.Equal(t, uint64(1), r.Stats.Faults[FaultWipe])
}

// A learner whose disk is lost to the run is never promoted: promoted, it
// would be a voter that can never acknowledge again, and the world makes no
// configuration that cannot elect a leader or commit again (quorumSurvives
// says the same of removals). Kv swarm seed 20652 once promoted n9, a
// learner whose WAL had refused its damaged disk 14 s before, when n3 was
// the only voter: voters {n3, n9} could never commit the change, every
// later change was refused as one already in progress, and the run failed
// "no convergence" after healing.
func TestALearnerWithALostDiskIsNotPromoted(t *testing.T) {
	var trace strings.Builder
	r := Run(Config{Seed: 20652, Nodes: 5, Duration: 60 * time.Second, Faults: FaultsSwarm, Trace: &trace})
	require.NoError(t, r.Err)
	// The scenario still happens: n9 joins as a learner and its disk fails.
	require.Contains(t, trace.String(), "n9 joins with an empty disk")
	require.Contains(t, trace.String(), "n9: its WAL refuses its damaged disk")
	require.NotContains(t, trace.String(), "proposes to promote n9")
}
