package sim

import (
	"fmt"
	"testing"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/raft/wal"
	"github.com/stretchr/testify/require"
)

func entries(term uint64, first, last uint64) []storedEntry {
	var out []storedEntry
	prev := uint64(0)
	for i := first; i <= last; i++ {
		e := raft.Entry{Term: term, Index: i, Data: []byte{byte(i)}}
		prev = chainHash(prev, &e)
		out = append(out, storedEntry{Entry: e, chain: prev})
	}
	return out
}

func TestDiskCompactAndSnapshot(t *testing.T) {
	var d disk
	require.NoError(t, d.write(writeGroup{hasTermVote: true, term: 1, entries: entries(1, 1, 10), hasCommit: true, commit: 8}))
	require.NoError(t, d.sync())
	chain, ok := d.written.chainAt(6)
	require.True(t, ok)
	snap := raft.Snapshot{Meta: raft.SnapshotMeta{Index: 6, Term: 1}, Data: []byte("state")}
	d.compact(&snap, chain)
	require.Equal(t, uint64(6), d.durable.snapIndex())
	require.Equal(t, uint64(10), d.durable.lastIndex())
	got, ok := d.durable.chainAt(6)
	require.True(t, ok)
	require.Equal(t, chain, got)
	_, ok = d.durable.chainAt(5)
	require.False(t, ok, "compacted away")

	// A snapshot from the leader replaces the whole log.
	leaderSnap := raft.Snapshot{Meta: raft.SnapshotMeta{Index: 20, Term: 3}}
	require.NoError(t, d.write(writeGroup{hasTermVote: true, term: 3, snap: &leaderSnap, snapChain: 99}))
	require.NoError(t, d.sync())
	require.Equal(t, uint64(20), d.durable.lastIndex())
	require.Empty(t, d.durable.entries)
	require.Equal(t, uint64(20), d.durable.hard.Commit, "a snapshot is committed")

	// A write that would leave a gap is refused.
	require.Error(t, d.write(writeGroup{entries: entries(3, 25, 26)}))
}

// The host rebuilds its mirror from what the WAL recovers, and a WAL that
// returns an entry other than the one written is caught there: its chain
// disagrees with the chain of the log that wrote that index and term.
func TestRecoveredWrongDataIsCaught(t *testing.T) {
	chains := map[[2]uint64]uint64{}
	written := func(e *storedEntry) error {
		k := [2]uint64{e.Index, e.Term}
		if ch, ok := chains[k]; ok && ch != e.chain {
			return fmt.Errorf("Log Matching violated at %d", e.Index)
		}
		chains[k] = e.chain
		return nil
	}
	chainOf := func(index, term uint64) (uint64, bool) {
		if index == 0 {
			return 0, true
		}
		ch, ok := chains[[2]uint64{index, term}]
		return ch, ok
	}
	var d disk
	good := []raft.Entry{{Term: 1, Index: 1, Data: []byte("a")}, {Term: 1, Index: 2, Data: []byte("b")}}
	require.NoError(t, d.recovered(&wal.State{HardState: raft.HardState{Term: 1}, Entries: good}, chainOf, written))
	require.Equal(t, uint64(2), d.durable.lastIndex())
	require.Equal(t, d.written.hard, d.durable.hard)

	bad := []raft.Entry{{Term: 1, Index: 1, Data: []byte("a")}, {Term: 1, Index: 2, Data: []byte("B")}}
	require.ErrorContains(t, d.recovered(&wal.State{HardState: raft.HardState{Term: 1}, Entries: bad}, chainOf, written), "Log Matching")

	snap := &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 9, Term: 1}}
	require.ErrorContains(t, d.recovered(&wal.State{Snapshot: snap}, chainOf, written), "no node ever wrote")
}
