package wal

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
)

// testingT is what the helpers need, met by *testing.T, *testing.B and
// *rapid.T alike.
type testingT interface {
	require.TestingT
	Helper()
}

// makeEntries returns entries first..last of one term, each with data that
// names it, so that a misplaced entry shows in a failed comparison.
func makeEntries(first, last, term uint64) []raft.Entry {
	var out []raft.Entry
	for i := first; i <= last; i++ {
		out = append(out, raft.Entry{Term: term, Index: i, Data: []byte(fmt.Sprintf("entry %d of term %d", i, term))})
	}
	return out
}

// concat joins entry slices into a fresh one.
func concat(parts ...[]raft.Entry) []raft.Entry {
	var out []raft.Entry
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func mustOpen(t testingT, dir string, opts Options) (*WAL, *State) {
	t.Helper()
	w, st, err := Open(dir, opts)
	require.NoError(t, err)
	return w, st
}

// reopen closes w and opens dir again.
func reopen(t testingT, w *WAL, dir string, opts Options) (*WAL, *State) {
	t.Helper()
	require.NoError(t, w.Close())
	return mustOpen(t, dir, opts)
}

// segmentFiles lists the segment paths of dir, oldest first.
func segmentFiles(t testingT, dir string) []string {
	t.Helper()
	names, err := listSegments(OSFS{}, dir)
	require.NoError(t, err)
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(dir, n.String()))
	}
	return paths
}

// lastSegment is the path of the newest segment of dir.
func lastSegment(t testingT, dir string) string {
	t.Helper()
	paths := segmentFiles(t, dir)
	require.NotEmpty(t, paths)
	return paths[len(paths)-1]
}

func fileSize(t testingT, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Size()
}

// flipBit flips one bit of the byte at offset in path.
func flipBit(t testingT, path string, offset int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Less(t, offset, int64(len(data)))
	data[offset] ^= 0x10
	require.NoError(t, os.WriteFile(path, data, 0o640))
}

// snapshotFiles lists the snapshot file names of dir, newest first.
func snapshotFiles(t testingT, dir string) []string {
	t.Helper()
	names, err := listSnapshots(OSFS{}, dir)
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		out = append(out, n.String())
	}
	return out
}
