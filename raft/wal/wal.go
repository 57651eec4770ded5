package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/havenproject/haven/raft"
)

// DefaultSegmentBytes is the segment size used when Options leaves it zero.
const DefaultSegmentBytes = 64 << 20

// maxRetainedBuffer caps the encoding buffer kept between Saves, so that
// one huge batch does not pin its size in memory for the WAL's lifetime.
const maxRetainedBuffer = 4 << 20

// Options tunes a WAL. The zero value is the production setting.
type Options struct {
	SegmentBytes int64 // rotate to a new segment file past this size; default 64 MiB
	NoSync       bool  // skip fsync (tests and benchmarks of the in-memory path only)
	// FS is where the files live; nil means OSFS, the operating system's.
	FS FS
}

// State is what recovery found on disk.
type State struct {
	HardState raft.HardState
	Snapshot  *raft.Snapshot // newest valid snapshot, nil if none
	Entries   []raft.Entry   // contiguous entries after the snapshot index (or from 1)

	// SkippedSnapshots lists newer snapshot files that were damaged and
	// passed over for Snapshot (each a *CorruptionError), for the host to
	// report. Empty in the ordinary case.
	SkippedSnapshots []error

	// markerIndex is the newest snapshot marker in the log: past
	// Snapshot's index when recovery fell back past a damaged file.
	markerIndex uint64
	// discarded says that recovery discarded the whole log at Snapshot
	// (Figure 13, step 7); it matters when Snapshot's marker is missing.
	discarded bool
}

// WAL is the durable storage of one Raft server: its hard state, its log
// and its snapshots, in one directory (one per Raft group). The methods may
// be called from several goroutines; they are serialised.
type WAL struct {
	mu sync.Mutex
	// snapMu serialises SaveSnapshot calls, which write their file
	// without holding mu.
	snapMu sync.Mutex
	dir    string
	opts   Options
	fs     FS

	// segments lists the segment files, oldest first; the last is active.
	segments   []segmentName
	active     File
	activeSize int64
	// headSize is how many bytes a segment holds right after creation. A
	// segment holding no more is never rotated, however small
	// SegmentBytes is.
	headSize int64

	hardState raft.HardState // the last hard state saved
	log       logTerms       // the shape of the log saved
	// snapshot names the newest snapshot file, the one recovery would
	// choose; nil before the first.
	snapshot *snapshotName
	// markerIndex is the newest snapshot marker in the log, which may be
	// past snapshot's after recovery fell back past a damaged file: no
	// snapshot below it can be saved (checkSnapshot).
	markerIndex uint64

	buf []byte // encoding buffer, reused by each Save
	// unsynced is set while the active segment ends in records written but
	// not fsynced (commit-only saves).
	unsynced bool

	// failed is set when a write or sync failed. What reached the disk is
	// then unknown (and after a failed fsync, the kernel may have dropped
	// the dirty pages), so the WAL refuses all further work; reopening
	// recovers from what the disk really holds.
	failed error
	closed bool
}

// Open opens the WAL in dir, creating dir if missing, and returns what
// recovery found there. See the package documentation for the rules.
func Open(dir string, opts Options) (*WAL, *State, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	if err := createDir(fsys, dir, !opts.NoSync); err != nil {
		return nil, nil, err
	}
	if err := removeTempFiles(fsys, dir); err != nil {
		return nil, nil, err
	}
	state, segments, lastSize, lastEnd, err := recoverState(fsys, dir)
	if err != nil {
		return nil, nil, err
	}
	snapshot := state.Snapshot

	w := &WAL{
		dir:         dir,
		opts:        opts,
		fs:          fsys,
		segments:    segments,
		hardState:   state.HardState,
		log:         newLogTerms(state.Snapshot, state.Entries),
		headSize:    int64(len(segmentMagic)),
		markerIndex: state.markerIndex,
	}
	if snapshot != nil {
		w.snapshot = &snapshotName{index: snapshot.Meta.Index, term: snapshot.Meta.Term}
	}
	if len(segments) == 0 {
		if err := w.startSegment(1); err != nil {
			return nil, nil, err
		}
	} else {
		path := filepath.Join(dir, segments[len(segments)-1].String())
		w.active, err = openSegmentForAppend(fsys, path, lastSize, lastEnd, !opts.NoSync)
		if err != nil {
			return nil, nil, err
		}
		w.activeSize = lastEnd
	}
	if snapshot != nil && snapshot.Meta.Index > state.markerIndex {
		// A crash kept the snapshot's file and lost its marker
		// (SaveSnapshot publishes the file first). Recovery cut the log at
		// the snapshot by Figure 13's rule; the marker records that cut
		// before anything is saved after it. Without it the next recovery
		// would replay the old log and the entries saved since as one log,
		// and cut it again at the snapshot: after a discard (an entry of
		// another term at the snapshot's index), those entries would go too.
		marker := record{kind: kindSnapshot, snapshotIndex: snapshot.Meta.Index, snapshotTerm: snapshot.Meta.Term,
			logDiscarded: state.discarded}
		if err := w.appendRecord(&marker, true); err != nil {
			_ = w.active.Close()
			return nil, nil, fmt.Errorf("wal: writing the lost marker of snapshot %s: %w", w.snapshot, err)
		}
		w.markerIndex = snapshot.Meta.Index
	}
	return w, state, nil
}

// Read returns what Open would recover from dir without writing anything:
// no directory is created, no leftover temporary file removed, no torn
// tail truncated (the state is the records before it all the same). It is
// for tools that inspect a data dir, such as havend dump; fsys nil means
// OSFS. The directory must exist.
func Read(dir string, fsys FS) (*State, error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	state, _, _, _, err := recoverState(fsys, dir)
	return state, err
}

// recoverState loads the newest snapshot that reads back whole and replays
// the segments over it (the package documentation's rules). It writes
// nothing; lastSize and lastEnd are the newest segment's size and the end
// of its last good record, for Open to truncate a torn tail at.
func recoverState(fsys FS, dir string) (state *State, segments []segmentName, lastSize, lastEnd int64, err error) {
	snapshot, skipped, err := loadNewestSnapshot(fsys, dir)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	segments, err = listSegments(fsys, dir)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	r := replay{snapshot: snapshot}
	for i, seg := range segments {
		path := filepath.Join(dir, seg.String())
		data, err := fsys.ReadFile(path)
		if err != nil {
			return nil, nil, 0, 0, fmt.Errorf("wal: reading %s: %w", path, err)
		}
		isLast := i == len(segments)-1
		end, err := scanSegment(path, data, isLast, r.apply)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		lastSize, lastEnd = int64(len(data)), end
	}
	state, err = r.finish()
	if err != nil {
		return nil, nil, 0, 0, err
	}
	state.SkippedSnapshots = skipped
	return state, segments, lastSize, lastEnd, nil
}

// createDir makes dir and any missing parents, syncing each parent whose
// entries changed: a directory whose own name is not durable can vanish in
// a crash with every file in it.
func createDir(fsys FS, dir string, sync bool) error {
	dir = filepath.Clean(dir)
	err := fsys.Mkdir(dir)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return nil
	case isNotExist(err) && filepath.Dir(dir) != dir:
		if err := createDir(fsys, filepath.Dir(dir), sync); err != nil {
			return err
		}
		if err := fsys.Mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("wal: creating %s: %w", dir, err)
		}
	default:
		return fmt.Errorf("wal: creating %s: %w", dir, err)
	}
	if sync {
		return syncDir(fsys, filepath.Dir(dir))
	}
	return nil
}

// Save makes hs and entries durable with one write and one fsync (group
// commit: however many entries the batch holds). entries replace every
// stored entry at or above entries[0].Index. An empty hs, or one equal to
// the last saved, means "unchanged"; with no entries either, Save writes
// nothing. A save that changes only the commit index is written but not
// fsynced (it becomes durable with the next fsync); one that changes the
// term, the vote or the entries always is, whatever the host believes.
//
// Figure 2: "Updated on stable storage before responding to RPCs". The
// host must not send what depends on hs or entries before Save returns.
func (w *WAL) Save(hs raft.HardState, entries []raft.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	writeHardState := !hs.IsEmpty() && hs != w.hardState
	if !writeHardState && len(entries) == 0 {
		return nil
	}
	if writeHardState {
		if err := checkHardState(w.hardState, hs); err != nil {
			return err
		}
	}
	if len(entries) > 0 {
		if err := w.log.checkAppend(entries); err != nil {
			return err
		}
	}
	// Only what Raft must not forget is synced: a new term or vote (§5.2,
	// one vote per term) and entries (§5.3, acknowledged once stored). A
	// commit index alone can be recovered from the leader, and raft asks
	// for no fsync then (Ready.MustSync); see the package documentation.
	sync := len(entries) > 0 || (writeHardState && (hs.Term != w.hardState.Term || hs.Vote != w.hardState.Vote))
	rec := record{kind: kindSave, hasHardState: writeHardState, hardState: hs, entries: entries}
	if err := w.appendRecord(&rec, sync); err != nil {
		return err
	}
	if writeHardState {
		w.hardState = hs
	}
	if len(entries) > 0 {
		w.log.append(entries)
	}
	return nil
}

// checkHardState refuses a hard state that would undo a promise already on
// disk.
func checkHardState(prev, next raft.HardState) error {
	// Figure 2: currentTerm "increases monotonically".
	if next.Term < prev.Term {
		return fmt.Errorf("wal: hard state term %d is below the saved term %d", next.Term, prev.Term)
	}
	// §5.2: "each server will vote for at most one candidate in a given
	// term".
	if next.Term == prev.Term && prev.Vote != raft.None && next.Vote != prev.Vote {
		return fmt.Errorf("wal: hard state changes the vote of term %d from %d to %d", next.Term, prev.Vote, next.Vote)
	}
	return nil
}

// SaveSnapshot stores s and compacts the log behind it.
//
// The snapshot file is published first (temporary file, fsync, rename,
// directory fsync), then a marker record goes into the log. In that order a
// crash can leave a snapshot without its marker, which recovery handles (it
// applies the chosen snapshot once more at the end), but never a marker
// without its snapshot, which would have dropped entries nothing covers.
// Then segments whose entries all lie at or below s.Meta.Index are deleted,
// and snapshot files other than s and the one before it.
//
// Entries following s stay if the log holds s's last entry with s's term;
// otherwise the whole log is discarded (Figure 13, steps 6 and 7), so the
// next Save must start at s.Meta.Index+1.
//
// The file is written and synced without holding the lock Save takes, so a
// large snapshot does not hold up the log; the lock is taken to publish it.
// SaveSnapshot calls are serialised with each other.
func (w *WAL) SaveSnapshot(s raft.Snapshot) error {
	w.snapMu.Lock()
	defer w.snapMu.Unlock()
	if err := w.checkSnapshot(&s); err != nil {
		return err
	}
	// Only SaveSnapshot moves the snapshot index, and snapMu is held, so
	// the check stays true while the file is written.
	tmp, err := writeSnapshotTemp(w.fs, w.dir, &s, !w.opts.NoSync)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		_ = w.fs.Remove(tmp)
		return err
	}
	published, err := publishSnapshot(w.fs, w.dir, &s, tmp, !w.opts.NoSync)
	if err != nil {
		if published {
			w.failed = err
		}
		return err
	}
	marker := record{kind: kindSnapshot, snapshotIndex: s.Meta.Index, snapshotTerm: s.Meta.Term,
		logDiscarded: !w.log.holds(s.Meta.Index, s.Meta.Term)}
	// Synced before any segment is deleted: the segments it lets go must
	// not vanish while the record that says why could still be lost.
	if err := w.appendRecord(&marker, true); err != nil {
		return err
	}
	w.log.applySnapshot(s.Meta.Index, s.Meta.Term)
	previous := w.snapshot
	w.snapshot = &snapshotName{index: s.Meta.Index, term: s.Meta.Term}
	w.markerIndex = s.Meta.Index

	if err := w.removeSegmentsBelow(s.Meta.Index); err != nil {
		return err
	}
	keep := []snapshotName{*w.snapshot}
	if previous != nil {
		// Kept so that a damaged newest snapshot has something to fall
		// back to, as long as the log still reaches back to it.
		keep = append(keep, *previous)
	}
	if err := removeSnapshotsExcept(w.fs, w.dir, keep...); err != nil {
		return err
	}
	if !w.opts.NoSync {
		return syncDir(w.fs, w.dir)
	}
	return nil
}

// checkSnapshot refuses a snapshot SaveSnapshot cannot store.
func (w *WAL) checkSnapshot(s *raft.Snapshot) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if s.Meta.Index == 0 {
		return errors.New("wal: snapshot at index 0")
	}
	if s.Meta.Index <= w.log.snapshotIndex {
		return fmt.Errorf("wal: snapshot at index %d, the saved one is at %d: %w",
			s.Meta.Index, w.log.snapshotIndex, raft.ErrSnapshotTooOld)
	}
	if s.Meta.Index < w.markerIndex {
		// Recovery fell back past a damaged snapshot whose marker is in
		// the log; a marker below it would make the log unreadable
		// (markers never go back). The log keeps the entries until a
		// snapshot at or past that marker. Equal is fine.
		return fmt.Errorf("wal: snapshot at index %d is below the snapshot marker at %d in the log (its file was damaged): %w",
			s.Meta.Index, w.markerIndex, raft.ErrSnapshotTooOld)
	}
	return nil
}

// removeSegmentsBelow deletes, oldest first, every segment whose live
// entries all lie at or below index. A segment's live entries are all below
// its successor's firstIndex, so the test reads names only. The active
// segment always stays: it holds the newest hard state and marker.
func (w *WAL) removeSegmentsBelow(index uint64) error {
	for len(w.segments) > 1 && w.segments[1].firstIndex <= index+1 {
		path := filepath.Join(w.dir, w.segments[0].String())
		if err := w.fs.Remove(path); err != nil && !isNotExist(err) {
			return fmt.Errorf("wal: removing compacted segment: %w", err)
		}
		// Synced one at a time so that the survivors stay consecutive
		// whatever order the file system persists removals in.
		if !w.opts.NoSync {
			if err := syncDir(w.fs, w.dir); err != nil {
				return err
			}
		}
		w.segments = w.segments[1:]
	}
	return nil
}

// Close syncs and closes the active segment.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	if w.active == nil { // a rotation failed half-way
		return nil
	}
	var err error
	if w.failed == nil && !w.opts.NoSync {
		err = w.active.Sync()
	}
	if closeErr := w.active.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("wal: closing: %w", err)
	}
	return nil
}

func (w *WAL) usable() error {
	if w.closed {
		return ErrClosed
	}
	if w.failed != nil {
		return fmt.Errorf("wal: unusable after an earlier failure (reopen to recover): %w", w.failed)
	}
	return nil
}

// appendRecord writes rec to the active segment with one write and, if sync
// and not NoSync, one fsync (which also makes durable any unsynced records
// before it), starting a new segment first if the active one is full. Any
// failure makes the WAL unusable.
func (w *WAL) appendRecord(rec *record, sync bool) error {
	if w.activeSize >= w.opts.SegmentBytes && w.activeSize > w.headSize {
		if err := w.rotate(); err != nil {
			w.failed = err
			return err
		}
	}
	w.buf = appendFrame(w.buf[:0], rec)
	if len(w.buf)-frameHeaderSize > maxBodySize {
		// Recovery would take such a record for a torn one; refuse it
		// before it is written rather than lose it after.
		size := len(w.buf)
		w.buf = nil
		return fmt.Errorf("wal: a record of %d bytes exceeds the limit of %d; save fewer entries at a time", size, maxBodySize)
	}
	sync = sync && !w.opts.NoSync
	err := writeAndSync(w.active, w.buf, sync)
	if err != nil {
		w.failed = fmt.Errorf("wal: appending to %s: %w", w.segments[len(w.segments)-1], err)
		return w.failed
	}
	w.unsynced = !sync && !w.opts.NoSync
	w.activeSize += int64(len(w.buf))
	if cap(w.buf) > maxRetainedBuffer {
		w.buf = nil
	}
	return nil
}

// rotate closes the active segment and starts the next one. An unsynced
// record in it (a commit-only save) is synced first: a crash may only tear
// the newest segment, and recovery calls damage anywhere else corruption.
func (w *WAL) rotate() error {
	if w.unsynced {
		if err := w.active.Sync(); err != nil {
			return fmt.Errorf("wal: syncing full segment: %w", err)
		}
		w.unsynced = false
	}
	if err := w.active.Close(); err != nil {
		return fmt.Errorf("wal: closing full segment: %w", err)
	}
	w.active = nil
	return w.startSegment(w.segments[len(w.segments)-1].seq + 1)
}

// startSegment creates segment seq and makes it active. Its head repeats
// the current hard state, so the newest hard state always lies in a segment
// compaction keeps (the active one is never deleted).
func (w *WAL) startSegment(seq uint64) error {
	name := segmentName{seq: seq, firstIndex: w.log.lastIndex + 1}
	var head []byte
	if !w.hardState.IsEmpty() {
		head = appendFrame(nil, &record{kind: kindSave, hasHardState: true, hardState: w.hardState})
	}
	f, size, err := createSegment(w.fs, w.dir, name, head, !w.opts.NoSync)
	if err != nil {
		return err
	}
	w.segments = append(w.segments, name)
	w.active, w.activeSize, w.headSize = f, size, size
	return nil
}
