package wal

import (
	"fmt"
	"sort"

	"github.com/havenproject/haven/raft"
)

// logTerms is what the WAL remembers of the log it holds while running: the
// snapshot's place, the last index, and the term of every index, stored as
// the indexes where the term changes. That is enough to check each Save
// against Raft's rules and to apply Figure 13's snapshot rule, without
// keeping the entries themselves in memory.
type logTerms struct {
	snapshotIndex uint64 // the newest saved snapshot's index (0: none)
	snapshotTerm  uint64 // its term
	lastIndex     uint64 // the log's last index (snapshotIndex if no entries follow it)
	// runs holds, in ascending order of first, the first index of each
	// stretch of equal terms in (snapshotIndex, lastIndex]. Terms only rise
	// along a log (§5.3), so a stretch never recurs.
	runs []termRun
}

type termRun struct {
	first uint64
	term  uint64
}

// newLogTerms describes the log recovery found.
func newLogTerms(snapshot *raft.Snapshot, entries []raft.Entry) logTerms {
	var l logTerms
	if snapshot != nil {
		l.snapshotIndex, l.snapshotTerm = snapshot.Meta.Index, snapshot.Meta.Term
	}
	l.lastIndex = l.snapshotIndex
	if len(entries) > 0 {
		l.append(entries)
	}
	return l
}

// term returns the term of the entry at index, if the log knows it. The
// snapshot's last included entry counts (§7: it keeps lastIncludedTerm
// exactly so that the consistency check can still look at it).
func (l *logTerms) term(index uint64) (uint64, bool) {
	if index == l.snapshotIndex {
		return l.snapshotTerm, true
	}
	if index < l.snapshotIndex || index > l.lastIndex {
		return 0, false
	}
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].first > index })
	return l.runs[k-1].term, true
}

// checkAppend reports why entries could not be the log's new suffix. Each
// rule is one the raft package keeps; a violation here is a caller's bug,
// and writing it down would make a log recovery must reject.
func (l *logTerms) checkAppend(entries []raft.Entry) error {
	first := entries[0].Index
	if first <= l.snapshotIndex {
		// Entries at or below the snapshot are committed (§7), and committed
		// entries are never overwritten (§5.4.1, Leader Append-Only).
		return fmt.Errorf("wal: entries start at index %d, at or below the snapshot's index %d", first, l.snapshotIndex)
	}
	if first > l.lastIndex+1 {
		return fmt.Errorf("wal: entries start at index %d, leaving a gap after the last index %d", first, l.lastIndex)
	}
	prevTerm, _ := l.term(first - 1)
	for i := range entries {
		e := &entries[i]
		if e.Index != first+uint64(i) {
			return fmt.Errorf("wal: entry %d of the batch has index %d, want %d (entries must be contiguous)", i, e.Index, first+uint64(i))
		}
		// §5.3: a leader only appends entries of its own term, so terms
		// never fall along a log.
		if e.Term < prevTerm {
			return fmt.Errorf("wal: entry %d has term %d below the term %d of the entry before it", e.Index, e.Term, prevTerm)
		}
		prevTerm = e.Term
	}
	return nil
}

// append records that entries replaced the log from entries[0].Index on.
func (l *logTerms) append(entries []raft.Entry) {
	first := entries[0].Index
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].first >= first })
	l.runs = l.runs[:k]
	prevTerm, _ := l.term(first - 1)
	for i := range entries {
		e := &entries[i]
		if len(l.runs) == 0 || e.Term != prevTerm {
			l.runs = append(l.runs, termRun{first: e.Index, term: e.Term})
		}
		prevTerm = e.Term
	}
	l.lastIndex = entries[len(entries)-1].Index
}

// holds reports whether the log has an entry at index with term: whether a
// snapshot ending there keeps the entries after it (Figure 13, step 6).
func (l *logTerms) holds(index, term uint64) bool {
	t, ok := l.term(index)
	return ok && t == term
}

// applySnapshot moves the log's start to a snapshot ending at index/term.
// Figure 13, InstallSnapshot, steps 6 and 7: "If existing log entry has same
// index and term as snapshot's last included entry, retain log entries
// following it"; otherwise "discard the entire log". The snapshot marker
// records which it was, so that replay does the same.
func (l *logTerms) applySnapshot(index, term uint64) {
	if l.holds(index, term) {
		k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].first > index })
		nextStarts := k < len(l.runs) && l.runs[k].first == index+1
		if index < l.lastIndex && !nextStarts {
			// The stretch holding index continues past it: keep it, starting after.
			k--
			l.runs[k].first = index + 1
		}
		l.runs = l.runs[k:]
	} else {
		l.runs = nil
		l.lastIndex = index
	}
	l.snapshotIndex, l.snapshotTerm = index, term
}
