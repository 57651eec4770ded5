package sim

import (
	"fmt"

	"github.com/havenproject/haven/raft"
)

// The simulated disk models a node's durable store the way raft/wal keeps
// it: an append-only log of checksummed records, one record per Ready (one
// Save), fsynced before anything that depends on it is acknowledged, and a
// recovery that keeps the longest prefix of whole records and truncates a
// torn tail. Snapshot files are written atomically (write, fsync, rename).
//
// So the disk holds two views of the store: written, what the process has
// handed to the operating system, and durable, what an fsync has made
// permanent. A crash keeps durable plus a random prefix of the Readys
// written since the last fsync — none of them (lost), all of them (kept), or
// some, the next one torn and truncated away (torn) — and never anything out
// of order, half a Ready, or anything already synced.

// storedEntry is a log entry and the hash of the log up to it: chain(i) =
// H(chain(i-1), term(i), data(i)). Two logs hold the same entry at index i
// and the same entries before it exactly when their chains at i agree, which
// turns Log Matching and State Machine Safety into O(1) comparisons.
type storedEntry struct {
	raft.Entry
	chain uint64
}

// logView is one view of a node's store.
type logView struct {
	hard      raft.HardState
	snap      *raft.Snapshot
	snapChain uint64
	entries   []storedEntry // indexes snapIndex()+1 ... lastIndex()
}

func (v *logView) snapIndex() uint64 {
	if v.snap == nil {
		return 0
	}
	return v.snap.Meta.Index
}

func (v *logView) lastIndex() uint64 { return v.snapIndex() + uint64(len(v.entries)) }

// chainAt returns the chain hash at index, if the view holds it (the
// snapshot's last index counts).
func (v *logView) chainAt(index uint64) (uint64, bool) {
	si := v.snapIndex()
	switch {
	case index == si:
		return v.snapChain, true
	case index < si || index > v.lastIndex():
		return 0, false
	}
	return v.entries[index-si-1].chain, true
}

func (v *logView) entryAt(index uint64) *storedEntry {
	return &v.entries[index-v.snapIndex()-1]
}

func (v *logView) clone() logView {
	c := *v
	c.entries = append([]storedEntry(nil), v.entries...)
	return c
}

// writeGroup is what one Ready writes: one record of the WAL, which a crash
// keeps or loses whole.
type writeGroup struct {
	hasTermVote bool
	term        uint64
	vote        raft.NodeID
	snap        *raft.Snapshot
	snapChain   uint64
	entries     []storedEntry
	hasCommit   bool
	commit      uint64
}

func (g *writeGroup) empty() bool {
	return !g.hasTermVote && g.snap == nil && len(g.entries) == 0 && !g.hasCommit
}

// apply writes g into the view: the term and vote, then the snapshot (which
// replaces the log, Figure 13 rule 7), then the entries, then the commit
// index.
func (v *logView) apply(g *writeGroup) error {
	if g.hasTermVote {
		v.hard.Term, v.hard.Vote = g.term, g.vote
	}
	if g.snap != nil {
		v.snap, v.snapChain, v.entries = g.snap, g.snapChain, v.entries[:0]
		if v.hard.Commit < g.snap.Meta.Index {
			v.hard.Commit = g.snap.Meta.Index
		}
	}
	if len(g.entries) > 0 {
		if err := v.appendEntries(g.entries); err != nil {
			return err
		}
	}
	if g.hasCommit {
		v.hard.Commit = g.commit
	}
	return nil
}

// appendEntries stores entries, replacing every stored entry at or after
// the first one's index (the Ready contract).
func (v *logView) appendEntries(ents []storedEntry) error {
	si := v.snapIndex()
	for len(ents) > 0 && ents[0].Index <= si {
		ents = ents[1:] // already covered by the snapshot
	}
	if len(ents) == 0 {
		return nil
	}
	first := ents[0].Index
	if first > v.lastIndex()+1 {
		return fmt.Errorf("disk: write of entry %d leaves a gap after %d", first, v.lastIndex())
	}
	v.entries = append(v.entries[:first-si-1], ents...)
	return nil
}

// compact replaces the log up to snap's index with the snapshot: the host
// compacting after raft.Compact (§7).
func (v *logView) compact(snap *raft.Snapshot, chain uint64) {
	si := v.snapIndex()
	idx := snap.Meta.Index
	if idx <= si {
		return
	}
	if idx >= v.lastIndex() {
		v.entries = v.entries[:0]
	} else {
		v.entries = append(v.entries[:0], v.entries[idx-si:]...)
	}
	v.snap, v.snapChain = snap, chain
}

// disk is a node's durable store across crashes.
type disk struct {
	durable logView
	written logView
	pending []writeGroup // written since the last fsync, in order
}

func (d *disk) write(g writeGroup) error {
	if g.empty() {
		return nil
	}
	if err := d.written.apply(&g); err != nil {
		return err
	}
	d.pending = append(d.pending, g)
	return nil
}

// sync makes everything written durable: an fsync completed.
func (d *disk) sync() error {
	for i := range d.pending {
		if err := d.durable.apply(&d.pending[i]); err != nil {
			return err
		}
	}
	d.pending = d.pending[:0]
	return nil
}

// unsynced reports whether anything written is not durable yet.
func (d *disk) unsynced() bool { return len(d.pending) > 0 }

// crashFate is what became of the unsynced writes at a crash.
type crashFate uint8

const (
	fateNothingPending crashFate = iota
	fateLost
	fateTorn
	fateKept
)

// crash decides the fate of the unsynced writes and leaves the disk as a
// restarted process finds it.
func (d *disk) crash(r *Rand) (crashFate, error) {
	total := len(d.pending)
	fate, keep := fateNothingPending, 0
	if total > 0 {
		switch r.Intn(3) {
		case 0:
			fate, keep = fateLost, 0
		case 1:
			fate, keep = fateKept, total
		default:
			// The record after the kept ones was cut short; recovery
			// truncates it and everything after it.
			fate, keep = fateTorn, r.Intn(total)
		}
	}
	for i := range keep {
		if err := d.durable.apply(&d.pending[i]); err != nil {
			return fate, err
		}
	}
	d.pending = d.pending[:0]
	d.written = d.durable.clone()
	return fate, nil
}

// compact stores a snapshot the host took of its own state machine. The
// snapshot file is written and fsynced on its own, so it is durable at
// once; the entries it covers are dropped from both views.
func (d *disk) compact(snap *raft.Snapshot, chain uint64) {
	d.written.compact(snap, chain)
	d.durable.compact(snap, chain)
}

// restored is what a restarting node reads back.
func (d *disk) restored() raft.RestoredState {
	v := &d.durable
	rs := raft.RestoredState{HardState: v.hard}
	if v.snap != nil {
		snap := *v.snap
		rs.Snapshot = &snap
	}
	if len(v.entries) > 0 {
		rs.Entries = make([]raft.Entry, len(v.entries))
		for i := range v.entries {
			rs.Entries[i] = v.entries[i].Entry
		}
	}
	return rs
}
