package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
)

// tornFixture is a one-segment WAL whose last record can be damaged.
type tornFixture struct {
	content   []byte // the whole segment file
	lastStart int64  // offset of the last record
	name      string // the segment's file name
	before    State  // what recovery must return without the last record
}

func newTornFixture(t *testing.T) tornFixture {
	t.Helper()
	dir := t.TempDir()
	w, _ := mustOpen(t, dir, Options{NoSync: testNoSync})
	require.NoError(t, w.Save(raft.HardState{Term: 1, Vote: 1}, makeEntries(1, 2, 1)))
	require.NoError(t, w.Save(raft.HardState{Term: 2, Vote: 2, Commit: 2}, makeEntries(3, 3, 2)))
	path := lastSegment(t, dir)
	lastStart := fileSize(t, path)
	// The last record both changes the hard state and overwrites entry 3.
	require.NoError(t, w.Save(raft.HardState{Term: 3, Vote: 3, Commit: 2}, makeEntries(3, 4, 3)))
	require.NoError(t, w.Close())
	content, err := os.ReadFile(path)
	require.NoError(t, err)
	return tornFixture{
		content:   content,
		lastStart: lastStart,
		name:      filepath.Base(path),
		before: State{
			HardState: raft.HardState{Term: 2, Vote: 2, Commit: 2},
			Entries:   concat(makeEntries(1, 2, 1), makeEntries(3, 3, 2)),
		},
	}
}

func TestTornTailAtEveryOffset(t *testing.T) {
	fx := newTornFixture(t)
	opts := Options{NoSync: testNoSync}
	for cut := fx.lastStart; cut < int64(len(fx.content)); cut++ {
		t.Run(fmt.Sprintf("cut at %d", cut), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, fx.name)
			require.NoError(t, os.WriteFile(path, fx.content[:cut], 0o640))

			w, st := mustOpen(t, dir, opts)
			require.Equal(t, &fx.before, st)
			require.Equal(t, fx.lastStart, fileSize(t, path), "the torn tail is cut off the file")

			// Appends after recovery follow the last good record directly.
			hs := raft.HardState{Term: 4, Vote: 1, Commit: 3}
			require.NoError(t, w.Save(hs, makeEntries(4, 5, 4)))
			w, st = reopen(t, w, dir, opts)
			require.Equal(t, hs, st.HardState)
			require.Equal(t, concat(fx.before.Entries, makeEntries(4, 5, 4)), st.Entries)
			require.NoError(t, w.Close())
		})
	}
}

func TestTornTailWithGarbledBytes(t *testing.T) {
	fx := newTornFixture(t)
	recordLen := int64(len(fx.content)) - fx.lastStart
	tests := []struct {
		name   string
		damage func(content []byte) []byte
	}{
		{"body bytes never reached the disk (zeros)", func(c []byte) []byte {
			clear(c[fx.lastStart+12:])
			return c
		}},
		{"whole last record zeroed", func(c []byte) []byte {
			clear(c[fx.lastStart:])
			return c
		}},
		{"last byte flipped", func(c []byte) []byte {
			c[len(c)-1] ^= 0xff
			return c
		}},
		{"length claims more than the file holds", func(c []byte) []byte {
			binary.LittleEndian.PutUint32(c[fx.lastStart:], uint32(recordLen*3))
			return c
		}},
		{"preallocated zeros after a torn record", func(c []byte) []byte {
			return append(c[:len(c)-3], make([]byte, 4096)...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, fx.name)
			content := tt.damage(append([]byte(nil), fx.content...))
			require.NoError(t, os.WriteFile(path, content, 0o640))

			w, st := mustOpen(t, dir, Options{NoSync: testNoSync})
			require.Equal(t, &fx.before, st)
			require.Equal(t, fx.lastStart, fileSize(t, path))
			require.NoError(t, w.Close())
		})
	}
}

func TestPreallocatedZerosAreTail(t *testing.T) {
	fx := newTornFixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, fx.name)
	require.NoError(t, os.WriteFile(path, append(append([]byte(nil), fx.content...), make([]byte, 1<<16)...), 0o640))

	w, st := mustOpen(t, dir, Options{NoSync: testNoSync})
	require.Equal(t, raft.HardState{Term: 3, Vote: 3, Commit: 2}, st.HardState)
	require.Equal(t, concat(makeEntries(1, 2, 1), makeEntries(3, 4, 3)), st.Entries)
	require.Equal(t, int64(len(fx.content)), fileSize(t, path))
	require.NoError(t, w.Close())
}

// requireCorruptAt checks that err is a corruption error naming the file
// and byte offset, in its message too.
func requireCorruptAt(t *testing.T, err error, path string, offset int64) {
	t.Helper()
	require.ErrorIs(t, err, ErrCorrupt)
	var corrupt *CorruptionError
	require.True(t, errors.As(err, &corrupt), "error %v", err)
	require.Equal(t, path, corrupt.Path)
	require.Equal(t, offset, corrupt.Offset)
	require.Contains(t, err.Error(), filepath.Base(path))
	require.Contains(t, err.Error(), fmt.Sprintf("offset %d", offset))
}

func TestCorruptionBeforeTheTailIsAnError(t *testing.T) {
	fx := newTornFixture(t)
	firstRecord := int64(len(segmentMagic))
	tests := []struct {
		name   string
		offset int64 // byte whose bit flips
	}{
		{"length field", firstRecord},
		{"length field high byte", firstRecord + 3},
		{"checksum field", firstRecord + 5},
		{"kind", firstRecord + 8},
		{"middle of the payload", firstRecord + 20},
		{"last byte of the record before the tail", fx.lastStart - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, fx.name)
			require.NoError(t, os.WriteFile(path, fx.content, 0o640))
			flipBit(t, path, tt.offset)

			_, _, err := Open(dir, Options{NoSync: testNoSync})
			recordStart := firstRecord
			if tt.offset >= fx.lastStart-1 {
				_, second, err := decodeRecord(fx.content[firstRecord:])
				require.NoError(t, err)
				recordStart = firstRecord + int64(second)
			}
			requireCorruptAt(t, err, path, recordStart)
			require.Equal(t, int64(len(fx.content)), fileSize(t, path), "a refused file is left as it was")
		})
	}
}

// manySegments writes entries 1..30 into several small segments.
func manySegments(t *testing.T) (dir string, paths []string) {
	t.Helper()
	dir = t.TempDir()
	w, _ := mustOpen(t, dir, Options{SegmentBytes: 150, NoSync: testNoSync})
	for i := uint64(1); i <= 30; i++ {
		require.NoError(t, w.Save(raft.HardState{Term: 1, Commit: i - 1}, makeEntries(i, i, 1)))
	}
	require.NoError(t, w.Close())
	paths = segmentFiles(t, dir)
	require.Greater(t, len(paths), 3)
	return dir, paths
}

func TestCorruptionInAnOlderSegmentIsAnError(t *testing.T) {
	t.Run("damaged last record", func(t *testing.T) {
		dir, paths := manySegments(t)
		data, err := os.ReadFile(paths[1])
		require.NoError(t, err)
		// Find the last record's offset by walking the frames.
		offset, last := len(segmentMagic), 0
		for offset < len(data) {
			_, size, err := decodeRecord(data[offset:])
			require.NoError(t, err)
			last, offset = offset, offset+size
		}
		flipBit(t, paths[1], int64(len(data)-1))
		_, _, err = Open(dir, Options{NoSync: testNoSync})
		requireCorruptAt(t, err, paths[1], int64(last))
		require.Contains(t, err.Error(), "not the newest")
	})
	t.Run("cut short", func(t *testing.T) {
		dir, paths := manySegments(t)
		size := fileSize(t, paths[0])
		require.NoError(t, os.Truncate(paths[0], size-2))
		_, _, err := Open(dir, Options{NoSync: testNoSync})
		require.ErrorIs(t, err, ErrCorrupt)
		require.Contains(t, err.Error(), filepath.Base(paths[0]))
	})
	t.Run("missing middle segment", func(t *testing.T) {
		dir, paths := manySegments(t)
		require.NoError(t, os.Remove(paths[1]))
		_, _, err := Open(dir, Options{NoSync: testNoSync})
		require.ErrorIs(t, err, ErrCorrupt)
		require.ErrorContains(t, err, "not consecutive")
	})
	t.Run("missing oldest segment without a snapshot", func(t *testing.T) {
		dir, paths := manySegments(t)
		require.NoError(t, os.Remove(paths[0]))
		_, _, err := Open(dir, Options{NoSync: testNoSync})
		require.ErrorIs(t, err, ErrCorrupt)
		require.ErrorContains(t, err, "no snapshot")
	})
	t.Run("bad magic", func(t *testing.T) {
		dir, paths := manySegments(t)
		flipBit(t, paths[len(paths)-1], 2)
		_, _, err := Open(dir, Options{NoSync: testNoSync})
		requireCorruptAt(t, err, paths[len(paths)-1], 0)
	})
}

func TestWholeButUnreadableTailIsAnError(t *testing.T) {
	// A record whose checksum holds was written whole; if its body does not
	// parse, it is not a torn write, even at the very end.
	fx := newTornFixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, fx.name)
	content := append(append([]byte(nil), fx.content...), frame([]byte{42, 1, 2, 3})...)
	require.NoError(t, os.WriteFile(path, content, 0o640))
	_, _, err := Open(dir, Options{NoSync: testNoSync})
	requireCorruptAt(t, err, path, int64(len(fx.content)))
	require.ErrorContains(t, err, "unknown record kind 42")
}

func TestInconsistentRecordsAreAnError(t *testing.T) {
	// Records Save would never write, each with a valid checksum.
	gap := appendFrame(nil, &record{kind: kindSave, entries: makeEntries(9, 9, 1)})
	below := appendFrame(nil, &record{kind: kindSave, entries: makeEntries(2, 2, 1)})
	marker := appendFrame(nil, &record{kind: kindSnapshot, snapshotIndex: 3, snapshotTerm: 1})
	// (A marker at the same index again is allowed: a snapshot saved again
	// after recovery fell back past its damaged file.)
	lower := appendFrame(nil, &record{kind: kindSnapshot, snapshotIndex: 2, snapshotTerm: 1})
	tests := []struct {
		name  string
		extra []byte
		want  string
	}{
		{"gap", gap, "gap after index 4"},
		{"entries below a marker", append(append([]byte(nil), marker...), below...), "at or below the snapshot marker"},
		{"marker below the last", append(append([]byte(nil), marker...), lower...), "marker at index 2 follows one at 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newTornFixture(t)
			dir := t.TempDir()
			path := filepath.Join(dir, fx.name)
			require.NoError(t, os.WriteFile(path, append(append([]byte(nil), fx.content...), tt.extra...), 0o640))
			_, _, err := Open(dir, Options{NoSync: testNoSync})
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, fx.name)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// Read recovers what Open would, and leaves the directory as it found it:
// the torn tail stays, a leftover temporary file stays.
func TestReadRecoversWithoutWriting(t *testing.T) {
	fx := newTornFixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, fx.name)
	cut := fx.lastStart + 3
	require.NoError(t, os.WriteFile(path, fx.content[:cut], 0o640))
	tmp := filepath.Join(dir, "snap-0000000000000009-0000000000000001.snap"+tempSuffix)
	require.NoError(t, os.WriteFile(tmp, []byte("half"), 0o640))

	st, err := Read(dir, nil)
	require.NoError(t, err)
	require.Equal(t, &fx.before, st)
	require.Equal(t, cut, fileSize(t, path), "the torn tail is not cut")
	require.FileExists(t, tmp, "the leftover is not removed")

	_, err = Read(filepath.Join(dir, "missing"), nil)
	require.Error(t, err, "Read does not create the directory")
	require.NoDirExists(t, filepath.Join(dir, "missing"))
}
