package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
)

// startedWorld is a world of n nodes without faults, started and run until
// every node has committed something past the bootstrap and written a
// commit-only save after it (which the WAL leaves unsynced).
func startedWorld(t *testing.T, n int) *World {
	t.Helper()
	cfg := Config{Nodes: n, Seed: 1, Duration: 10 * time.Second, Faults: FaultsNone}
	cfg.setDefaults()
	w, err := newWorld(cfg)
	require.NoError(t, err)
	w.start()
	for w.failure == nil && w.now < 5*time.Second {
		ev := w.queue.pop()
		w.now = ev.at
		w.dispatch(ev)
		if w.failure == nil {
			w.afterEvent(&ev)
		}
	}
	require.NoError(t, w.failure)
	for _, n := range w.nodes {
		require.Greater(t, n.disk.written.lastIndex(), uint64(len(w.nodes)), "n%d wrote entries", n.id)
	}
	return w
}

// A removed node that comes back under a new id is a new server: it starts
// from an empty disk and learns everything from the leader. The old
// server's WAL, and the commit-only saves it left unsynced when it shut
// down without a crash, must not come back with it: the host would take
// what it read of them for durable, and a later crash, rightly losing
// them, would look like the WAL losing what was synced (the WAL recovered
// a commit index below the durable one).
func TestJoinStartsFromAnEmptyDisk(t *testing.T) {
	w := startedWorld(t, 3)
	n := w.nodes[1]
	old := n.id
	w.retire(n, old)
	require.True(t, n.retired)
	n.join(old + raft.NodeID(len(w.nodes)))
	require.NoError(t, w.failure)
	require.True(t, n.up)
	require.Zero(t, n.disk.written.lastIndex(), "the new server's log")
	require.Zero(t, n.disk.durable.hard, "the new server's hard state")
	require.Zero(t, n.app.raftCore().Status().LastIndex, "what raft restored")
}

// The host takes what the WAL recovers for durable, which only a crash (or
// a new disk) makes true: opening the WAL again on a disk that still holds
// unsynced writes is the host's own mistake, and an error.
func TestOpenWALNeedsACrashFirst(t *testing.T) {
	w := startedWorld(t, 3)
	n := w.nodes[0]
	require.True(t, n.fs.Unsynced(), "a running node's last commit-only save is unsynced")
	_, ok, err := n.openWAL()
	require.False(t, ok)
	require.ErrorContains(t, err, "unsynced")
}

// Damage to a disk is allowed only while every configuration that may be
// in force has three voters or more, whoever leads. With no current leader
// (the leader crashing is when a bit flips), a node that holds a
// configuration of two voters forbids it: losing either of them would
// leave the cluster unable to elect again.
func TestDamageNeedsThreeVotersInEveryConfiguration(t *testing.T) {
	w := startedWorld(t, 3)
	require.True(t, w.nodes[0].damageAllowed(), "three voters, all healthy")

	for _, n := range w.nodes {
		if n.soft.State == raft.StateLeader {
			w.crash(n, time.Second)
		}
	}
	require.Nil(t, w.currentLeader())
	require.True(t, w.nodes[0].damageAllowed(), "no leader, three voters everywhere")

	w.nodes[2].direct.voters = []raft.NodeID{1, 2}
	require.False(t, w.nodes[0].damageAllowed(), "n3 holds a configuration of two voters")

	w.nodes[2].direct.voters = []raft.NodeID{1, 2, 3}
	w.nodes[2].direct.prevVoters = []raft.NodeID{1, 2}
	require.False(t, w.nodes[0].damageAllowed(), "a crash may bring n3's configuration of two voters back")
}
