package sim

import (
	"testing"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/stretchr/testify/require"
)

// checkWorld is a world whose nodes are not running: the tests write their
// logs by hand and call the checks directly.
func checkWorld(t *testing.T) *World {
	w, err := newWorld(Config{Nodes: 3, Duration: time.Second, Faults: FaultsNone, Workload: "kv"})
	require.NoError(t, err)
	return w
}

// give writes entries of term into node n's disk, synced, and registers them
// with the Log Matching check.
func give(t *testing.T, w *World, n *node, term uint64, first, last uint64, data byte) {
	prev, ok := n.disk.written.chainAt(first - 1)
	require.True(t, ok)
	g := writeGroup{hasTermVote: true, term: term}
	for i := first; i <= last; i++ {
		e := raft.Entry{Term: term, Index: i, Data: []byte{data}}
		prev = chainHash(prev, &e)
		g.entries = append(g.entries, storedEntry{Entry: e, chain: prev})
	}
	for i := range g.entries {
		_ = w.check.entryWritten(n, &g.entries[i])
	}
	require.NoError(t, n.disk.write(g))
	require.NoError(t, n.disk.sync())
	n.term = term
}

func TestCheckerCatches(t *testing.T) {
	t.Run("two leaders in a term", func(t *testing.T) {
		w := checkWorld(t)
		a, b := w.nodes[0], w.nodes[1]
		a.term, b.term = 4, 4
		require.NoError(t, w.check.leaderElected(a))
		require.ErrorContains(t, w.check.leaderElected(b), "Election Safety")
	})
	t.Run("log matching", func(t *testing.T) {
		w := checkWorld(t)
		give(t, w, w.nodes[0], 1, 1, 3, 'a')
		// Same last entry (index 3, term 1) after a different history.
		v := &w.nodes[1].disk.written
		var prev uint64
		for i := uint64(1); i <= 3; i++ {
			data := byte('a')
			if i == 2 {
				data = 'b'
			}
			e := raft.Entry{Term: 1, Index: i, Data: []byte{data}}
			prev = chainHash(prev, &e)
			se := storedEntry{Entry: e, chain: prev}
			err := w.check.entryWritten(w.nodes[1], &se)
			if i < 2 {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, "Log Matching")
			}
			v.entries = append(v.entries, se)
		}
	})
	t.Run("committed entries differ", func(t *testing.T) {
		w := checkWorld(t)
		a, b := w.nodes[0], w.nodes[1]
		give(t, w, a, 1, 1, 3, 'a')
		give(t, w, b, 2, 1, 3, 'b')
		require.NoError(t, w.check.committed(a, 3))
		require.Equal(t, uint64(3), w.CommittedIndex())
		require.ErrorContains(t, w.check.committed(b, 2), "State Machine Safety")
	})
	t.Run("leader without a committed entry", func(t *testing.T) {
		w := checkWorld(t)
		a, b := w.nodes[0], w.nodes[1]
		give(t, w, a, 1, 1, 4, 'a')
		give(t, w, b, 1, 1, 2, 'a')
		require.NoError(t, w.check.committed(a, 4))
		w.check.ackedAt[3] = 1
		b.term = 2
		require.ErrorContains(t, w.check.leaderElected(b), "without the acknowledged write at index 3")
		a.term = 3
		require.NoError(t, w.check.leaderElected(a))
	})
	t.Run("a leader seen late owes only what earlier terms committed", func(t *testing.T) {
		w := checkWorld(t)
		a, b, c := w.nodes[0], w.nodes[1], w.nodes[2]
		give(t, w, a, 1, 1, 2, 'a')
		give(t, w, b, 1, 1, 2, 'a')
		require.NoError(t, w.check.committed(a, 2))
		give(t, w, c, 1, 1, 2, 'a')
		give(t, w, c, 3, 3, 3, 'c')
		require.NoError(t, w.check.committed(c, 3))
		// b won term 2 by votes that arrived after term 3 committed entry 3.
		b.term = 2
		require.NoError(t, w.check.leaderElected(b))
		// A leader of term 4 owes entry 3.
		b.term = 4
		require.ErrorContains(t, w.check.leaderElected(b), "index 3 (term 3, committed by term 3)")
	})
	t.Run("leader commits an old term's entry", func(t *testing.T) {
		w := checkWorld(t)
		a := w.nodes[0]
		give(t, w, a, 1, 1, 2, 'a')
		give(t, w, a, 3, 3, 3, 'a')
		require.ErrorContains(t, w.check.leaderCommit(a, 2, 3), "§5.4.2")
		require.NoError(t, w.check.leaderCommit(a, 3, 3))
	})
	t.Run("apply", func(t *testing.T) {
		w := checkWorld(t)
		a := w.nodes[0]
		give(t, w, a, 1, 1, 3, 'a')
		a.commit = 2
		require.NoError(t, w.check.committed(a, 2))
		e3 := a.disk.written.entryAt(3).Entry
		require.ErrorContains(t, w.check.apply(a, &e3), "out of order")
		a.applied = 2
		require.ErrorContains(t, w.check.apply(a, &e3), "beyond its commit index")
		e2 := a.disk.written.entryAt(2).Entry
		a.applied = 1
		require.NoError(t, w.check.apply(a, &e2))
		e2.Term = 9
		require.ErrorContains(t, w.check.apply(a, &e2), "State Machine Safety")
	})
	t.Run("votes", func(t *testing.T) {
		w := checkWorld(t)
		a := w.nodes[0]
		a.disk.durable.hard = raft.HardState{Term: 5, Vote: 2}
		grant := func(to raft.NodeID, term uint64) error {
			return w.check.beforeSend(a, &raft.Message{Type: raft.MsgVoteResp, From: 1, To: to, Term: term})
		}
		require.NoError(t, grant(2, 5))
		require.ErrorContains(t, grant(3, 5), "after voting for 2")
		require.ErrorContains(t, grant(3, 6), "before the vote is durable")
		require.NoError(t, w.check.beforeSend(a, &raft.Message{Type: raft.MsgVoteResp, To: 3, Term: 5, Reject: true}))
	})
	t.Run("acknowledgment before durability", func(t *testing.T) {
		w := checkWorld(t)
		a := w.nodes[0]
		give(t, w, a, 2, 1, 3, 'a')
		ack := func(index, term uint64) error {
			return w.check.beforeSend(a, &raft.Message{Type: raft.MsgAppResp, To: 2, Term: term, Index: index})
		}
		require.NoError(t, ack(3, 2))
		require.ErrorContains(t, ack(4, 2), "before they are durable")
		require.NoError(t, ack(4, 1), "a late answer of an earlier term")
	})
	t.Run("early messages", func(t *testing.T) {
		w := checkWorld(t)
		a := w.nodes[0] // id 1
		a.disk.durable.hard = raft.HardState{Term: 5, Vote: 1}
		early := func(typ raft.MessageType, term uint64) error {
			return w.check.earlySend(a, &raft.Message{Type: typ, From: 1, To: 2, Term: term})
		}
		require.NoError(t, early(raft.MsgApp, 5))
		require.NoError(t, early(raft.MsgHeartbeat, 5))
		require.NoError(t, early(raft.MsgSnap, 5))
		require.ErrorContains(t, early(raft.MsgAppResp, 5), "only a leader's appends")
		require.ErrorContains(t, early(raft.MsgVoteResp, 5), "only a leader's appends")
		require.ErrorContains(t, early(raft.MsgApp, 6), "durable term is 5")
		require.ErrorContains(t, early(raft.MsgHeartbeat, 4), "durable term is 5")
		a.disk.durable.hard = raft.HardState{Term: 5, Vote: 2}
		require.ErrorContains(t, early(raft.MsgApp, 5), "with vote 2")
		a.disk.durable.hard = raft.HardState{Term: 5}
		require.ErrorContains(t, early(raft.MsgApp, 5), "with vote 0")
	})
	t.Run("snapshots of one index differ", func(t *testing.T) {
		w := checkWorld(t)
		require.NoError(t, w.check.snapshotState(w.nodes[0], 10, 111))
		require.NoError(t, w.check.snapshotState(w.nodes[1], 10, 111))
		require.ErrorContains(t, w.check.snapshotState(w.nodes[2], 10, 222), "state machine bug")
	})
	t.Run("acknowledged write not committed", func(t *testing.T) {
		w := checkWorld(t)
		a := w.nodes[0]
		give(t, w, a, 1, 1, 2, 'a')
		require.NoError(t, w.check.committed(a, 2))
		require.NoError(t, w.check.acked(2, 1))
		require.ErrorContains(t, w.check.acked(2, 2), "not in the committed log")
		require.ErrorContains(t, w.check.acked(3, 1), "not in the committed log")
	})
	t.Run("snapshot resent", func(t *testing.T) {
		w := checkWorld(t)
		a := w.nodes[0]
		a.hostChecks.reset(len(w.nodes))
		snap := func(index uint64) *raft.Message {
			return &raft.Message{Type: raft.MsgSnap, From: 1, To: 2, Term: 6,
				Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: index, Term: 6}}}
		}
		ack := func(index uint64) {
			w.check.snapshotAcked(a, &raft.Message{Type: raft.MsgAppResp, From: 2, To: 1, Term: 6, Index: index})
		}
		ready := func(ticks uint64) { a.hostChecks.ticks = ticks; a.readyTaken() }
		ready(99)
		ready(100)
		require.NoError(t, w.check.snapshotResend(a, snap(928)))
		ready(101)
		require.ErrorContains(t, w.check.snapshotResend(a, snap(956)), "snapshot resend too early")
		ack(990)
		ready(102)
		require.NoError(t, w.check.snapshotResend(a, snap(1000)), "the one before was acknowledged")
		// Seed 13036: the follower acknowledged entries through 929 by
		// appends while the snapshot at 928, made before those answers,
		// still waited for the host's next Ready. Its answers cover the
		// snapshot even though the host sent it after them.
		w = checkWorld(t)
		a = w.nodes[0]
		a.hostChecks.reset(len(w.nodes))
		ready(5809)
		ready(5810)
		ack(928)
		ack(929)
		ready(5812)
		require.NoError(t, w.check.snapshotResend(a, snap(928)))
		require.NoError(t, w.check.snapshotResend(a, snap(956)), "the snapshot at 928 was acknowledged before it went out")
		ack(940)
		require.ErrorContains(t, w.check.snapshotResend(a, snap(960)), "snapshot resend too early")
	})
}
