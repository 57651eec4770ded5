package sim

import (
	"testing"

	"github.com/havenproject/haven/raft"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
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

func TestDiskCrashFates(t *testing.T) {
	tests := []struct {
		name string
		// what is synced, then what is only written
		synced, pending []writeGroup
		// allowed durable last indexes after a crash
		wantLast []uint64
	}{
		{
			name:     "nothing pending",
			synced:   []writeGroup{{hasTermVote: true, term: 1, entries: entries(1, 1, 3), hasCommit: true, commit: 2}},
			wantLast: []uint64{3},
		},
		{
			name:   "pending Readys are lost, torn or kept whole and in order, never the synced ones",
			synced: []writeGroup{{hasTermVote: true, term: 1, entries: entries(1, 1, 3)}},
			pending: []writeGroup{
				{entries: entries(1, 4, 5)},
				{entries: entries(1, 6, 6)},
				{entries: entries(1, 7, 9)},
			},
			wantLast: []uint64{3, 5, 6, 9},
		},
		{
			name:     "a torn overwrite keeps the old tail",
			synced:   []writeGroup{{hasTermVote: true, term: 1, entries: entries(1, 1, 5)}},
			pending:  []writeGroup{{hasTermVote: true, term: 2, entries: entries(2, 3, 4)}},
			wantLast: []uint64{5, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[uint64]bool{}
			for seed := uint64(0); seed < 200; seed++ {
				var d disk
				for _, g := range tt.synced {
					require.NoError(t, d.write(g))
				}
				require.NoError(t, d.sync())
				synced := d.durable.clone()
				for _, g := range tt.pending {
					require.NoError(t, d.write(g))
				}
				fate, err := d.crash(newRand(seed))
				require.NoError(t, err)
				if len(tt.pending) == 0 {
					require.Equal(t, fateNothingPending, fate)
				}
				last := d.durable.lastIndex()
				require.Contains(t, tt.wantLast, last)
				seen[last] = true
				require.Equal(t, last, d.written.lastIndex(), "a restarted process sees what is durable")
				require.Empty(t, d.pending)
				require.True(t, isPrefixReplay(synced, tt.pending, d.durable))
				// What survives always restarts a raft node.
				_, err = raft.New(raft.Config{ID: 1, ElectionTicks: 10, HeartbeatTicks: 1, Rand: newRand(1)}, d.restored())
				require.NoError(t, err)
			}
			require.Len(t, seen, len(tt.wantLast), "every fate happens")
		})
	}
}

// TestDiskCrashKeepsAPrefix checks, for random histories of writes, syncs
// and crashes, that a crash leaves exactly what was synced plus a prefix of
// the Readys written after it: the guarantee of a WAL that writes one record
// per Ready and truncates a torn tail.
func TestDiskCrashKeepsAPrefix(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var d disk
		var term uint64 = 1
		next := uint64(1)
		steps := rapid.IntRange(1, 30).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1: // write a group: maybe a new term that overwrites a suffix
				first := next
				if rapid.Bool().Draw(t, "overwrite") && next > 1 {
					first = rapid.Uint64Range(max(1, d.written.snapIndex()+1), next).Draw(t, "from")
					term++
				}
				n := rapid.Uint64Range(1, 4).Draw(t, "count")
				g := writeGroup{hasTermVote: true, term: term, entries: entries(term, first, first+n-1)}
				if rapid.Bool().Draw(t, "commit") {
					g.hasCommit, g.commit = true, first-1
				}
				// chains must extend the written log
				prev, _ := d.written.chainAt(first - 1)
				for i := range g.entries {
					prev = chainHash(prev, &g.entries[i].Entry)
					g.entries[i].chain = prev
				}
				require.NoError(t, d.write(g))
				next = first + n
			case 2:
				require.NoError(t, d.sync())
			case 3:
				before := d.durable.clone()
				pending := append([]writeGroup(nil), d.pending...)
				_, err := d.crash(newRand(rapid.Uint64().Draw(t, "fate")))
				require.NoError(t, err)
				require.True(t, isPrefixReplay(before, pending, d.durable), "crash left something other than synced + a prefix of the pending Readys")
				next = d.durable.lastIndex() + 1
				term = max(term, d.durable.hard.Term)
			}
		}
	})
}

// isPrefixReplay reports whether got equals base with the first k pending
// Readys applied, for some k.
func isPrefixReplay(base logView, pending []writeGroup, got logView) bool {
	for k := 0; k <= len(pending); k++ {
		v := base.clone()
		for i := range k {
			if v.apply(&pending[i]) != nil {
				return false
			}
		}
		if sameView(&v, &got) {
			return true
		}
	}
	return false
}

func sameView(a, b *logView) bool {
	if a.hard != b.hard || a.snapIndex() != b.snapIndex() || len(a.entries) != len(b.entries) {
		return false
	}
	for i := range a.entries {
		if a.entries[i].chain != b.entries[i].chain {
			return false
		}
	}
	return true
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
	rs := d.restored()
	require.Equal(t, uint64(7), rs.Entries[0].Index)
	require.Equal(t, uint64(6), rs.Snapshot.Meta.Index)

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
