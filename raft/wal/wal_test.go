package wal

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
)

func TestOpenEmptyCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "group-1", "wal")
	w, st := mustOpen(t, dir, Options{})
	require.Equal(t, &State{}, st)
	require.Len(t, segmentFiles(t, dir), 1)
	require.NoError(t, w.Close())
	require.ErrorIs(t, w.Close(), ErrClosed)
	require.ErrorIs(t, w.Save(raft.HardState{Term: 1}, nil), ErrClosed)
	require.ErrorIs(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 1, Term: 1}}), ErrClosed)
}

func TestRoundTripWithSuffixOverwrite(t *testing.T) {
	dir := t.TempDir()
	w, _ := mustOpen(t, dir, Options{})

	hs1 := raft.HardState{Term: 1, Vote: 1, Commit: 0}
	require.NoError(t, w.Save(hs1, makeEntries(1, 5, 1)))
	require.NoError(t, w.Save(raft.HardState{}, makeEntries(6, 10, 1)))
	// A new leader in term 2 overwrites the uncommitted suffix from 8 (§5.3).
	hs2 := raft.HardState{Term: 2, Vote: 3, Commit: 7}
	require.NoError(t, w.Save(hs2, makeEntries(8, 12, 2)))

	w, st := reopen(t, w, dir, Options{})
	require.Equal(t, hs2, st.HardState)
	require.Nil(t, st.Snapshot)
	require.Equal(t, concat(makeEntries(1, 7, 1), makeEntries(8, 12, 2)), st.Entries)

	// Overwriting again after a restart, then appending.
	hs3 := raft.HardState{Term: 3, Vote: 2, Commit: 9}
	require.NoError(t, w.Save(hs3, makeEntries(10, 10, 3)))
	require.NoError(t, w.Save(raft.HardState{}, makeEntries(11, 13, 3)))
	w, st = reopen(t, w, dir, Options{})
	require.Equal(t, hs3, st.HardState)
	require.Equal(t, concat(makeEntries(1, 7, 1), makeEntries(8, 9, 2), makeEntries(10, 13, 3)), st.Entries)
	require.NoError(t, w.Close())
}

func TestSaveWritesNothingWhenNothingChanged(t *testing.T) {
	dir := t.TempDir()
	w, _ := mustOpen(t, dir, Options{})
	hs := raft.HardState{Term: 4, Vote: 2, Commit: 1}
	require.NoError(t, w.Save(hs, makeEntries(1, 1, 4)))
	size := fileSize(t, lastSegment(t, dir))

	require.NoError(t, w.Save(raft.HardState{}, nil))
	require.NoError(t, w.Save(hs, nil))
	require.NoError(t, w.Save(hs, []raft.Entry{}))
	require.Equal(t, size, fileSize(t, lastSegment(t, dir)))

	// An empty hard state with entries keeps the saved hard state.
	require.NoError(t, w.Save(raft.HardState{}, makeEntries(2, 2, 4)))
	w, st := reopen(t, w, dir, Options{})
	require.Equal(t, hs, st.HardState)
	require.Equal(t, makeEntries(1, 2, 4), st.Entries)
	require.NoError(t, w.Close())
}

func TestSaveRefusesWhatBreaksRaftRules(t *testing.T) {
	tests := []struct {
		name    string
		hs      raft.HardState
		entries []raft.Entry
		want    string
	}{
		{"gap after the last index", raft.HardState{}, makeEntries(12, 12, 3), "gap"},
		{"at the snapshot", raft.HardState{}, makeEntries(5, 6, 3), "at or below the snapshot"},
		{"below the snapshot", raft.HardState{}, makeEntries(2, 6, 3), "at or below the snapshot"},
		{"not contiguous", raft.HardState{}, []raft.Entry{{Term: 3, Index: 9}, {Term: 3, Index: 11}}, "contiguous"},
		{"term falls within the batch", raft.HardState{}, []raft.Entry{{Term: 3, Index: 9}, {Term: 2, Index: 10}}, "below the term"},
		{"term falls below the log", raft.HardState{}, makeEntries(9, 9, 1), "below the term"},
		{"term falls below the snapshot", raft.HardState{}, makeEntries(6, 6, 1), "below the term"},
		{"hard state term falls", raft.HardState{Term: 2, Vote: 1}, nil, "below the saved term"},
		{"second vote in a term", raft.HardState{Term: 3, Vote: 2, Commit: 4}, nil, "changes the vote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := mustOpen(t, dir, Options{NoSync: testNoSync})
			require.NoError(t, w.Save(raft.HardState{Term: 3, Vote: 1, Commit: 2}, makeEntries(1, 10, 2)))
			require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 5, Term: 2}}))
			size := fileSize(t, lastSegment(t, dir))

			err := w.Save(tt.hs, tt.entries)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, size, fileSize(t, lastSegment(t, dir)), "a refused Save writes nothing")

			// A refusal is not a failure: the WAL goes on.
			require.NoError(t, w.Save(raft.HardState{Term: 3, Vote: 1, Commit: 6}, makeEntries(11, 11, 3)))
			w, st := reopen(t, w, dir, Options{NoSync: testNoSync})
			require.Equal(t, concat(makeEntries(6, 10, 2), makeEntries(11, 11, 3)), st.Entries)
			require.NoError(t, w.Close())
		})
	}
}

func TestHardStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	w, _ := mustOpen(t, dir, Options{})
	// §5.2: a vote cast must be remembered across a crash.
	hs := raft.HardState{Term: 9, Vote: 2}
	require.NoError(t, w.Save(hs, nil))
	w, st := reopen(t, w, dir, Options{})
	require.Equal(t, hs, st.HardState)
	require.Empty(t, st.Entries)
	require.NoError(t, w.Close())
}

func TestHardStateSurvivesCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 200, NoSync: testNoSync}
	w, _ := mustOpen(t, dir, opts)
	hs := raft.HardState{Term: 5, Vote: 3, Commit: 1}
	require.NoError(t, w.Save(hs, makeEntries(1, 1, 5)))
	firstSegment := segmentFiles(t, dir)[0]
	for i := uint64(2); i <= 40; i++ {
		require.NoError(t, w.Save(raft.HardState{}, makeEntries(i, i, 5)))
	}
	require.Greater(t, len(segmentFiles(t, dir)), 3)

	require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 40, Term: 5}, Data: []byte("state")}))
	require.NoFileExists(t, firstSegment, "the segment holding the only hard state record was compacted")
	require.Len(t, segmentFiles(t, dir), 1)

	w, st := reopen(t, w, dir, opts)
	require.Equal(t, hs, st.HardState)
	require.Equal(t, uint64(40), st.Snapshot.Meta.Index)
	require.Empty(t, st.Entries)
	require.NoError(t, w.Close())
}

func TestRotationAndCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 256}
	w, _ := mustOpen(t, dir, opts)
	hs := raft.HardState{Term: 1, Vote: 1}
	for i := uint64(1); i <= 60; i += 3 {
		hs.Commit = i
		require.NoError(t, w.Save(hs, makeEntries(i, i+2, 1)))
	}
	before := segmentFiles(t, dir)
	require.Greater(t, len(before), 4)
	for _, path := range before[:len(before)-1] {
		require.GreaterOrEqual(t, fileSize(t, path), opts.SegmentBytes, "rotation only past SegmentBytes")
	}

	// Everything still recovers across segment boundaries.
	w, st := reopen(t, w, dir, opts)
	require.Equal(t, makeEntries(1, 60, 1), st.Entries)

	snap := raft.Snapshot{
		Meta: raft.SnapshotMeta{Index: 40, Term: 1, Conf: raft.ConfState{Voters: []raft.NodeID{1, 2, 3}}},
		Data: []byte("fsm image at 40"),
	}
	require.NoError(t, w.SaveSnapshot(snap))
	after := segmentFiles(t, dir)
	require.Less(t, len(after), len(before))
	// Exactly the segments wholly at or below 40 went: the oldest survivor
	// may still hold entry 41 and above.
	names, err := listSegments(OSFS{}, dir)
	require.NoError(t, err)
	require.Greater(t, names[1].firstIndex, uint64(41))
	for _, path := range before[:len(before)-len(after)] {
		require.NoFileExists(t, path)
	}

	require.NoError(t, w.Save(hs, makeEntries(61, 62, 1)))
	w, st = reopen(t, w, dir, opts)
	require.Equal(t, &snap, st.Snapshot)
	require.Equal(t, makeEntries(41, 62, 1), st.Entries)
	require.Equal(t, hs, st.HardState)
	require.NoError(t, w.Close())
}

func TestSnapshotKeepsOrDiscardsTheLog(t *testing.T) {
	// Figure 13, InstallSnapshot steps 6 and 7.
	tests := []struct {
		name     string
		snapshot raft.SnapshotMeta
		want     []raft.Entry // right after SaveSnapshot
		next     uint64       // where the next Save must start
	}{
		{"matching entry keeps the suffix", raft.SnapshotMeta{Index: 6, Term: 2}, makeEntries(7, 10, 2), 11},
		{"matching last entry", raft.SnapshotMeta{Index: 10, Term: 2}, nil, 11},
		{"conflicting term discards the log", raft.SnapshotMeta{Index: 6, Term: 3}, nil, 7},
		{"beyond the log discards the log", raft.SnapshotMeta{Index: 15, Term: 3}, nil, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{NoSync: testNoSync}
			w, _ := mustOpen(t, dir, opts)
			require.NoError(t, w.Save(raft.HardState{Term: 3}, concat(makeEntries(1, 4, 1), makeEntries(5, 10, 2))))
			require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: tt.snapshot}))

			w, st := reopen(t, w, dir, opts)
			require.Equal(t, tt.snapshot, st.Snapshot.Meta)
			require.Equal(t, tt.want, st.Entries)

			// The live WAL agrees with recovery on where the log ends.
			require.ErrorContains(t, w.Save(raft.HardState{}, makeEntries(tt.next+1, tt.next+1, 3)), "gap")
			require.NoError(t, w.Save(raft.HardState{}, makeEntries(tt.next, tt.next+1, 3)))
			w, st = reopen(t, w, dir, opts)
			require.Equal(t, concat(tt.want, makeEntries(tt.next, tt.next+1, 3)), st.Entries)
			require.NoError(t, w.Close())
		})
	}
}

func TestSnapshotMustMoveForward(t *testing.T) {
	dir := t.TempDir()
	w, _ := mustOpen(t, dir, Options{NoSync: testNoSync})
	require.NoError(t, w.Save(raft.HardState{Term: 1}, makeEntries(1, 10, 1)))
	require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 5, Term: 1}}))
	require.ErrorIs(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 5, Term: 1}}), raft.ErrSnapshotTooOld)
	require.ErrorIs(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 3, Term: 1}}), raft.ErrSnapshotTooOld)
	require.Error(t, w.SaveSnapshot(raft.Snapshot{}))
	require.NoError(t, w.Close())
}

func TestSnapshotWithoutMarkerAfterCrash(t *testing.T) {
	// A crash after the snapshot file is published but before its marker
	// reaches the log: recovery must still apply Figure 13 to it.
	tests := []struct {
		name string
		meta raft.SnapshotMeta
		want []raft.Entry
	}{
		{"matching", raft.SnapshotMeta{Index: 3, Term: 1}, concat(makeEntries(4, 4, 1), makeEntries(5, 6, 2))},
		{"conflicting", raft.SnapshotMeta{Index: 5, Term: 3}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := mustOpen(t, dir, Options{NoSync: testNoSync})
			require.NoError(t, w.Save(raft.HardState{Term: 3}, concat(makeEntries(1, 4, 1), makeEntries(5, 6, 2))))
			require.NoError(t, w.Close())
			_, err := writeSnapshotFile(OSFS{}, dir, &raft.Snapshot{Meta: tt.meta, Data: []byte("x")}, false)
			require.NoError(t, err)

			w, st := mustOpen(t, dir, Options{NoSync: testNoSync})
			require.Equal(t, tt.meta, st.Snapshot.Meta)
			require.Equal(t, tt.want, st.Entries)
			require.NoError(t, w.Save(raft.HardState{}, makeEntries(tt.meta.Index+uint64(len(tt.want))+1, tt.meta.Index+uint64(len(tt.want))+1, 3)))
			require.NoError(t, w.Close())
		})
	}
}

func TestOpenRemovesLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	leftovers := []string{"wal-0000000000000002-0000000000000001.log.tmp", "snap-0000000000000005-0000000000000001.snap.tmp"}
	for _, name := range leftovers {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("half written"), 0o640))
	}
	foreign := filepath.Join(dir, "notes.tmp")
	require.NoError(t, os.WriteFile(foreign, []byte("not ours"), 0o640))

	w, st := mustOpen(t, dir, Options{NoSync: testNoSync})
	require.Nil(t, st.Snapshot)
	for _, name := range leftovers {
		require.NoFileExists(t, filepath.Join(dir, name))
	}
	require.FileExists(t, foreign)
	require.NoError(t, w.Close())
}

func TestSegmentNames(t *testing.T) {
	name := segmentName{seq: 3, firstIndex: 0x1234}
	require.Equal(t, "wal-0000000000000003-0000000000001234.log", name.String())
	got, ok := parseSegmentName(name.String())
	require.True(t, ok)
	require.Equal(t, name, got)
	for _, bad := range []string{"wal-3-1234.log", "wal-0000000000000003-0000000000001234.log.tmp", "snap-0000000000000003-0000000000001234.snap", "wal-000000000000000g-0000000000001234.log",
		"wal-000000000000000A-0000000000001234.log", "wal-0000000000000003+0000000000001234.log"} {
		_, ok := parseSegmentName(bad)
		require.False(t, ok, bad)
	}
	snap := snapshotName{index: 0xffffffffffffffff, term: 7}
	gotSnap, ok := parseSnapshotName(snap.String())
	require.True(t, ok)
	require.Equal(t, snap, gotSnap)
	_, ok = parseSnapshotName(name.String())
	require.False(t, ok)
}
