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
