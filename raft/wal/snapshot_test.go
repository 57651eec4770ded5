package wal

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
)

func TestSnapshotFileRoundTrip(t *testing.T) {
	tests := []raft.Snapshot{
		{Meta: raft.SnapshotMeta{Index: 1, Term: 1}},
		{Meta: raft.SnapshotMeta{Index: 77, Term: 4, Conf: raft.ConfState{Voters: []raft.NodeID{1, 2, 3}, Learners: []raft.NodeID{9}}}, Data: []byte("image")},
		{Meta: raft.SnapshotMeta{Index: 1 << 62, Term: 1 << 40, Conf: raft.ConfState{Learners: []raft.NodeID{1 << 63}}}, Data: make([]byte, 70000)},
		// Members' addresses live only in the snapshot once the entries
		// that added them are compacted (issue 7, item 10).
		{Meta: raft.SnapshotMeta{Index: 5, Term: 2, Conf: raft.ConfState{
			Voters: []raft.NodeID{1, 2}, Learners: []raft.NodeID{7},
			Addresses: map[raft.NodeID]string{1: "127.0.0.1:7401", 2: "[::1]:7402", 7: "n7.example:7407"},
		}}, Data: []byte("with addresses")},
	}
	for _, want := range tests {
		dir := t.TempDir()
		_, err := writeSnapshotFile(OSFS{}, dir, &want, true)
		require.NoError(t, err)
		got, err := readSnapshotFile(OSFS{}, dir, snapshotName{index: want.Meta.Index, term: want.Meta.Term})
		require.NoError(t, err)
		require.Equal(t, &want, got)
	}
}

// twoSnapshots saves entries 1..30, a snapshot at 10 and one at 20, and
// returns the directory. compact says whether segments were small enough
// for the second snapshot to delete the log below 20.
func twoSnapshots(t *testing.T, compact bool) string {
	t.Helper()
	dir := t.TempDir()
	opts := Options{NoSync: testNoSync}
	if compact {
		opts.SegmentBytes = 150
	}
	w, _ := mustOpen(t, dir, opts)
	for i := uint64(1); i <= 30; i++ {
		require.NoError(t, w.Save(raft.HardState{Term: 2, Vote: 1, Commit: i}, makeEntries(i, i, 2)))
	}
	require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 10, Term: 2}, Data: []byte("at 10")}))
	require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 20, Term: 2}, Data: []byte("at 20")}))
	require.NoError(t, w.Close())
	require.Equal(t, []string{snapshotName{20, 2}.String(), snapshotName{10, 2}.String()}, snapshotFiles(t, dir))
	return dir
}

// twoSnapshotsNewestDamaged is twoSnapshots with the last byte of the
// newest snapshot's file (at 20) flipped; it returns that file's path too.
func twoSnapshotsNewestDamaged(t *testing.T, compact bool) (dir, newest string) {
	t.Helper()
	dir = twoSnapshots(t, compact)
	newest = filepath.Join(dir, snapshotName{20, 2}.String())
	flipBit(t, newest, fileSize(t, newest)-1)
	return dir, newest
}

func TestSnapshotCorruptionIsDetected(t *testing.T) {
	damages := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"bit flip in the data", func(t *testing.T, path string) { flipBit(t, path, fileSize(t, path)-2) }},
		{"bit flip in the meta", func(t *testing.T, path string) { flipBit(t, path, int64(snapshotHeaderSize)) }},
		{"bit flip in the checksum", func(t *testing.T, path string) { flipBit(t, path, int64(len(snapshotMagic))) }},
		{"cut short", func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, fileSize(t, path)-1)) }},
		{"empty", func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 0)) }},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := mustOpen(t, dir, Options{NoSync: testNoSync})
			require.NoError(t, w.Save(raft.HardState{Term: 1}, makeEntries(1, 5, 1)))
			require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 4, Term: 1}, Data: []byte("image at 4")}))
			require.NoError(t, w.Close())

			path := filepath.Join(dir, snapshotName{4, 1}.String())
			d.damage(t, path)
			_, _, err := Open(dir, Options{NoSync: testNoSync})
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, filepath.Base(path))
		})
	}
}

func TestSnapshotRenamedIsDetected(t *testing.T) {
	dir := t.TempDir()
	_, err := writeSnapshotFile(OSFS{}, dir, &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 4, Term: 1}}, false)
	require.NoError(t, err)
	require.NoError(t, os.Rename(filepath.Join(dir, snapshotName{4, 1}.String()), filepath.Join(dir, snapshotName{5, 1}.String())))
	_, _, err = Open(dir, Options{NoSync: testNoSync})
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "not what its name says")
}

func TestCorruptNewestSnapshotFallsBack(t *testing.T) {
	dir, newest := twoSnapshotsNewestDamaged(t, false)

	w, st := mustOpen(t, dir, Options{NoSync: testNoSync})
	require.Equal(t, uint64(10), st.Snapshot.Meta.Index)
	require.Equal(t, []byte("at 10"), st.Snapshot.Data)
	require.Equal(t, makeEntries(11, 30, 2), st.Entries)
	require.Len(t, st.SkippedSnapshots, 1)
	require.ErrorContains(t, st.SkippedSnapshots[0], filepath.Base(newest))

	// The next snapshot replaces the damaged one, and the fallback stays.
	require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 25, Term: 2}}))
	require.Equal(t, []string{snapshotName{25, 2}.String(), snapshotName{10, 2}.String()}, snapshotFiles(t, dir))
	require.NoError(t, w.Close())
}

// Found by the simulator's disk: after falling back from a damaged
// snapshot, the host saves a snapshot at the same index again (its state
// machine is there once more); the log then holds two markers of that
// index, which recovery must accept.
func TestSnapshotSavedAgainAfterFallingBack(t *testing.T) {
	dir, _ := twoSnapshotsNewestDamaged(t, false)
	w, st := mustOpen(t, dir, Options{NoSync: testNoSync})
	require.Equal(t, uint64(10), st.Snapshot.Meta.Index)
	require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 20, Term: 2}, Data: []byte("at 20 again")}))
	w, st = reopen(t, w, dir, Options{NoSync: testNoSync})
	require.Equal(t, uint64(20), st.Snapshot.Meta.Index)
	require.Equal(t, []byte("at 20 again"), st.Snapshot.Data)
	require.Equal(t, makeEntries(21, 30, 2), st.Entries)
	require.NoError(t, w.Close())
}

func TestCorruptNewestSnapshotWithoutLogToBridgeIsAnError(t *testing.T) {
	// The older snapshot cannot stand in once the log below the newer one
	// is gone: entries 11..20 would be missing.
	dir, _ := twoSnapshotsNewestDamaged(t, true)
	_, _, err := Open(dir, Options{NoSync: testNoSync})
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "missing")
}

// Found by the simulator's disk: with no entry after the newest snapshot,
// recovery saw no log at all, so nothing told it that the log no longer
// reached back to the older snapshot, and it returned that snapshot with
// entries 31..40 silently gone. The newest snapshot's marker says how far
// the log was compacted; the older one cannot stand in below it.
// Reference: §7
func TestCorruptNewestSnapshotWithNoEntriesAfterItIsAnError(t *testing.T) {
	dir := t.TempDir()
	// One record per segment: the newest segment holds only the repeated
	// hard state and the marker, and every segment below it is deleted.
	opts := Options{NoSync: testNoSync, SegmentBytes: 1}
	w, _ := mustOpen(t, dir, opts)
	for i := uint64(1); i <= 40; i++ {
		require.NoError(t, w.Save(raft.HardState{Term: 2, Vote: 1, Commit: i}, makeEntries(i, i, 2)))
	}
	require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 30, Term: 2}, Data: []byte("at 30")}))
	require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 40, Term: 2}, Data: []byte("at 40")}))
	require.NoError(t, w.Close())
	newest := filepath.Join(dir, snapshotName{40, 2}.String())
	flipBit(t, newest, fileSize(t, newest)-1)
	_, st, err := Open(dir, opts)
	if err == nil {
		t.Fatalf("recovered snapshot %d with %d entries and commit %d: entries 31..40 are lost",
			st.Snapshot.Meta.Index, len(st.Entries), st.HardState.Commit)
	}
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "missing")
}

func TestAllSnapshotsCorruptIsAnError(t *testing.T) {
	dir := twoSnapshots(t, false)
	for _, name := range snapshotFiles(t, dir) {
		flipBit(t, filepath.Join(dir, name), int64(snapshotHeaderSize))
	}
	_, _, err := Open(dir, Options{NoSync: testNoSync})
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "no readable snapshot")
	require.ErrorContains(t, err, snapshotName{20, 2}.String())
	require.ErrorContains(t, err, snapshotName{10, 2}.String())
}

func TestOldSnapshotFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	w, _ := mustOpen(t, dir, Options{NoSync: testNoSync})
	require.NoError(t, w.Save(raft.HardState{Term: 1}, makeEntries(1, 10, 1)))
	for _, index := range []uint64{2, 4, 6, 8} {
		require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: index, Term: 1}}))
	}
	require.Equal(t, []string{snapshotName{8, 1}.String(), snapshotName{6, 1}.String()}, snapshotFiles(t, dir))
	w, st := reopen(t, w, dir, Options{NoSync: testNoSync})
	require.Equal(t, uint64(8), st.Snapshot.Meta.Index)
	require.Equal(t, makeEntries(9, 10, 1), st.Entries)
	require.NoError(t, w.Close())
}

// Found by the simulator (sessions, backpressure, seed 40579): after
// falling back from a damaged snapshot at 20 to the one at 10, the host
// compacted at 15, between the two. Its marker followed the one at 20 in
// the log, and the next Open refused the log ("snapshot marker at index 15
// follows one at 20"): the node could not restart. A snapshot below a
// marker the log holds is too old, as one below the saved snapshot is; the
// log keeps the entries, and the next snapshot at or past 20 goes through.
func TestSnapshotBelowADamagedOneIsTooOld(t *testing.T) {
	dir, _ := twoSnapshotsNewestDamaged(t, false)
	w, st := mustOpen(t, dir, Options{NoSync: testNoSync})
	require.Equal(t, uint64(10), st.Snapshot.Meta.Index)
	err := w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 15, Term: 2}, Data: []byte("at 15")})
	require.ErrorIs(t, err, raft.ErrSnapshotTooOld)
	require.ErrorContains(t, err, "marker at 20")

	w, st = reopen(t, w, dir, Options{NoSync: testNoSync})
	require.Equal(t, uint64(10), st.Snapshot.Meta.Index, "still the fallback")
	require.Equal(t, makeEntries(11, 30, 2), st.Entries)
	require.NoError(t, w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 25, Term: 2}, Data: []byte("at 25")}))
	w, st = reopen(t, w, dir, Options{NoSync: testNoSync})
	require.Equal(t, uint64(25), st.Snapshot.Meta.Index)
	require.Equal(t, makeEntries(26, 30, 2), st.Entries)
	require.NoError(t, w.Close())
}

// A data dir that builds before the lost-marker repair in Open could leave:
// a leader's snapshot past the log whose marker a crash lost, and entries
// saved after it, past the old log's end. Recovery takes them (the gap lies
// under the snapshot), and keeps them through the marker Open writes now
// and the restarts after it.
func TestEntriesAfterALostMarkerInAnOlderDataDir(t *testing.T) {
	dir := t.TempDir()
	var seg []byte
	seg = append(seg, segmentMagic...)
	seg = appendFrame(seg, &record{kind: kindSave, hasHardState: true, hardState: raft.HardState{Term: 1},
		entries: makeEntries(1, 1, 1)})
	seg = appendFrame(seg, &record{kind: kindSave, hasHardState: true, hardState: raft.HardState{Term: 2, Commit: 6},
		entries: makeEntries(6, 6, 2)})
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName{seq: 1, firstIndex: 1}.String()), seg, 0o600))
	snap := raft.Snapshot{Meta: raft.SnapshotMeta{Index: 5, Term: 2}, Data: []byte("s")}
	tmp, err := writeSnapshotTemp(OSFS{}, dir, &snap, false)
	require.NoError(t, err)
	_, err = publishSnapshot(OSFS{}, dir, &snap, tmp, false)
	require.NoError(t, err)

	w, st := mustOpen(t, dir, Options{})
	require.Equal(t, uint64(5), st.Snapshot.Meta.Index)
	require.Equal(t, makeEntries(6, 6, 2), st.Entries)
	require.NoError(t, w.Save(raft.HardState{Term: 2, Commit: 7}, makeEntries(7, 7, 2)))
	w, st = reopen(t, w, dir, Options{})
	require.Equal(t, uint64(5), st.Snapshot.Meta.Index)
	require.Equal(t, makeEntries(6, 7, 2), st.Entries)
	w, st = reopen(t, w, dir, Options{})
	require.Equal(t, makeEntries(6, 7, 2), st.Entries)
	require.NoError(t, w.Close())
}
