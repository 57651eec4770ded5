package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// FS is the file system the WAL stores its files in: exactly the calls the
// WAL makes, so that a host can run it on something other than the
// operating system's files (the simulator runs it on a simulated disk that
// loses, tears and damages writes). OSFS is the production one.
//
// Names are paths as the WAL builds them with path/filepath. The contract
// each implementation keeps is the one POSIX gives a careful program:
//
//   - a file's written bytes are durable only once File.Sync returns;
//   - a file's name (its creation, a rename onto it, its removal) is
//     durable only once SyncDir of its directory returns;
//   - after a crash, unsynced bytes may be lost, kept, or kept in part (a
//     prefix of what was written, a torn write), and unsynced names may be
//     as before or as after.
//
// The WAL may call an FS from two goroutines at once (SaveSnapshot writes
// its file while a Save appends), so an FS shared that way must be safe for
// concurrent use, as the operating system is.
type FS interface {
	// Mkdir creates one directory. It fails with an error matching
	// fs.ErrExist if the name exists, fs.ErrNotExist if the parent does not.
	Mkdir(dir string) error
	// List returns the names (not paths) of the regular files in dir, in
	// lexical order.
	List(dir string) ([]string, error)
	// ReadFile returns a file's whole content, in a buffer that is the
	// caller's to keep.
	ReadFile(name string) ([]byte, error)
	// Create creates or truncates a file and opens it for appending.
	Create(name string) (File, error)
	// OpenAppend opens an existing file for appending.
	OpenAppend(name string) (File, error)
	// Rename renames a file, replacing any file of the new name.
	Rename(oldName, newName string) error
	// Remove deletes a file; an error matching fs.ErrNotExist if missing.
	Remove(name string) error
	// SyncDir makes the names in dir durable.
	SyncDir(dir string) error
}

// File is a file open for appending.
type File interface {
	// Write appends p at the end of the file.
	Write(p []byte) (int, error)
	// Sync makes the file's content durable.
	Sync() error
	// Truncate cuts the file to size bytes; the next Write goes there.
	Truncate(size int64) error
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

var _ FS = OSFS{}

func (OSFS) Mkdir(dir string) error { return os.Mkdir(dir, 0o750) }

func (OSFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, de := range entries {
		if de.Type().IsRegular() {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

func (OSFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (OSFS) Create(name string) (File, error) {
	return os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o640)
}

func (OSFS) OpenAppend(name string) (File, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
}

func (OSFS) Rename(oldName, newName string) error { return os.Rename(oldName, newName) }

func (OSFS) Remove(name string) error { return os.Remove(name) }

// SyncDir fsyncs the directory: syncing a file does not sync the name that
// points at it.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}

// syncDir syncs dir through fsys, naming it in the error.
func syncDir(fsys FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: syncing directory %s: %w", dir, err)
	}
	return nil
}

// isNotExist reports whether err says a file is missing.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
