package raft

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStatusSortsPeersByID checks that Status lists the leader's peers in
// id order for every id, including ids beyond the range of int, which a
// comparison by subtraction gets wrong (issue 7, item 12).
func TestStatusSortsPeersByID(t *testing.T) {
	big := NodeID(3 << 62) // negative as an int
	r := newTestRaft(t, 1, []NodeID{1, 2, big}, 1, logOf(1), nil)
	makeLeader(t, r)
	var ids []NodeID
	for _, p := range r.Status().Peers {
		ids = append(ids, p.ID)
	}
	require.Len(t, ids, 3)
	require.True(t, slices.IsSorted(ids), "peers out of order: %v", ids)
}

// TestNewRefusesBadRestoredEntries checks that entries read back from
// storage that cannot be a log — not starting right after the snapshot (or
// at 1 without one), with gaps, or with terms that go back — are refused
// with an error, never a panic: storage is outside input (issue 7, item
// 12).
// Reference: §5.3 (Log Matching)
func TestNewRefusesBadRestoredEntries(t *testing.T) {
	snap := &Snapshot{Meta: SnapshotMeta{Index: 5, Term: 2, Conf: ConfState{Voters: []NodeID{1}}}}
	for _, tt := range []struct {
		name     string
		restored RestoredState
	}{
		{"no snapshot, first entry not 1", RestoredState{HardState: HardState{Term: 3}, Entries: []Entry{{Term: 1, Index: 4}}}},
		{"after snapshot, gap", RestoredState{HardState: HardState{Term: 3}, Snapshot: snap, Entries: []Entry{{Term: 2, Index: 7}}}},
		{"indexes not consecutive", RestoredState{HardState: HardState{Term: 3}, Entries: []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 3}}}},
		{"term goes back", RestoredState{HardState: HardState{Term: 3}, Entries: []Entry{{Term: 2, Index: 1}, {Term: 1, Index: 2}}}},
		{"term below snapshot's", RestoredState{HardState: HardState{Term: 3}, Snapshot: snap, Entries: []Entry{{Term: 1, Index: 6}}}},
		{"term beyond hard state", RestoredState{HardState: HardState{Term: 1}, Entries: []Entry{{Term: 2, Index: 1}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { _, err = New(plainConfig(1), tt.restored) })
			require.Error(t, err)
		})
	}
}

// TestCheapAccessorsAgreeWithStatus checks the allocation-free accessors a
// host calls after every step against Status, on a follower and on a
// leader that has heard from one peer, and that with room in the buffers
// they allocate nothing.
func TestCheapAccessorsAgreeWithStatus(t *testing.T) {
	big := NodeID(3 << 62)
	r := newTestRaft(t, 1, []NodeID{1, 2, big}, 1, logOf(1), nil)
	require.Empty(t, r.AppendPeerMatches(nil), "a follower has no view of its peers")
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: r.log.lastIndex()})
	drain(r)
	st := r.Status()
	var want []PeerMatch
	for _, p := range st.Peers {
		want = append(want, PeerMatch{ID: p.ID, Match: p.Match})
	}
	require.Equal(t, want, r.AppendPeerMatches(nil))
	require.NotZero(t, want[1].Match, "peer 2's match was learned")
	require.Equal(t, st.Conf.Voters, r.AppendVoters(nil))
	require.Equal(t, st.Vote, r.Vote())
	require.True(t, r.IsMember(big))
	require.False(t, r.IsMember(4))

	peers := make([]PeerMatch, 0, 8)
	voters := make([]NodeID, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		peers = r.AppendPeerMatches(peers[:0])
		voters = r.AppendVoters(voters[:0])
	})
	require.Zero(t, allocs)
}

// TestSendsDuringAReadyReuseBuffers checks that a host that steps messages
// while the last Ready is still being carried out (waiting for its fsync)
// gets its message buffers back at Advance: in steady state such sends
// allocate nothing.
func TestSendsDuringAReadyReuseBuffers(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	hb := Message{From: 1, To: 2, Type: MsgHeartbeat, Term: r.term, Commit: r.log.committed}
	var errs []error
	sent := 0
	cycle := func() {
		errs = append(errs[:0], r.Step(hb)) // answered in the next Ready
		sent += len(r.Ready().Messages)
		errs = append(errs, r.Step(hb)) // answered while that Ready is out
		r.Advance()
		sent += len(r.Ready().Messages) // that answer, at once
		r.Advance()
	}
	for range 3 {
		cycle()
	}
	allocs := testing.AllocsPerRun(100, cycle)
	require.Equal(t, []error{nil, nil}, errs)
	// One answer per heartbeat (AllocsPerRun runs the cycle once more than
	// asked).
	require.Equal(t, 2*(3+101), sent)
	require.Zero(t, allocs)
}
