package raft

import "fmt"

// Compact records that the host captured its state machine at index (which
// it has applied) in data, and drops the log up to index (§7). It returns
// the snapshot for the host to store durably; the server keeps a copy to
// send to followers that fall behind the compacted log.
//
// The host may compact from its apply step (step 3 of a Ready, before
// Advance) through any entry that Ready handed it to apply: compacting
// through index also tells raft the host has applied through it.
func (r *Raft) Compact(index uint64, data []byte) (Snapshot, error) {
	if index <= r.log.snapIndex {
		return Snapshot{}, ErrSnapshotTooOld
	}
	applied := r.log.applied
	if r.handed {
		applied = max(applied, r.mark.lastApplied)
	}
	if index > applied {
		return Snapshot{}, fmt.Errorf("%w: compact to %d beyond applied %d", ErrUnavailable, index, applied)
	}
	r.log.applied = max(r.log.applied, index)
	term, _ := r.log.term(index)
	snap := Snapshot{
		Meta: SnapshotMeta{Index: index, Term: term, Conf: r.conf.stateAt(index)},
		Data: data,
	}
	r.log.compact(index)
	r.conf.compact(index)
	r.snapshot = &snap
	return snap, nil
}

// sendSnapshot sends the newest snapshot to a follower whose next entries
// are compacted away (§7: "the leader must occasionally send snapshots to
// followers that lag behind").
func (r *Raft) sendSnapshot(to NodeID, pr *progress) bool {
	if r.snapshot == nil {
		panic(fmt.Sprintf("raft: peer %d needs compacted entries but there is no snapshot", to))
	}
	snap := *r.snapshot
	r.send(Message{To: to, Type: MsgSnap, Snapshot: &snap})
	pr.becomeSnapshot(snap.Meta.Index, r.ticks)
	return true
}

// handleSnapshot is InstallSnapshot's receiver implementation (Figure 13).
func (r *Raft) handleSnapshot(m Message) {
	if m.Snapshot == nil {
		return
	}
	meta := m.Snapshot.Meta
	if meta.Index <= r.log.committed {
		// Already have all of it.
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return
	}
	if r.log.matchTerm(meta.Index, meta.Term) {
		// Rule 6: "If existing log entry has same index and term as
		// snapshot's last included entry, retain log entries following it
		// and reply." Those entries are committed now.
		r.log.commitTo(meta.Index)
		// The reply vouches for the snapshot's index only: the entries after
		// it are kept but may be a deposed leader's, and the leader counts
		// whatever we acknowledge as matching its own log (Figure 2,
		// matchIndex), so acknowledging them could commit an entry a
		// majority does not hold.
		r.send(Message{To: m.From, Type: MsgAppResp, Index: meta.Index})
		return
	}
	// Rules 7 and 8: "Discard the entire log. Reset state machine using
	// snapshot contents (and load snapshot's cluster configuration)." This
	// includes the case of a conflicting entry at the snapshot's last index:
	// nothing of the old log may survive.
	snap := *m.Snapshot
	r.log.restore(meta)
	r.conf = newConfiguration(meta.Conf, meta.Index)
	r.snapshot = &snap
	r.snapshotNew = true
	r.onConfChange()
	r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.lastIndex()})
}

// ReportSnapshot lets the host say how sending a snapshot to a follower
// ended, when its transport knows. A failure makes the leader give up
// waiting for the answer: the follower is probed again at the next
// heartbeat answer, which sends the snapshot anew if still needed. Success
// changes nothing (the follower's answer moves it on); without any report
// a snapshot unanswered for an election timeout after it was sent is
// taken as lost (tickHeartbeat).
func (r *Raft) ReportSnapshot(to NodeID, ok bool) {
	if r.state != StateLeader || ok {
		return
	}
	if pr := r.progress.get(to); pr != nil && pr.state == progressSnapshot {
		pr.becomeProbe()
	}
}
