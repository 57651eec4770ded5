package sim

import (
	"fmt"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/raft/wal"
)

// Each node's durable store is the real raft/wal, running on a simulated
// file system (sim/simfs) that keeps synced and unsynced data apart and, at
// a crash, loses, tears or keeps what was not synced. This file holds what
// the host keeps beside it to check the node: its mirror of the log it
// handed to the WAL, with a chain hash per entry, in two views.
//
// written is every Save the host made; durable is what it had seen made
// durable: a completed fsync after which the file system held nothing that
// a crash could still lose. The checks read written for Log Matching and
// State Machine Safety, and durable for the promises of Figure 2 (a vote or
// an acknowledgement is sent only once it is on stable storage). After a
// crash both views are rebuilt from what the WAL recovers, which the host
// first holds against the durable view the crash began with.

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
	// commitOnly marks a Save that changed only the commit index, which
	// the WAL writes without an fsync.
	commitOnly bool
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

// disk is the host's mirror of a node's durable store.
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
func (d *disk) sync() error { return d.syncAllBut(0) }

// syncAllBut makes everything written durable but the last k groups.
func (d *disk) syncAllBut(k int) error {
	n := len(d.pending) - k
	for i := range n {
		if err := d.durable.apply(&d.pending[i]); err != nil {
			return err
		}
	}
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return nil
}

// trailingCommitOnly counts the commit-only groups written last.
func (d *disk) trailingCommitOnly() int {
	k := 0
	for i := len(d.pending) - 1; i >= 0 && d.pending[i].commitOnly; i-- {
		k++
	}
	return k
}

// compact records a snapshot the host took of its own state machine and
// saved with the WAL, which returns once its file is durable; the entries
// it covers are dropped from both views.
func (d *disk) compact(snap *raft.Snapshot, chain uint64) {
	d.written.compact(snap, chain)
	d.durable.compact(snap, chain)
}

// recovered resets both views to what the WAL recovered at a restart. The
// snapshot's chain is the one of the entry it ends at, as the checker knows
// it; every entry's chain is computed again and checked by written (Log
// Matching against every log seen), so that a WAL returning wrong data is
// caught here.
func (d *disk) recovered(st *wal.State, chainOf func(index, term uint64) (uint64, bool), written func(*storedEntry) error) error {
	v := logView{hard: st.HardState}
	if st.Snapshot != nil {
		snap := *st.Snapshot
		chain, ok := chainOf(snap.Meta.Index, snap.Meta.Term)
		if !ok {
			return fmt.Errorf("the WAL recovered a snapshot at index %d of term %d, an entry no node ever wrote", snap.Meta.Index, snap.Meta.Term)
		}
		v.snap, v.snapChain = &snap, chain
	}
	prev := v.snapChain
	if len(st.Entries) > 0 {
		if want := v.snapIndex() + 1; st.Entries[0].Index != want {
			return fmt.Errorf("the WAL recovered entries from index %d after a snapshot at %d", st.Entries[0].Index, want-1)
		}
		v.entries = make([]storedEntry, len(st.Entries))
		for i := range st.Entries {
			e := st.Entries[i]
			prev = chainHash(prev, &e)
			v.entries[i] = storedEntry{Entry: e, chain: prev}
			if err := written(&v.entries[i]); err != nil {
				return err
			}
		}
	}
	d.written, d.durable, d.pending = v, v.clone(), d.pending[:0]
	return nil
}

// restoredState is what the node's raft restarts from.
func restoredState(st *wal.State) raft.RestoredState {
	return raft.RestoredState{HardState: st.HardState, Snapshot: st.Snapshot, Entries: st.Entries}
}
