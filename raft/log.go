package raft

import "fmt"

// raftLog is the in-memory view of a server's log: a snapshot prefix
// (compacted away, §7) followed by the entries after it. The host keeps the
// durable copy; this copy remembers how much of it the host has persisted
// and applied, so Ready can hand out only what is new.
//
//	snapshot | entries[0] ... entries[len-1]
//	 ≤ snapIndex  snapIndex+1 ... lastIndex()
//
//	applied ≤ committed ≤ lastIndex()     (Figure 2: lastApplied ≤ commitIndex)
//	persisted ≤ lastIndex()
type raftLog struct {
	// snapIndex and snapTerm are the last index and term the newest snapshot
	// covers (Figure 13: lastIncludedIndex/lastIncludedTerm).
	snapIndex uint64
	snapTerm  uint64
	// entries hold indexes snapIndex+1 .. snapIndex+len(entries).
	entries []Entry

	// committed is Figure 2's commitIndex: the highest index known to be
	// stored on a quorum of the configuration.
	committed uint64
	// applied is Figure 2's lastApplied, as acknowledged by the host.
	applied uint64
	// persisted is the highest index the host has made durable. Entries above
	// it are handed out by the next Ready.
	persisted uint64
	// applyCost is Config.ApplyCost: what an entry counts for against the
	// bound of unapplied beyond its size.
	applyCost func(e *Entry) uint64

	// checked is how far CheckInvariants has already checked entries, so
	// that its next pass checks only what was appended since.
	checked checkedPrefix
}

// checkedPrefix names the entries CheckInvariants last checked: the first
// n of the array starting at first, after the snapshot at snapIndex.
type checkedPrefix struct {
	first     *Entry
	n         int
	snapIndex uint64
}

func newRaftLog(snap *SnapshotMeta, entries []Entry) *raftLog {
	l := &raftLog{}
	if snap != nil {
		l.snapIndex, l.snapTerm = snap.Index, snap.Term
	}
	if len(entries) > 0 && entries[0].Index != l.snapIndex+1 {
		panic(fmt.Sprintf("raft: restored entries start at %d, snapshot ends at %d", entries[0].Index, l.snapIndex))
	}
	l.entries = append([]Entry(nil), entries...)
	l.committed, l.applied = l.snapIndex, l.snapIndex
	l.persisted = l.lastIndex()
	return l
}

func (l *raftLog) firstIndex() uint64 { return l.snapIndex + 1 }

func (l *raftLog) lastIndex() uint64 { return l.snapIndex + uint64(len(l.entries)) }

func (l *raftLog) lastTerm() uint64 {
	if len(l.entries) == 0 {
		return l.snapTerm
	}
	return l.entries[len(l.entries)-1].Term
}

// term returns the term of the entry at index, and false when the index is
// compacted away (below the snapshot) or beyond the end of the log.
func (l *raftLog) term(index uint64) (uint64, bool) {
	switch {
	case index == l.snapIndex:
		return l.snapTerm, true
	case index < l.snapIndex || index > l.lastIndex():
		return 0, false
	}
	return l.entries[index-l.snapIndex-1].Term, true
}

// matchTerm reports whether the log holds an entry at index with this term
// (§5.3: the AppendEntries consistency check).
func (l *raftLog) matchTerm(index, term uint64) bool {
	t, ok := l.term(index)
	return ok && t == term
}

// entry returns the entry at index, which must be in the log.
func (l *raftLog) entry(index uint64) *Entry {
	return &l.entries[index-l.snapIndex-1]
}

// slice returns entries [lo, hi), capped at maxBytes (always at least one
// entry if lo < hi). It returns false if lo is compacted away.
func (l *raftLog) slice(lo, hi, maxBytes uint64) ([]Entry, bool) {
	if lo <= l.snapIndex {
		return nil, false
	}
	if hi > l.lastIndex()+1 {
		hi = l.lastIndex() + 1
	}
	if lo >= hi {
		return nil, true
	}
	ents := l.entries[lo-l.snapIndex-1 : hi-l.snapIndex-1]
	var size uint64
	for i := range ents {
		size += ents[i].size()
		if i > 0 && size > maxBytes {
			ents = ents[:i]
			break
		}
	}
	return ents, true
}

// isUpToDate is the election restriction of §5.4.1: a candidate's log is at
// least as up-to-date as ours if its last term is greater, or equal with an
// index at least as long.
func (l *raftLog) isUpToDate(lastIndex, lastTerm uint64) bool {
	return lastTerm > l.lastTerm() || (lastTerm == l.lastTerm() && lastIndex >= l.lastIndex())
}

// append adds entries that follow the last one (the leader's own proposals).
func (l *raftLog) append(ents ...Entry) {
	for i := range ents {
		if ents[i].Index != l.lastIndex()+1 {
			panic(fmt.Sprintf("raft: append of index %d after last %d", ents[i].Index, l.lastIndex()))
		}
		l.entries = append(l.entries, ents[i])
	}
}

// findConflict returns the index of the first entry of ents whose term
// disagrees with ours, or of the first that we do not have, or 0 if every
// entry is already in our log.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for i := range ents {
		if !l.matchTerm(ents[i].Index, ents[i].Term) {
			return ents[i].Index
		}
	}
	return 0
}

// truncateAndAppend stores a leader's entries (Figure 2, AppendEntries rules
// 3 and 4): "If an existing entry conflicts with a new one (same index but
// different terms), delete the existing entry and all that follow it; append
// any new entries not already in the log." Entries that already match are
// left alone: a stale or duplicated AppendEntries must never truncate them.
// It returns the index from which the log changed, or 0 if nothing changed.
func (l *raftLog) truncateAndAppend(ents []Entry) uint64 {
	conflict := l.findConflict(ents)
	if conflict == 0 {
		return 0
	}
	if conflict <= l.committed {
		panic(fmt.Sprintf("raft: entry %d conflicts at or below commit index %d", conflict, l.committed))
	}
	if conflict <= l.snapIndex {
		panic(fmt.Sprintf("raft: entry %d conflicts inside snapshot ending at %d", conflict, l.snapIndex))
	}
	if conflict <= l.lastIndex() {
		// Cut the capacity too, so that the append below copies into a new
		// array: the old one may still be read through entries handed out
		// in a Ready (the host may be writing them) or in a message in
		// flight, and overwriting it would change them under their reader.
		keep := conflict - l.snapIndex - 1
		l.entries = l.entries[:keep:keep]
		if l.persisted >= conflict {
			l.persisted = conflict - 1
		}
	}
	first := ents[0].Index
	l.entries = append(l.entries, ents[conflict-first:]...)
	return conflict
}

// findConflictByTerm returns the largest index ≤ index whose term is ≤ term,
// or the snapshot index if none is left in the log. Followers use it to
// hint where the leader should probe next, and leaders use it to skip a
// whole conflicting term in one round trip (§5.3, "the follower can include
// the term of the conflicting entry and the first index it stores for that
// term").
func (l *raftLog) findConflictByTerm(index, term uint64) uint64 {
	if index > l.lastIndex() {
		index = l.lastIndex()
	}
	for index > l.snapIndex {
		t, _ := l.term(index)
		if t <= term {
			return index
		}
		index--
	}
	return l.snapIndex
}

// commitTo moves the commit index forward; it never moves back.
func (l *raftLog) commitTo(index uint64) bool {
	if index <= l.committed {
		return false
	}
	if index > l.lastIndex() {
		panic(fmt.Sprintf("raft: commit index %d beyond last index %d", index, l.lastIndex()))
	}
	l.committed = index
	return true
}

// unpersisted returns the entries the host has not made durable yet.
func (l *raftLog) unpersisted() []Entry {
	if l.persisted >= l.lastIndex() {
		return nil
	}
	return l.entries[l.persisted-l.snapIndex:]
}

// unapplied returns committed entries the host has not applied yet. Only
// persisted entries are handed out: an entry is applied after it is durable
// on this server, so a crash never forgets what the state machine saw.
//
// At most maxBytes are handed out at once (but always one entry), so a
// long replay is applied over several Readys. With an applyCost, an entry
// counts for its cost on top of its size.
func (l *raftLog) unapplied(maxBytes uint64) []Entry {
	if !l.hasUnapplied() {
		return nil
	}
	ents := l.entries[l.applied-l.snapIndex : min(l.committed, l.persisted)-l.snapIndex]
	var size uint64
	for i := range ents {
		size += ents[i].size()
		if l.applyCost != nil {
			size += l.applyCost(&ents[i])
		}
		if i > 0 && size > maxBytes {
			return ents[:i]
		}
	}
	return ents
}

// hasUnapplied reports whether unapplied has anything to hand out: a
// received snapshot must be installed first.
func (l *raftLog) hasUnapplied() bool {
	return l.applied < min(l.committed, l.persisted) && l.applied >= l.snapIndex
}

// compact drops entries up to and including index, which the host has
// captured in a snapshot (§7).
func (l *raftLog) compact(index uint64) {
	if index <= l.snapIndex {
		return
	}
	if index > l.applied {
		panic(fmt.Sprintf("raft: compact to %d beyond applied %d", index, l.applied))
	}
	t, _ := l.term(index)
	// The entries kept move to a new array (the old one may still be read
	// through entries handed out in a Ready or a message), as large as the
	// old one: the log grows back to its usual length without regrowing
	// and copying its entries again.
	rest := l.entries[index-l.snapIndex:]
	kept := make([]Entry, len(rest), max(cap(l.entries), 2*len(rest)))
	copy(kept, rest)
	l.entries = kept
	l.snapIndex, l.snapTerm = index, t
}

// restore replaces the whole log with a snapshot (Figure 13, rule 7: "Discard
// the entire log").
func (l *raftLog) restore(meta SnapshotMeta) {
	l.entries = nil
	l.snapIndex, l.snapTerm = meta.Index, meta.Term
	l.committed = meta.Index
	l.persisted = meta.Index
	// applied moves when the host acknowledges installing the snapshot.
}
