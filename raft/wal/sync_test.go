package wal

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
)

// testNoSync is the NoSync the tests run with: on, for speed, unless
// HAVEN_WAL_FSYNC=1 asks for the whole suite with real fsyncs.
var testNoSync = os.Getenv("HAVEN_WAL_FSYNC") != "1"

// countingFS is the operating system's file system, counting the fsyncs of
// files and letting a test hold up the writing of snapshot files.
type countingFS struct {
	OSFS
	mu        sync.Mutex
	fileSyncs int
	// snapshotWrite, when set, is waited on before each write to a
	// temporary snapshot file.
	snapshotWrite chan struct{}
}

func (c *countingFS) Create(name string) (File, error) {
	f, err := c.OSFS.Create(name)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c, snapshot: strings.HasPrefix(filepath.Base(name), "snap-")}, nil
}

func (c *countingFS) OpenAppend(name string) (File, error) {
	f, err := c.OSFS.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, fs: c}, nil
}

func (c *countingFS) syncs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fileSyncs
}

type countingFile struct {
	File
	fs       *countingFS
	snapshot bool
}

func (f *countingFile) Write(p []byte) (int, error) {
	if f.snapshot && f.fs.snapshotWrite != nil {
		<-f.fs.snapshotWrite
	}
	return f.File.Write(p)
}

func (f *countingFile) Sync() error {
	f.fs.mu.Lock()
	f.fs.fileSyncs++
	f.fs.mu.Unlock()
	return f.File.Sync()
}

// Figure 2: currentTerm, votedFor and log[] are "updated on stable storage
// before responding to RPCs"; commitIndex is volatile state, which a
// restarted server learns again from the leader. So a save that changes
// only the commit index needs no fsync, and every other one does.
// Reference: Figure 2
func TestSaveSyncsExactlyWhatRaftMustNotForget(t *testing.T) {
	dir := t.TempDir()
	fsys := &countingFS{}
	w, _ := mustOpen(t, dir, Options{FS: fsys})
	step := func(hs raft.HardState, entries []raft.Entry, wantSync bool, what string) {
		t.Helper()
		before := fsys.syncs()
		require.NoError(t, w.Save(hs, entries))
		if wantSync {
			require.Equal(t, before+1, fsys.syncs(), "%s must be fsynced", what)
		} else {
			require.Equal(t, before, fsys.syncs(), "%s must not cost an fsync", what)
		}
	}
	step(raft.HardState{Term: 1}, nil, true, "a new term")
	step(raft.HardState{Term: 1, Vote: 2}, nil, true, "a vote")
	step(raft.HardState{Term: 1, Vote: 2, Commit: 0}, makeEntries(1, 3, 1), true, "entries")
	step(raft.HardState{Term: 1, Vote: 2, Commit: 2}, nil, false, "a commit index alone")
	step(raft.HardState{Term: 1, Vote: 2, Commit: 3}, makeEntries(4, 4, 1), true, "entries with a commit index")
	step(raft.HardState{Term: 2, Vote: 2, Commit: 3}, nil, true, "a new term with the same commit")

	// The unsynced commit is still recovered after a clean close.
	step(raft.HardState{Term: 2, Vote: 2, Commit: 4}, nil, false, "a commit index alone")
	w, st := reopen(t, w, dir, Options{FS: fsys})
	require.Equal(t, raft.HardState{Term: 2, Vote: 2, Commit: 4}, st.HardState)
	require.NoError(t, w.Close())
}

// A crash may only tear the newest segment; damage in an older one is
// corruption. So a segment that ends in an unsynced commit-only record is
// synced before the WAL moves on to the next.
func TestRotationSyncsAnUnsyncedTail(t *testing.T) {
	first := func(w *WAL) {
		require.NoError(t, w.Save(raft.HardState{Term: 1, Vote: 1}, makeEntries(1, 4, 1)))
	}
	// The size of a segment holding the first save: the segment size that
	// makes the commit-only save after it the last record of its segment.
	scratch := t.TempDir()
	w, _ := mustOpen(t, scratch, Options{NoSync: true})
	first(w)
	require.NoError(t, w.Close())
	info, err := os.Stat(segmentFiles(t, scratch)[0])
	require.NoError(t, err)

	dir := t.TempDir()
	fsys := &countingFS{}
	w, _ = mustOpen(t, dir, Options{FS: fsys, SegmentBytes: info.Size() + 1})
	first(w)
	require.NoError(t, w.Save(raft.HardState{Term: 1, Vote: 1, Commit: 4}, nil))
	require.Len(t, segmentFiles(t, dir), 1)
	before := fsys.syncs()
	require.NoError(t, w.Save(raft.HardState{}, makeEntries(5, 5, 1)))
	require.Len(t, segmentFiles(t, dir), 2)
	// The old segment's tail, the new segment's head, and the new record.
	require.Equal(t, before+3, fsys.syncs())
	require.NoError(t, w.Close())
}

// Writing a snapshot file can take long; Save must not wait for it.
func TestSaveSnapshotDoesNotBlockSave(t *testing.T) {
	dir := t.TempDir()
	fsys := &countingFS{}
	w, _ := mustOpen(t, dir, Options{FS: fsys, NoSync: testNoSync})
	require.NoError(t, w.Save(raft.HardState{Term: 1, Vote: 1, Commit: 5}, makeEntries(1, 5, 1)))

	fsys.snapshotWrite = make(chan struct{})
	snapDone := make(chan error, 1)
	go func() {
		snapDone <- w.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 5, Term: 1}, Data: []byte("state")})
	}()
	saved := make(chan error, 1)
	go func() { saved <- w.Save(raft.HardState{Term: 1, Vote: 1, Commit: 5}, makeEntries(6, 8, 1)) }()
	select {
	case err := <-saved:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Save waited for the snapshot file to be written")
	}
	close(fsys.snapshotWrite)
	require.NoError(t, <-snapDone)

	w, st := reopen(t, w, dir, Options{FS: fsys, NoSync: testNoSync})
	require.Equal(t, uint64(5), st.Snapshot.Meta.Index)
	require.Equal(t, makeEntries(6, 8, 1), st.Entries)
	require.NoError(t, w.Close())
}
