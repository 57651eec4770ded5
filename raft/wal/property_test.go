package wal

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/havenproject/haven/raft"
)

// walModel is what a WAL should hold, kept the obvious way: every entry
// after the snapshot, in a slice.
type walModel struct {
	hardState raft.HardState
	snapshot  *raft.Snapshot
	entries   []raft.Entry // the log after the snapshot
}

func (m *walModel) snapshotIndex() uint64 {
	if m.snapshot == nil {
		return 0
	}
	return m.snapshot.Meta.Index
}

func (m *walModel) lastIndex() uint64 { return m.snapshotIndex() + uint64(len(m.entries)) }

func (m *walModel) termAt(index uint64) (uint64, bool) {
	switch {
	case index == m.snapshotIndex() && m.snapshot != nil:
		return m.snapshot.Meta.Term, true
	case index == 0:
		return 0, true
	case index <= m.snapshotIndex() || index > m.lastIndex():
		return 0, false
	}
	return m.entries[index-m.snapshotIndex()-1].Term, true
}

func (m *walModel) save(hs raft.HardState, entries []raft.Entry) {
	if !hs.IsEmpty() {
		m.hardState = hs
	}
	if len(entries) > 0 {
		keep := entries[0].Index - m.snapshotIndex() - 1
		m.entries = append(m.entries[:keep:keep], entries...)
	}
}

// saveSnapshot is Figure 13, steps 6 and 7, on the slice.
func (m *walModel) saveSnapshot(s raft.Snapshot) {
	term, ok := m.termAt(s.Meta.Index)
	if ok && term == s.Meta.Term {
		m.entries = append([]raft.Entry(nil), m.entries[s.Meta.Index-m.snapshotIndex():]...)
	} else {
		m.entries = nil
	}
	m.snapshot = &s
}

func (m *walModel) requireMatches(t require.TestingT, st *State) {
	require.Equal(t, m.hardState, st.HardState)
	require.Equal(t, m.snapshot, st.Snapshot)
	want := m.entries
	if len(want) == 0 {
		want = nil
	}
	require.Equal(t, want, st.Entries)
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func drawHardState(t *rapid.T, m *walModel) raft.HardState {
	switch rapid.IntRange(0, 2).Draw(t, "hard state kind") {
	case 0:
		return raft.HardState{} // unchanged
	case 1:
		return m.hardState // unchanged, said differently
	}
	hs := m.hardState
	hs.Term += rapid.Uint64Range(0, 2).Draw(t, "term step")
	if hs.Term != m.hardState.Term || hs.Vote == raft.None {
		hs.Vote = raft.NodeID(rapid.Uint64Range(0, 3).Draw(t, "vote"))
	}
	hs.Commit = rapid.Uint64Range(0, m.lastIndex()+4).Draw(t, "commit")
	return hs
}

func drawEntries(t *rapid.T, m *walModel) []raft.Entry {
	n := rapid.IntRange(0, 4).Draw(t, "entry count")
	if n == 0 {
		return nil
	}
	first := m.lastIndex() + 1
	if rapid.Bool().Draw(t, "overwrite a suffix") {
		first = rapid.Uint64Range(m.snapshotIndex()+1, m.lastIndex()+1).Draw(t, "first index")
	}
	term, _ := m.termAt(first - 1)
	entries := make([]raft.Entry, n)
	for i := range entries {
		term += rapid.Uint64Range(0, 1).Draw(t, "term step")
		entries[i] = raft.Entry{
			Term:  term,
			Index: first + uint64(i),
			Type:  raft.EntryType(rapid.IntRange(0, 1).Draw(t, "type")),
			Data:  nilIfEmpty(rapid.SliceOfN(rapid.Byte(), 0, 24).Draw(t, "data")),
		}
	}
	return entries
}

func drawSnapshot(t *rapid.T, m *walModel) raft.Snapshot {
	index := rapid.Uint64Range(m.snapshotIndex()+1, m.lastIndex()+2).Draw(t, "snapshot index")
	term, ok := m.termAt(index)
	if !ok {
		term, _ = m.termAt(m.lastIndex())
	}
	// Sometimes a term the log does not have at index: a leader's snapshot
	// from another history, which discards the log (Figure 13, step 7).
	term += rapid.Uint64Range(0, 1).Draw(t, "snapshot term step")
	voters := rapid.SliceOfN(rapid.Uint64Range(1, 9), 0, 3).Draw(t, "voters")
	s := raft.Snapshot{
		Meta: raft.SnapshotMeta{Index: index, Term: term},
		Data: nilIfEmpty(rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "snapshot data")),
	}
	for _, v := range voters {
		s.Meta.Conf.Voters = append(s.Meta.Conf.Voters, raft.NodeID(v))
	}
	return s
}

// TestWALMatchesModel runs random Saves (with suffix overwrites),
// snapshots, clean restarts and restarts after a torn write, and checks
// after every restart that recovery returns exactly what the model holds.
func TestWALMatchesModel(t *testing.T) {
	base := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp(base, "wal")
		require.NoError(rt, err)
		defer os.RemoveAll(dir)
		opts := Options{SegmentBytes: int64(rapid.IntRange(128, 1024).Draw(rt, "segment bytes")), NoSync: testNoSync}
		w, st, err := Open(dir, opts)
		require.NoError(rt, err)
		m := &walModel{}
		m.requireMatches(rt, st)

		restart := func() {
			require.NoError(rt, w.Close())
			w, st, err = Open(dir, opts)
			require.NoError(rt, err)
			m.requireMatches(rt, st)
		}
		rt.Repeat(map[string]func(*rapid.T){
			"save": func(t *rapid.T) {
				for range rapid.IntRange(1, 3).Draw(t, "saves") {
					hs, entries := drawHardState(t, m), drawEntries(t, m)
					require.NoError(t, w.Save(hs, entries))
					m.save(hs, entries)
				}
			},
			"snapshot": func(t *rapid.T) {
				s := drawSnapshot(t, m)
				require.NoError(t, w.SaveSnapshot(s))
				m.saveSnapshot(s)
				require.LessOrEqual(t, len(snapshotFiles(t, dir)), 2)
			},
			"restart": func(t *rapid.T) {
				if rapid.Bool().Draw(t, "clean") {
					restart()
					return
				}
				// A crash in the middle of a write.
				torn := appendFrame(nil, &record{kind: kindSave, hasHardState: true,
					hardState: raft.HardState{Term: m.hardState.Term + 1}, entries: drawEntries(t, m)})
				torn = torn[:rapid.IntRange(1, len(torn)-1).Draw(t, "torn length")]
				require.NoError(t, w.Close())
				f, err := os.OpenFile(lastSegment(t, dir), os.O_WRONLY|os.O_APPEND, 0)
				require.NoError(t, err)
				_, err = f.Write(torn)
				require.NoError(t, err)
				require.NoError(t, f.Close())
				w, st, err = Open(dir, opts)
				require.NoError(t, err)
				m.requireMatches(t, st)
			},
		})
		restart()
		require.NoError(rt, w.Close())
	})
}
