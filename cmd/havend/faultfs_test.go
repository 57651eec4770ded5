package main

import (
	"errors"
	"log/slog"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/raft/wal"
)

func entries(first, last, term uint64) []raft.Entry {
	var out []raft.Entry
	for i := first; i <= last; i++ {
		out = append(out, raft.Entry{Index: i, Term: term, Data: []byte{byte(i)}})
	}
	return out
}

// Power-loss mode keeps what was not fsynced in memory: a process that
// dies (here: a WAL dropped without Close) leaves only what was synced.
func TestFaultFSPowerLossKeepsOnlySyncedWrites(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{powerLoss: true}
	w, _, err := wal.Open(dir, wal.Options{FS: fsys})
	require.NoError(t, err)
	require.NoError(t, w.Save(raft.HardState{Term: 1, Vote: 1}, entries(1, 3, 1)))
	// A commit-only save is written but not fsynced (raft/wal).
	require.NoError(t, w.Save(raft.HardState{Term: 1, Vote: 1, Commit: 3}, nil))
	st, err := wal.Read(dir, nil)
	require.NoError(t, err)
	require.Equal(t, raft.HardState{Term: 1, Vote: 1}, st.HardState, "the unsynced commit is lost")
	require.Len(t, st.Entries, 3, "the synced entries are kept")

	// The same without power loss: the operating system keeps the write.
	dir2 := t.TempDir()
	w2, _, err := wal.Open(dir2, wal.Options{FS: &faultFS{}})
	require.NoError(t, err)
	require.NoError(t, w2.Save(raft.HardState{Term: 1, Vote: 1}, entries(1, 3, 1)))
	require.NoError(t, w2.Save(raft.HardState{Term: 1, Vote: 1, Commit: 3}, nil))
	st, err = wal.Read(dir2, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(3), st.HardState.Commit)
	_ = w.Close()
	_ = w2.Close()
}

// A failed fsync or a full disk fails the Save (and the WAL refuses more);
// once the fault heals, reopening recovers what was saved before it.
func TestFaultFSFailuresAndRecovery(t *testing.T) {
	for _, tc := range []struct {
		mode  int32
		errno syscall.Errno
	}{{diskEIO, syscall.EIO}, {diskENOSPC, syscall.ENOSPC}} {
		for _, powerLoss := range []bool{false, true} {
			dir := t.TempDir()
			fsys := &faultFS{powerLoss: powerLoss}
			w, _, err := wal.Open(dir, wal.Options{FS: fsys})
			require.NoError(t, err)
			require.NoError(t, w.Save(raft.HardState{Term: 1, Vote: 1}, entries(1, 3, 1)))
			fsys.mode.Store(tc.mode)
			err = w.Save(raft.HardState{Term: 2, Vote: 1}, entries(4, 6, 2))
			require.True(t, errors.Is(err, tc.errno), "mode %d: %v", tc.mode, err)
			require.Error(t, w.Save(raft.HardState{Term: 2, Vote: 1}, entries(4, 6, 2)), "the WAL refuses work after a failure")
			fsys.mode.Store(diskOK)
			w, st, err := wal.Open(dir, wal.Options{FS: fsys})
			require.NoError(t, err, "mode %d, power loss %v: recovers after the fault", tc.mode, powerLoss)
			require.GreaterOrEqual(t, len(st.Entries), 3)
			require.Equal(t, entries(1, 3, 1), st.Entries[:3])
			require.NoError(t, w.Save(raft.HardState{Term: 3, Vote: 2}, entries(uint64(len(st.Entries))+1, uint64(len(st.Entries))+1, 3)))
			require.NoError(t, w.Close())
		}
	}
}

func TestWalFSIsOSFSWithoutTheHooks(t *testing.T) {
	t.Setenv(envDiskControl, "")
	t.Setenv(envPowerLoss, "")
	require.Nil(t, walFS(slog.New(slog.DiscardHandler)))
}
