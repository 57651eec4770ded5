package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"

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
// majority of the others. TestFaultSchedules once found a run where n4
// acknowledged index 29, was wiped, and n1's acknowledgment then completed
// the leader's quorum (n1, n3, n4); the check counted only n1 and n3. The
// run's schedule no longer leads there since the hosts send a leader's
// appends before its fsync, so the check is held to the case directly.
func TestAWipedMembersAcknowledgmentsStillCount(t *testing.T) {
	w := checkWorld(t)
	a, b, c := w.nodes[0], w.nodes[1], w.nodes[2]
	give(t, w, a, 2, 1, 3, 'a')
	give(t, w, b, 2, 1, 3, 'a')
	a.direct.voters = []raft.NodeID{a.id, b.id, c.id}
	require.NoError(t, w.check.commitQuorum(a, 3), "a and b hold 3")

	require.False(t, b.up, "b is down (checkWorld starts no node)")
	b.wipeDisk()
	require.NoError(t, w.check.commitQuorum(a, 3), "b, wiped and down for good, counts with the log it held")

	b.up = true // as if it had come back: an empty disk holds nothing
	require.ErrorContains(t, w.check.commitQuorum(a, 3), "commit quorum violated")
}

// A learner whose disk is lost to the run is never promoted: promoted, it
// would be a voter that can never acknowledge again, and the world makes no
// configuration that cannot elect a leader or commit again (quorumSurvives
// says the same of removals). Kv swarm seed 20652 once promoted n9, a
// learner whose WAL had refused its damaged disk 14 s before, when n3 was
// the only voter: voters {n3, n9} could never commit the change, every
// later change was refused as one already in progress, and the run failed
// "no convergence" after healing. That seed's run no longer leads there
// since the hosts send a leader's appends before its fsync, so the rule is
// held to the case directly.
func TestALearnerWithALostDiskIsNotPromoted(t *testing.T) {
	w := checkWorld(t)
	a, b, c := w.nodes[0], w.nodes[1], w.nodes[2]
	learners := []raft.NodeID{b.id, c.id}
	require.Equal(t, learners, w.promotable(learners), "healthy learners")

	c.diskFailed = true // its WAL refused its damaged disk
	require.Equal(t, []raft.NodeID{b.id}, w.promotable(learners))
	b.wipeDisk()
	require.Empty(t, w.promotable(learners))

	// A learner that lives in a slot now held by another server (it left
	// and the slot's node joined under a new id) is not the slot's disk.
	a.diskFailed = true
	a.id += raft.NodeID(len(w.nodes))
	require.Equal(t, []raft.NodeID{1}, w.promotable([]raft.NodeID{1}))
}
