package sim

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/raft/wal"
	"github.com/havenproject/haven/sim/simfs"
)

// How the node host runs raft/wal on its simulated file system.

// walDir is where each node keeps its WAL, on a file system of its own.
const walDir = "/haven/wal"

// walSegmentBytes is small, so that compaction deletes segments and
// recovery crosses several in every run.
const walSegmentBytes = 16 << 10

// The damaging faults are rare: a node whose disk they hit is lost to the
// run (see openWAL). They hit one node's disk per run at most, and only
// while the run is in its fault phase with three nodes or more, so that a
// quorum stays.
var diskFaults = simfs.Faults{FlipPerCrash: 0.005, MisdirectPerWrite: 2e-6}

// damageAllowed says whether a damaging fault drawn for n's disk happens.
// Every configuration that may be in force must have three voters or more
// (membership changes shrink it), so that losing one still leaves a
// quorum: the one each node holds, and the one it held before, which a
// crash may bring back if the newer was not yet durable. The current
// leader's configuration is not enough: there is often none (the leader
// crashing is when a bit flips), and the world's stand-in for it then,
// every node as a voter, once let a bit flip on one of two voters.
func (n *node) damageAllowed() bool {
	w := n.w
	if w.phase != phaseFaults || len(w.nodes) < 3 {
		return false
	}
	for _, o := range w.nodes {
		if o != n && o.diskLost() {
			return false
		}
		if o.retired {
			continue
		}
		for _, voters := range [][]raft.NodeID{o.direct.voters, o.direct.prevVoters} {
			if len(voters) > 0 && len(voters) < 3 {
				return false // (a node that joined knows none yet)
			}
		}
	}
	return true
}

// diskLost says whether the node's disk is lost to the run: failed, or hit
// by a damaging fault that will fail it at its next restart.
func (n *node) diskLost() bool {
	return n.diskFailed || n.wiped || (n.fs != nil && n.fs.Flips+n.fs.Misdirected > 0)
}

// wipeDisk replaces the crashed node's disk by an empty one (FaultWipe).
func (n *node) wipeDisk() {
	n.lostLog = n.disk.durable
	n.fs, n.disk, n.wiped = nil, disk{}, true
}

// openWAL opens the node's WAL and returns what it recovered, having held
// it against what the host saw made durable before the crash, and rebuilt
// the host's mirror from it.
//
// A WAL that refuses to open (an error) on a disk that a damaging fault hit
// did its job: it detected the damage instead of returning wrong data. The
// node's disk is then failed, and the node stays down for the rest of the
// run: a real operator would replace the disk and add the server back as a
// new member, which this simulator does not do. ok is false then. A WAL
// that refuses what crashes alone left is a bug, and an error.
func (n *node) openWAL() (restored raft.RestoredState, ok bool, err error) {
	w := n.w
	if n.fs == nil {
		faults := diskFaults
		faults.Allow = n.damageAllowed
		n.fs = simfs.New(w.rng, faults)
	}
	if n.fs.Unsynced() {
		// What the WAL recovers becomes the host's durable view, which
		// only a crash (or a new disk) makes true: a process stopped
		// without one leaves its unsynced writes readable, and losable.
		return raft.RestoredState{}, false, errors.New("the host opens a WAL on a disk that still holds unsynced writes (no crash since they were made)")
	}
	before := n.disk.durable.hard
	l, st, err := wal.Open(walDir, wal.Options{FS: n.fs, SegmentBytes: walSegmentBytes})
	// Opening blocks on its fsyncs; they are done when it returns.
	n.fs.CompleteSyncs()
	if err != nil {
		if n.fs.Damaged() && errors.Is(err, wal.ErrCorrupt) {
			n.diskFailed = true
			w.stats.count(countDiskFailed)
			w.tracef("n%d: its WAL refuses its damaged disk, which fails: %v", n.id, err)
			return raft.RestoredState{}, false, nil
		}
		return raft.RestoredState{}, false, fmt.Errorf("the WAL refuses to recover what crashes left (no damaging fault hit this disk): %w", err)
	}
	hs := st.HardState
	if st.Snapshot != nil {
		// A snapshot is committed (§7), whether or not the commit-only
		// save that said so survived (it is not synced).
		hs.Commit = max(hs.Commit, st.Snapshot.Meta.Index)
	}
	// Figure 2: currentTerm and votedFor are "updated on stable storage
	// before responding to RPCs"; a restart must find them.
	switch {
	case hs.Term < before.Term:
		return restored, false, fmt.Errorf("the WAL recovered term %d, below the durable term %d", hs.Term, before.Term)
	case hs.Term == before.Term && before.Vote != raft.None && hs.Vote != before.Vote:
		return restored, false, fmt.Errorf("the WAL recovered vote %d in term %d, not the durable vote %d", hs.Vote, hs.Term, before.Vote)
	case hs.Commit < before.Commit:
		return restored, false, fmt.Errorf("the WAL recovered commit index %d, below the durable %d", hs.Commit, before.Commit)
	}
	if err := n.durableEntriesBack(st); err != nil {
		return restored, false, err
	}
	if err := n.disk.recovered(st, w.check.chainOf, func(e *storedEntry) error { return w.check.entryWritten(n, e) }); err != nil {
		return restored, false, err
	}
	n.wal = l
	return restoredState(st), true, nil
}

// durableEntriesBack checks that a WAL's recovered log holds every entry
// the host saw made durable, each as it was, unless a write since then,
// which the crash may have kept, replaced it (an overwrite of a suffix,
// §5.3, which drops what follows), a snapshot that discards the log cut it
// (Figure 13, step 7), or damage cut a tail that looked torn.
func (n *node) durableEntriesBack(st *wal.State) error {
	d := &n.disk.durable
	if n.fs.Damaged() {
		return nil
	}
	snap := uint64(0)
	if st.Snapshot != nil {
		snap = st.Snapshot.Meta.Index
	}
	if snap > d.snapIndex() && (snap > d.lastIndex() || d.entryAt(snap).Term != st.Snapshot.Meta.Term) {
		return nil // a leader's snapshot, perhaps not yet durable, replaced the log
	}
	// replaced is the lowest index a write since the durable view may
	// have replaced the log from.
	replaced := uint64(math.MaxUint64)
	for i := range n.disk.pending {
		g := &n.disk.pending[i]
		if len(g.entries) > 0 {
			replaced = min(replaced, g.entries[0].Index)
		}
		if g.snap != nil {
			replaced = min(replaced, g.snap.Meta.Index+1)
		}
	}
	last := snap + uint64(len(st.Entries))
	for i := max(snap, d.snapIndex()) + 1; i <= min(last, d.lastIndex()); i++ {
		if got, want := st.Entries[i-snap-1].Term, d.entryAt(i).Term; got != want {
			if i >= replaced {
				return nil // a later save, kept, replaced the log from here
			}
			return fmt.Errorf("the WAL recovered entry %d of term %d, but the durable log holds one of term %d there and nothing written since replaced it",
				i, got, want)
		}
	}
	if last < d.lastIndex() {
		return fmt.Errorf("the WAL recovered a log through index %d (snapshot at %d), short of the durable log through %d (snapshot at %d): durable entries were lost",
			last, snap, d.lastIndex(), d.snapIndex())
	}
	return nil
}

// saveReady writes a Ready's durable part with the WAL: a snapshot from
// the leader, then the hard state and entries, in one Save.
func (n *node) saveReady(rd *hostReady) error {
	if rd.snapshot != nil {
		if err := n.wal.SaveSnapshot(*rd.snapshot); err != nil {
			return fmt.Errorf("saving the leader's snapshot: %w", err)
		}
		if w := n.w; w.params.SnapshotCrash && w.phase == phaseFaults && w.rng.Chance(0.5) {
			// The knob's crash, during the fsync of the snapshot's marker,
			// the last thing SaveSnapshot writes: the file may be
			// published and the marker lost.
			w.stats.count(countCrashSnapshot)
			w.crash(n, w.rng.Exp(w.params.FaultLength/4)+time.Millisecond)
			return errCrashedInSave
		}
	}
	return n.wal.Save(rd.hard, rd.entries)
}

// errCrashedInSave says the node crashed while it saved a Ready
// (Params.SnapshotCrash): what is left of the Ready is the crash's.
var errCrashedInSave = errors.New("crashed while saving")

// saveCompaction saves a snapshot the node took of its own state machine,
// and reports whether the WAL holds one that far now. SaveSnapshot returns once the file
// is durable: its fsyncs complete with it. The WAL refuses one below a
// marker its log holds (recovery fell back past that snapshot's damaged
// file) as too old, and havend goes on without it; so does the host.
func (n *node) saveCompaction(snap *raft.Snapshot) (bool, error) {
	if snap.Meta.Index <= n.disk.written.snapIndex() {
		return true, nil // the WAL holds a snapshot this far already
	}
	if err := n.wal.SaveSnapshot(*snap); err != nil {
		if errors.Is(err, raft.ErrSnapshotTooOld) {
			n.w.tracef("n%d: the WAL does not take the snapshot at %d: %v", n.id, snap.Meta.Index, err)
			return false, nil
		}
		return false, fmt.Errorf("saving a snapshot at %d: %w", snap.Meta.Index, err)
	}
	n.fs.CompleteSyncs()
	return true, nil
}

// waitsForSync reports whether a Ready waits for an fsync before its
// messages go: raft asked for one, or the WAL issued one (it decides by
// itself, from what it writes, and a real Save would block on it).
func (n *node) waitsForSync(rd *hostReady) bool { return rd.mustSync || n.fs.SyncPending() }

// syncDone completes the fsyncs a Ready waited for, and moves the host's
// durable view up to what the file system now holds. The WAL leaves only
// commit-only saves unsynced (raft/wal/doc.go), each one write: if the
// writes still unsynced are no more than the commit-only saves written
// last, everything before them is durable; anything else unsynced (more
// writes, a new name, a truncation) means the WAL skipped an fsync it owed,
// and the durable view stays where it was, for beforeSend to catch what
// the node then vouches for.
func (n *node) syncDone() error {
	n.fs.CompleteSyncs()
	writes, other := n.fs.UnsyncedWrites()
	if other || writes > n.disk.trailingCommitOnly() {
		return nil
	}
	return n.disk.syncAllBut(writes)
}

// unsynced reports whether a crash now could lose something written.
func (n *node) unsynced() bool { return n.fs.Unsynced() }

// crashDisk is the power loss at a crash: the WAL is dropped unclosed and
// the file system decides the fate of what was not durable.
func (n *node) crashDisk() string {
	w := n.w
	rep := n.fs.Crash()
	n.wal = nil
	switch {
	case rep.Torn > 0:
		w.stats.count(countUnsyncedTorn)
	case rep.Lost > 0:
		w.stats.count(countUnsyncedLost)
	case rep.Kept > 0:
		w.stats.count(countUnsyncedKept)
	}
	what := fmt.Sprintf("lost %d, torn %d, kept %d", rep.Lost, rep.Torn, rep.Kept)
	if rep.Flipped != "" {
		w.stats.count(countDiskFlip)
		what += ", a bit flipped in " + rep.Flipped
	}
	if k := n.fs.Misdirected - n.misdirected; k > 0 {
		for range k {
			w.stats.count(countDiskMisdirect)
		}
		n.misdirected = n.fs.Misdirected
		what += fmt.Sprintf(", %d misdirected writes since the last crash", k)
	}
	return what
}

// writeMirror records a Ready's writes in the host's mirror as the WAL
// makes them: the leader's snapshot (SaveSnapshot, always synced), then the
// Save, marked commit-only if that is all it changes.
//
// It first holds the Ready to raft's side of the contract (raft/ready.go):
// MustSync is set whenever the term, the vote, the entries or the snapshot
// change. The WAL here syncs those by itself whatever MustSync says, so a
// raft that forgot to ask would go unnoticed by every other check; a host
// that trusts MustSync to decide its fsyncs would send a vote before it is
// durable.
func (n *node) writeMirror(g writeGroup, mustSync bool) error {
	if !mustSync && (g.hasTermVote || len(g.entries) > 0 || g.snap != nil) {
		return fmt.Errorf("Figure 2: a Ready changes the term, vote, entries or snapshot (term %v, %d entries, snapshot %v) without MustSync",
			g.hasTermVote, len(g.entries), g.snap != nil)
	}
	if g.snap != nil {
		if err := n.disk.write(writeGroup{snap: g.snap, snapChain: g.snapChain}); err != nil {
			return err
		}
		g.snap, g.snapChain = nil, 0
	}
	g.commitOnly = g.hasCommit && !g.hasTermVote && len(g.entries) == 0
	return n.disk.write(g)
}
