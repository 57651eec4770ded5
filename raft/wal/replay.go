package wal

import (
	"fmt"

	"github.com/havenproject/haven/raft"
)

// replay rebuilds the log from the records of every segment, in order.
// Compaction may have deleted the oldest segments, so the first records
// seen can start anywhere; the snapshot recovery chose fixes where the log
// must start, and finish checks that it does.
type replay struct {
	hardState raft.HardState

	// entries is the log so far; entries[0] has index first.
	entries []raft.Entry
	// first is the index of entries[0], or of the next entry when entries
	// is empty. Zero until a record fixes it.
	first uint64
	// markerIndex is the highest snapshot marker replayed: no later record
	// may put an entry at or below it, since Save refuses that.
	markerIndex uint64

	// snapshot is the one recovery chose, nil if none.
	snapshot *raft.Snapshot
}

func (r *replay) known() bool { return r.first != 0 }

// last is the index of the last entry (first-1 when there are none).
func (r *replay) last() uint64 { return r.first + uint64(len(r.entries)) - 1 }

// apply replays one record. Its errors name what is inconsistent; the
// segment scanner adds the file and offset.
func (r *replay) apply(rec *record, _ int64) error {
	switch rec.kind {
	case kindSave:
		if rec.hasHardState {
			r.hardState = rec.hardState
		}
		if len(rec.entries) > 0 {
			return r.appendEntries(rec.entries)
		}
	case kindSnapshot:
		// Equal is allowed: a snapshot saved again at the index of one
		// whose file was damaged, after recovery fell back past it.
		if rec.snapshotIndex < r.markerIndex {
			return fmt.Errorf("snapshot marker at index %d follows one at %d", rec.snapshotIndex, r.markerIndex)
		}
		r.markerIndex = rec.snapshotIndex
		return r.replayMarker(rec)
	}
	return nil
}

// replayMarker does what SaveSnapshot did to the log, as the marker says.
func (r *replay) replayMarker(rec *record) error {
	index := rec.snapshotIndex
	if rec.logDiscarded {
		// Figure 13, step 7: "Discard the entire log."
		r.entries, r.first = nil, index+1
		return nil
	}
	// Figure 13, step 6: "retain log entries following it".
	if !r.known() {
		return nil // what the snapshot covered lay in compacted segments
	}
	if r.last() < index {
		return fmt.Errorf("snapshot marker at index %d says the log holds that index, but it ends at %d", index, r.last())
	}
	// The entries the snapshot covers go, unless the marker belongs to a
	// snapshot newer than the one recovery chose (whose file is damaged):
	// the chosen one does not cover them.
	covered := r.snapshot != nil && index <= r.snapshot.Meta.Index
	if covered && r.first <= index {
		r.entries, r.first = r.entries[index-r.first+1:], index+1
	}
	return nil
}

// appendEntries replays a batch: it replaces the log from its first index
// on, as Save did (§5.3: "If an existing entry conflicts with a new one
// (same index but different terms), delete the existing entry and all that
// follow it").
func (r *replay) appendEntries(batch []raft.Entry) error {
	start := batch[0].Index
	switch {
	case start <= r.markerIndex:
		return fmt.Errorf("entries start at index %d, at or below the snapshot marker at %d", start, r.markerIndex)
	case !r.known() || start <= r.first:
		// The first batch seen, or one reaching below everything still on
		// disk (what it overwrote lay in a compacted segment).
		r.entries, r.first = batch, start
	case start > r.last()+1 && r.snapshot != nil && start <= r.snapshot.Meta.Index+1:
		// The gap lies under the snapshot recovery chose: it came from a
		// leader, past the log, and a crash kept its file but lost its
		// marker, which would have said the log was discarded (Figure
		// 13, step 7). The entries saved since then start after it. Open
		// now writes such a lost marker before any save; a data dir of
		// an earlier build may not hold one.
		r.entries, r.first = batch, start
	case start > r.last()+1:
		return fmt.Errorf("entries start at index %d, leaving a gap after index %d", start, r.last())
	default:
		r.entries = append(r.entries[:start-r.first], batch...)
	}
	return nil
}

// applySnapshot cuts the log at the chosen snapshot by Figure 13's rule,
// reading the entry at its index. After the snapshot's marker this changes
// nothing (the log already starts past it). Without one (a crash between
// publishing the snapshot file and writing its marker) it does what the
// marker would have: nothing was compacted yet, so the entry is there to
// read.
// It reports whether it discarded the log.
func (r *replay) applySnapshot(index, term uint64) (discarded bool) {
	switch {
	case r.known() && index < r.first:
		// Already past the snapshot.
	case r.known() && index <= r.last() && r.entries[index-r.first].Term == term:
		// Step 6: "retain log entries following it".
		r.entries, r.first = r.entries[index-r.first+1:], index+1
	default:
		// Step 7: "discard the entire log" (a conflicting entry at index,
		// a log ending before it, or no log at all).
		r.entries, r.first = nil, index+1
		return true
	}
	return false
}

// finish applies the chosen snapshot and checks that the log starts right
// after it.
func (r *replay) finish() (*State, error) {
	var snapshotIndex uint64
	if r.snapshot != nil {
		snapshotIndex = r.snapshot.Meta.Index
	}
	if !r.known() && r.markerIndex > snapshotIndex {
		// The log was compacted up to a newer snapshot than the one
		// chosen (whose file is damaged or gone), and no entry after it
		// tells where the log starts: the entries in between are gone.
		return nil, fmt.Errorf("wal: %w: the log was compacted through index %d but the newest readable snapshot ends at %d; entries %d to %d are missing",
			ErrCorrupt, r.markerIndex, snapshotIndex, snapshotIndex+1, r.markerIndex)
	}
	var discarded bool
	if r.snapshot != nil {
		discarded = r.applySnapshot(snapshotIndex, r.snapshot.Meta.Term)
	}
	if r.known() && r.first != snapshotIndex+1 {
		if r.snapshot == nil {
			return nil, fmt.Errorf("wal: %w: the log starts at index %d but there is no snapshot", ErrCorrupt, r.first)
		}
		return nil, fmt.Errorf("wal: %w: the log starts at index %d but snapshot %s ends at %d; entries %d to %d are missing",
			ErrCorrupt, r.first, snapshotName{snapshotIndex, r.snapshot.Meta.Term}, snapshotIndex, snapshotIndex+1, r.first-1)
	}
	state := &State{HardState: r.hardState, Snapshot: r.snapshot, markerIndex: r.markerIndex, discarded: discarded}
	if len(r.entries) > 0 {
		// A fresh slice: the replayed one may sit in a larger array whose
		// head holds entries the snapshot dropped.
		state.Entries = append([]raft.Entry(nil), r.entries...)
	}
	return state, nil
}
