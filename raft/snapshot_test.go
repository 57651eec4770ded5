package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Paper tests for log compaction and InstallSnapshot (§7, Figure 13).

// TestCompact checks: "Each server takes snapshots independently, covering
// just the committed entries in its log." The snapshot records "the last
// included index ... and the last included term", and the configuration as
// of that index; the log before it is discarded.
// Reference: §7
func TestCompact(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 5 {
		c.propose(fmt.Sprintf("x%d", i))
	}
	l := c.leader()
	r := c.node(l)
	applied := r.log.applied
	term, _ := r.log.term(applied)

	_, err := r.Compact(applied+1, nil)
	require.ErrorIs(t, err, ErrUnavailable, "only applied entries can be captured")

	snap, err := r.Compact(applied-2, []byte("state"))
	require.NoError(t, err)
	require.Equal(t, applied-2, snap.Meta.Index)
	require.Equal(t, []NodeID{1, 2, 3}, snap.Meta.Conf.Voters)
	require.Equal(t, applied-1, r.log.firstIndex())
	require.Nil(t, r.Entries(1, applied-1), "compacted away")

	snap, err = r.Compact(applied, []byte("state"))
	require.NoError(t, err)
	require.Equal(t, SnapshotMeta{Index: applied, Term: term, Conf: ConfState{Voters: []NodeID{1, 2, 3}}}, snap.Meta)
	require.Equal(t, "state", string(snap.Data))
	require.Equal(t, applied, r.Status().SnapshotIndex)

	_, err = r.Compact(applied, nil)
	require.ErrorIs(t, err, ErrSnapshotTooOld)
	_, err = r.Compact(applied-1, nil)
	require.ErrorIs(t, err, ErrSnapshotTooOld)
}

// TestSnapshotHoldsTheConfigurationAtItsIndex checks that a snapshot
// records "the latest configuration as of the last included index", not a
// change appended after it: that one is not committed, and a leader change
// may still overwrite it, while a server restored from the snapshot would
// keep it.
// Reference: §5.1 (thesis), §4.1
func TestSnapshotHoldsTheConfigurationAtItsIndex(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	l := c.leader()
	r := c.node(l)
	applied := r.log.applied
	c.dropFn = func(Message) bool { return true } // the change stays uncommitted
	_, _, err := r.ProposeConfChange(ConfChange{Type: AddLearner, Node: 4, Context: []byte("n4")})
	require.NoError(t, err)
	c.process()
	require.Equal(t, []NodeID{4}, r.Status().Conf.Learners, "in force once appended")
	snap, err := r.Compact(applied, nil)
	require.NoError(t, err)
	require.Equal(t, []NodeID{1, 2, 3}, snap.Meta.Conf.Voters)
	require.Empty(t, snap.Meta.Conf.Learners, "the snapshot holds a change after its index")
}

// TestInstallSnapshotOnFarBehindFollower checks: "the leader must
// occasionally send snapshots to followers that lag behind. This happens
// when the leader has already discarded the next log entry that it needs to
// send to a follower." The follower installs it (Figure 13 rules 7 and 8),
// then catches up on the entries after it.
// Reference: §7
func TestInstallSnapshotOnFarBehindFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("a")
	l := c.leader()
	f := c.others(l)[0]
	c.crash(f)
	for i := range 10 {
		c.propose(fmt.Sprintf("b%d", i))
	}
	snap := c.compact(l)

	var installed []Ready
	c.onReady = func(id NodeID, rd Ready) {
		if id == f && rd.Snapshot != nil {
			installed = append(installed, rd)
		}
	}
	c.restart(f)
	c.tick(3)
	require.Len(t, installed, 1)
	require.Equal(t, snap.Meta, installed[0].Snapshot.Meta)
	require.Equal(t, snap.Data, installed[0].Snapshot.Data)
	require.True(t, installed[0].MustSync)
	require.Equal(t, snap.Meta.Index, c.node(f).Status().SnapshotIndex)
	require.Equal(t, snap.Meta.Index, c.node(f).Status().Applied)

	c.nodes[f].applied = nil // the state machine restarts from the snapshot
	c.propose("c")
	c.tick(2)
	require.Equal(t, []string{"c"}, appliedData(c.nodes[f]), "after the snapshot, the log")
	require.Equal(t, c.node(l).log.committed, c.node(f).log.committed)

	// The follower restarts from its stored snapshot and the entries after.
	c.crash(f)
	c.restart(f)
	require.Equal(t, snap.Meta.Index, c.node(f).Status().SnapshotIndex)
	require.Equal(t, c.node(l).log.lastIndex(), c.node(f).log.lastIndex())
}

// TestSnapshotRule6KeepsFollowingEntries checks Figure 13, receiver rule 6:
// "If existing log entry has same index and term as snapshot's last
// included entry, retain log entries following it and reply." — "If
// instead the follower receives a snapshot that describes a prefix of its
// log (due to retransmission or by mistake), then log entries covered by
// the snapshot are deleted but entries following the snapshot are still
// valid and must be retained." The reply vouches only for the snapshot: the
// entries after it may be a deposed leader's.
// Reference: §7
func TestSnapshotRule6KeepsFollowingEntries(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 4, logOf(1, 2, 3, 3), nil)
	drain(r)
	step(t, r, Message{From: 1, Type: MsgSnap, Term: 4, Snapshot: &Snapshot{
		Meta: SnapshotMeta{Index: 2, Term: 2, Conf: ConfState{Voters: []NodeID{1, 2, 3}}},
	}})
	require.Equal(t, []uint64{1, 2, 3, 3}, termsOf(r), "entries after the snapshot are kept")
	require.Equal(t, uint64(2), r.log.committed)
	rd := readyOnce(r)
	require.Nil(t, rd.Snapshot, "nothing to install: the log already holds it")
	resps := ofType(rd.Messages, MsgAppResp)
	require.Len(t, resps, 1)
	require.False(t, resps[0].Reject)
	require.Equal(t, uint64(2), resps[0].Index, "the leader may count on index 2, not on the term-3 entries")
}

// TestSnapshotRule6ReplyDoesNotCommitForeignEntries shows why the reply of
// rule 6 must name the snapshot's index: the leader counts a follower that
// acknowledges index i as holding the leader's entries through i (Figure 2,
// matchIndex). Counting the follower's own, conflicting entries would let
// the leader commit an entry a majority does not hold.
// Reference: §7, §5.3
func TestSnapshotRule6ReplyDoesNotCommitForeignEntries(t *testing.T) {
	voters := []NodeID{1, 2, 3}
	leader := newTestRaft(t, 1, voters, 3, logOf(1, 2), nil)
	leader.log.committed = 2
	drain(leader)
	_, err := leader.Compact(2, nil)
	require.NoError(t, err)
	makeLeader(t, leader)
	_, _, err = leader.Propose([]byte("x"))
	require.NoError(t, err)
	drain(leader)
	require.Equal(t, []uint64{4, 4}, termsOf(leader)) // indexes 3 and 4

	// Follower 2 holds a deposed leader's entries 3 and 4 from term 3.
	follower := newTestRaft(t, 2, voters, 4, logOf(1, 2, 3, 3), nil)
	drain(follower)
	leader.sendSnapshot(2, leader.progress.get(2))
	pump(t, map[NodeID]*Raft{1: leader, 2: follower}, drain(leader))

	require.Equal(t, termsOf(leader), termsOf(follower)[2:], "the follower ends with the leader's entries")
	if leader.log.committed >= 3 {
		for i := uint64(3); i <= leader.log.committed; i++ {
			require.True(t, follower.log.matchTerm(i, 4), "index %d committed by counting a follower that lacked it", i)
		}
	}
}

// TestSnapshotRule7DiscardsLog checks Figure 13, receiver rules 7 and 8:
// "Discard the entire log" and "Reset state machine using snapshot contents
// (and load snapshot's cluster configuration)" — "Usually the snapshot will
// contain new information not already in the recipient's log. In this
// case, the follower discards its entire log; it is all superseded by the
// snapshot and may possibly have uncommitted entries that conflict with the
// snapshot." That includes a log whose entry at the snapshot's last index
// has another term: nothing of it may survive, not even the entries after.
// Reference: §7
func TestSnapshotRule7DiscardsLog(t *testing.T) {
	tests := []struct {
		name string
		log  []uint64
	}{
		{"conflict at the last index", []uint64{1, 2, 2, 2, 2, 2}},
		{"log shorter than the snapshot", []uint64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 4, logOf(tt.log...), nil)
			drain(r)
			snap := &Snapshot{
				Meta: SnapshotMeta{Index: 4, Term: 3, Conf: ConfState{Voters: []NodeID{1, 2, 3, 4}}},
				Data: []byte("image"),
			}
			step(t, r, Message{From: 1, Type: MsgSnap, Term: 4, Snapshot: snap})
			require.Empty(t, r.log.entries, "the whole log is gone")
			require.Equal(t, uint64(4), r.log.lastIndex())
			require.Equal(t, uint64(3), r.log.lastTerm())
			require.Equal(t, uint64(4), r.log.committed)
			require.Equal(t, []NodeID{1, 2, 3, 4}, r.conf.voters, "the snapshot's configuration is loaded")

			rd := readyOnce(r)
			require.NotNil(t, rd.Snapshot)
			require.Equal(t, snap.Meta, rd.Snapshot.Meta)
			require.True(t, rd.MustSync)
			require.Empty(t, rd.CommittedEntries, "the state machine is reset from the snapshot, not the log")
			resps := ofType(rd.Messages, MsgAppResp)
			require.Len(t, resps, 1)
			require.Equal(t, uint64(4), resps[0].Index)
			require.Equal(t, uint64(4), r.log.applied, "installed once the host advanced")
		})
	}
}

// TestSnapshotAlreadyCovered checks that a snapshot the follower already
// has (its commit index is at or past it: a retransmission) changes
// nothing and is answered with the commit index.
// Reference: §7
func TestSnapshotAlreadyCovered(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 4, logOf(1, 2, 3, 4), nil)
	r.log.committed = 3
	drain(r)
	step(t, r, Message{From: 1, Type: MsgSnap, Term: 4, Snapshot: &Snapshot{Meta: SnapshotMeta{Index: 2, Term: 2}}})
	require.Equal(t, []uint64{1, 2, 3, 4}, termsOf(r))
	rd := readyOnce(r)
	require.Nil(t, rd.Snapshot)
	require.Equal(t, uint64(3), ofType(rd.Messages, MsgAppResp)[0].Index)
}

// TestLostSnapshotIsResent checks that a follower whose snapshot (or its
// acknowledgement) was lost still catches up: "the leader must occasionally
// send snapshots to followers that lag behind", and a lost one must not
// leave the leader waiting forever for an answer.
// Reference: §7
func TestLostSnapshotIsResent(t *testing.T) {
	for _, lost := range []MessageType{MsgSnap, MsgAppResp} {
		t.Run(lost.String(), func(t *testing.T) {
			c := newCluster(t, 3, nil)
			c.propose("a")
			l := c.leader()
			f := c.others(l)[0]
			c.crash(f)
			for i := range 5 {
				c.propose(fmt.Sprintf("b%d", i))
			}
			c.compact(l)
			c.restart(f)
			dropped := false
			c.dropFn = func(m Message) bool {
				hit := !dropped && m.Type == lost &&
					(lost == MsgSnap || (m.From == f && c.node(f).Status().SnapshotIndex > 0))
				if hit {
					dropped = true
				}
				return hit
			}
			c.tick(3 * 10)
			require.True(t, dropped)
			require.Equal(t, c.node(l).log.committed, c.node(f).log.committed, "the follower caught up")
			require.Equal(t, "Replicate", c.node(l).Status().Peers[f-1].State)
		})
	}
}

// snapshotSends restarts follower f of a cluster whose leader compacted
// past it, right before the leader's election-timeout boundary, loses
// every snapshot to f (as if each were still in flight), and returns the
// leader's tick at each snapshot it sent to f over the given ticks.
func snapshotSends(t *testing.T, c *cluster, ticks int, report func(l, f NodeID)) (sends []uint64, l NodeID) {
	t.Helper()
	c.propose("a")
	l = c.leader()
	f := c.others(l)[0]
	c.crash(f)
	for i := range 5 {
		c.propose(fmt.Sprintf("b%d", i))
	}
	c.compact(l)
	for c.node(l).electionElapsed != c.node(l).cfg.ElectionTicks-2 {
		c.tick(1)
	}
	c.restart(f)
	c.dropFn = func(m Message) bool { return m.Type == MsgSnap && m.To == f }
	c.onReady = func(id NodeID, rd Ready) {
		if id != l {
			return
		}
		for _, m := range rd.Messages {
			if m.Type == MsgSnap && m.To == f {
				sends = append(sends, c.node(l).ticks)
				if report != nil {
					report(l, f)
				}
			}
		}
	}
	c.tick(ticks)
	require.Equal(t, l, c.leader())
	return sends, l
}

// TestSnapshotInFlightTimedFromSend: a snapshot not acknowledged within an
// election timeout is taken as lost and sent again — an election timeout
// after it was sent, not at the next boundary of the leader's election
// timer, which may come a tick later and would send a large snapshot twice
// while the first is still on its way.
// Reference: §7
func TestSnapshotInFlightTimedFromSend(t *testing.T) {
	c := newCluster(t, 3, nil)
	sends, l := snapshotSends(t, c, 4*10, nil)
	require.GreaterOrEqual(t, len(sends), 2, "a lost snapshot is sent again")
	for i := 1; i < len(sends); i++ {
		require.GreaterOrEqual(t, sends[i]-sends[i-1], uint64(c.node(l).cfg.ElectionTicks),
			"snapshot sent again %d ticks after the last one (sends at %v)", sends[i]-sends[i-1], sends)
	}
}

// TestReportSnapshotFailure: a host that knows a snapshot did not get
// through (its transport failed) says so, and the leader tries again at
// the next heartbeat instead of waiting out the election timeout.
// Reference: §7
func TestReportSnapshotFailure(t *testing.T) {
	c := newCluster(t, 3, nil)
	var reported []NodeID
	sends, _ := snapshotSends(t, c, 10, func(l, f NodeID) { reported = append(reported, f) })
	require.NotEmpty(t, reported)
	require.Equal(t, 1, len(sends), "no report yet: one send")

	c = newCluster(t, 3, nil)
	sends, _ = snapshotSends(t, c, 10, func(l, f NodeID) { reportSnapshotFailure(c.node(l), f) })
	require.GreaterOrEqual(t, len(sends), 3, "each failure reported is retried at the next heartbeat")
	for i := 1; i < len(sends); i++ {
		require.LessOrEqual(t, sends[i]-sends[i-1], uint64(2), "sends at %v", sends)
	}
}

func reportSnapshotFailure(r *Raft, f NodeID) { r.ReportSnapshot(f, false) }
