package raft

// Ready is the batch of effects the host must carry out, in this order:
//
//  1. Persist Snapshot (if any), then HardState (if not empty) and Entries.
//     Entries replace every stored entry whose index is ≥ Entries[0].Index.
//     This must be durable before step 2 when MustSync is set (Figure 2:
//     "updated on stable storage before responding to RPCs").
//  2. Send Messages.
//  3. Install Snapshot into the state machine (if any), then apply
//     CommittedEntries in order, then serve ReadStates whose Index has been
//     applied.
//  4. Call Advance(rd).
//
// Messages and ReadStates belong to the Ready until Advance: Advance reuses
// their memory, so a host that keeps a message longer (in a queue, say)
// copies it — the Message value; its Entries and Snapshot are never
// changed in place and may be shared.
//
// Between Ready and Advance the host must not call Ready again; it may keep
// calling Tick, Step and the request methods.
type Ready struct {
	// SoftState is the current role and leader (always set).
	SoftState SoftState
	// HardState is the new term/vote/commit, or empty if unchanged.
	HardState HardState
	Entries   []Entry
	// Snapshot is a snapshot received from the leader, to persist and
	// install; nil if none.
	Snapshot         *Snapshot
	CommittedEntries []Entry
	Messages         []Message
	ReadStates       []ReadState
	// MustSync says the write of step 1 must be fsynced before messages go
	// out: the term, the vote or the log changed.
	MustSync bool
}

// readyMark remembers what a Ready handed out, for Advance.
type readyMark struct {
	lastEntry     uint64 // index of the last entry handed to persist
	lastEntryTerm uint64
	lastApplied   uint64 // index of the last committed entry handed out
	snapshotIndex uint64 // snapshot handed out, 0 if none
}

// HasReady reports whether Ready would return anything to do.
func (r *Raft) HasReady() bool {
	if r.readyPending != nil {
		return false
	}
	return r.softState() != r.prevSoft ||
		(r.hardState() != r.prevHard) ||
		r.snapshotNew ||
		len(r.log.unpersisted()) > 0 ||
		len(r.log.unapplied()) > 0 ||
		len(r.msgs) > 0 ||
		len(r.readStates) > 0
}

// Ready returns the effects accumulated since the last Ready. Call Advance
// once they are carried out.
func (r *Raft) Ready() Ready {
	if r.readyPending != nil {
		panic("raft: Ready called before Advance of the previous Ready")
	}
	rd := Ready{
		SoftState:        r.softState(),
		Entries:          r.log.unpersisted(),
		CommittedEntries: r.log.unapplied(),
		Messages:         r.msgs,
		ReadStates:       r.readStates,
	}
	if hs := r.hardState(); hs != r.prevHard {
		rd.HardState = hs
		rd.MustSync = hs.Term != r.prevHard.Term || hs.Vote != r.prevHard.Vote
		r.prevHard = hs
	}
	if len(rd.Entries) > 0 {
		rd.MustSync = true
	}
	if r.snapshotNew {
		snap := *r.snapshot
		rd.Snapshot = &snap
		rd.MustSync = true
		r.snapshotNew = false
	}
	mark := &readyMark{}
	if n := len(rd.Entries); n > 0 {
		mark.lastEntry, mark.lastEntryTerm = rd.Entries[n-1].Index, rd.Entries[n-1].Term
	}
	if n := len(rd.CommittedEntries); n > 0 {
		mark.lastApplied = rd.CommittedEntries[n-1].Index
	}
	if rd.Snapshot != nil {
		mark.snapshotIndex = rd.Snapshot.Meta.Index
	}
	r.readyPending = mark
	r.prevSoft = rd.SoftState
	r.msgsHanded = r.msgs
	r.msgs = nil
	r.readStates = nil
	return rd
}

// Advance tells the server that the host carried out the last Ready.
func (r *Raft) Advance() {
	mark := r.readyPending
	if mark == nil {
		panic("raft: Advance without Ready")
	}
	r.readyPending = nil
	// The host is done with the last Ready's messages: reuse their buffer.
	if r.msgsHanded != nil {
		clear(r.msgsHanded)
		r.msgsSpare, r.msgsHanded = r.msgsHanded[:0], nil
	}
	if mark.snapshotIndex > r.log.applied {
		r.log.applied = mark.snapshotIndex
	}
	if mark.snapshotIndex > r.log.persisted {
		r.log.persisted = mark.snapshotIndex
	}
	if mark.lastApplied > r.log.applied {
		r.log.applied = mark.lastApplied
	}
	// Entries count as durable only if the log still holds them: a newer
	// leader may have overwritten them while the host was writing.
	if mark.lastEntry > r.log.persisted && r.log.matchTerm(mark.lastEntry, mark.lastEntryTerm) {
		r.log.persisted = mark.lastEntry
	}
	if r.state == StateLeader {
		if pr := r.progress[r.id]; pr != nil && pr.match < r.log.persisted {
			pr.match = r.log.persisted
			if r.maybeCommit() {
				r.bcastCommit()
			}
		}
	}
}
