package wal

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is matched (errors.Is) by every error that reports damaged
	// or inconsistent files, as opposed to an I/O failure or a misuse.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("wal: closed")
)

// CorruptionError says which file is damaged and where. Recovery returns it
// rather than skip a record: a skipped record could be an acknowledged vote
// or entry, and a Raft server that forgets those breaks the safety argument
// of §5.2 and §5.4.
type CorruptionError struct {
	Path   string // the damaged file
	Offset int64  // byte offset of the first bad record in it
	Err    error  // what is wrong there
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt file %s at byte offset %d: %v", e.Path, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) hold for every CorruptionError.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }
