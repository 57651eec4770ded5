package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/havenproject/haven/raft/wal"
)

// Test hooks of the WAL's file layer, for the real-cluster fault suite
// (cmd/havend/nemesis). They exist only when the environment asks for
// them, and a node started so says it loudly; never set them in
// production (docs/host.md, "Test hooks"):
//
//	HAVEN_TEST_DISK_CONTROL=FILE  FILE holds one word, read every 20 ms:
//	                              ok, eio (every fsync fails with EIO) or
//	                              enospc (every write fails with ENOSPC,
//	                              after writing half of its bytes)
//	HAVEN_TEST_POWER_LOSS=1       written bytes stay in this process's
//	                              memory until their file is fsynced, so a
//	                              kill -9 loses them as a power loss would
//
// A WAL that sees a failed write or fsync refuses all further work and
// the node stops (raft/wal; node.go), to recover from what the disk holds
// when it is restarted.
const (
	envDiskControl = "HAVEN_TEST_DISK_CONTROL"
	envPowerLoss   = "HAVEN_TEST_POWER_LOSS"
)

// walFS is the file system the WAL runs on: nil (the operating system's)
// unless a test hook is asked for.
func walFS(log *slog.Logger) wal.FS {
	control, powerLoss := os.Getenv(envDiskControl), os.Getenv(envPowerLoss) == "1"
	if control == "" && !powerLoss {
		return nil
	}
	log.Warn("TEST HOOK: the WAL runs on a fault-injecting file system; never in production",
		"disk_control", control, "power_loss", powerLoss)
	f := &faultFS{powerLoss: powerLoss}
	if control != "" {
		f.poll(control, log)
	}
	return f
}

// The fault modes of faultFS.
const (
	diskOK int32 = iota
	diskEIO
	diskENOSPC
)

// faultFS is wal.OSFS with faults switched from outside and, in power-loss
// mode, writes held back until their fsync.
type faultFS struct {
	wal.OSFS
	mode      atomic.Int32
	powerLoss bool
}

// poll reads the control file now and every 20 ms after.
func (f *faultFS) poll(path string, log *slog.Logger) {
	read := func() {
		b, err := os.ReadFile(path)
		if err != nil {
			return // no file yet: keep the mode
		}
		var m int32
		switch w := string(bytes.TrimSpace(b)); w {
		case "ok", "":
			m = diskOK
		case "eio":
			m = diskEIO
		case "enospc":
			m = diskENOSPC
		default:
			log.Warn("TEST HOOK: unknown disk mode", "mode", w)
			return
		}
		if old := f.mode.Swap(m); old != m {
			log.Warn("TEST HOOK: disk mode", "mode", string(bytes.TrimSpace(b)))
		}
	}
	read()
	go func() {
		for range time.Tick(20 * time.Millisecond) {
			read()
		}
	}()
}

func (f *faultFS) Create(name string) (wal.File, error) {
	file, err := f.OSFS.Create(name)
	if err != nil {
		return nil, err
	}
	return f.wrap(file.(*os.File), name), nil
}

func (f *faultFS) OpenAppend(name string) (wal.File, error) {
	file, err := f.OSFS.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return f.wrap(file.(*os.File), name), nil
}

func (f *faultFS) SyncDir(dir string) error {
	if f.mode.Load() == diskEIO {
		return &os.PathError{Op: "fsync", Path: dir, Err: syscall.EIO}
	}
	return f.OSFS.SyncDir(dir)
}

func (f *faultFS) wrap(file *os.File, name string) *faultFile {
	return &faultFile{fs: f, f: file, name: name}
}

// faultFile is one open file of faultFS. In power-loss mode, pending holds
// what was written since the last fsync; only Sync hands it to the
// operating system (and then fsyncs), so a process killed before loses it.
type faultFile struct {
	fs      *faultFS
	f       *os.File
	name    string
	mu      sync.Mutex
	pending []byte
}

func (ff *faultFile) Write(p []byte) (int, error) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	if ff.fs.mode.Load() == diskENOSPC {
		half := p[:len(p)/2]
		n, _ := ff.write(half)
		return n, &os.PathError{Op: "write", Path: ff.name, Err: syscall.ENOSPC}
	}
	return ff.write(p)
}

func (ff *faultFile) write(p []byte) (int, error) {
	if ff.fs.powerLoss {
		ff.pending = append(ff.pending, p...)
		return len(p), nil
	}
	return ff.f.Write(p)
}

func (ff *faultFile) Sync() error {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	if ff.fs.mode.Load() == diskEIO {
		// After a failed fsync the kernel may drop the dirty pages:
		// what was pending is lost.
		ff.pending = nil
		return &os.PathError{Op: "fsync", Path: ff.name, Err: syscall.EIO}
	}
	if len(ff.pending) > 0 {
		if _, err := ff.f.Write(ff.pending); err != nil {
			return err
		}
		ff.pending = ff.pending[:0]
	}
	return ff.f.Sync()
}

func (ff *faultFile) Truncate(size int64) error {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	if len(ff.pending) > 0 {
		return fmt.Errorf("faultfs: truncating %s with unsynced writes pending", ff.name)
	}
	return ff.f.Truncate(size)
}

// Close drops what was never synced, as a power loss after it would.
func (ff *faultFile) Close() error {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	ff.pending = nil
	return ff.f.Close()
}
