package raft

// Ready is the batch of effects the host must carry out. The order of every
// step, and what the host may do meanwhile, is the host contract in the
// package documentation (doc.go, "The host contract"); in short:
//
//  0. Messages[:EarlyMessages] may be sent at once, before or while step 1
//     runs (thesis §10.2.1).
//  1. Persist Snapshot (if any), then HardState (if not empty) and Entries,
//     durably (fsync) before step 2 when MustSync is set.
//  2. Send Messages[EarlyMessages:].
//  3. Install Snapshot into the state machine (if any), then apply
//     CommittedEntries in order, then serve ReadStates whose Index has been
//     applied. Compact may be called here.
//  4. Call Advance, then loop while HasReady: Advance itself can create
//     work.
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
	// Messages are to be sent to peers. The first EarlyMessages of them
	// depend only on state that was durable before this Ready — a leader's
	// AppendEntries, heartbeats and snapshots at a term it has already
	// stored with its own vote — and may leave before or while the host
	// persists this Ready (thesis §10.2.1: the leader's own write is just
	// one more acknowledgement it counts, once Advance reports it). All
	// the others (votes, acknowledgements, a candidacy, anything at a term
	// this Ready makes durable) must wait for step 1.
	Messages      []Message
	EarlyMessages int
	ReadStates    []ReadState
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

// HasReady reports whether Ready would return anything to do. It is false
// from Ready until Advance, whatever happens meanwhile: a host that carries
// out a Ready on another goroutine never takes a second one early.
func (r *Raft) HasReady() bool {
	if r.handed {
		return false
	}
	return r.softState() != r.prevSoft ||
		(r.hardState() != r.prevHard) ||
		r.snapshotNew ||
		r.log.persisted < r.log.lastIndex() ||
		r.log.hasUnapplied() ||
		len(r.msgs) > 0 ||
		len(r.readStates) > 0
}

// Ready returns the effects accumulated since the last Ready. Call Advance
// once they are carried out. Calling Ready again before Advance is a bug in
// the host and panics; HasReady is false in between.
func (r *Raft) Ready() Ready {
	if r.handed {
		panic("raft: Ready called before Advance of the previous Ready")
	}
	// What the previous Readys persisted; Advance has been called for them.
	durable := r.prevHard
	rd := Ready{
		SoftState:        r.softState(),
		Entries:          r.log.unpersisted(),
		CommittedEntries: r.log.unapplied(r.cfg.MaxCommittedBytesPerReady),
		Messages:         r.msgs,
		ReadStates:       r.readStates,
	}
	rd.EarlyMessages = r.orderEarlyFirst(rd.Messages, durable)
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
	r.mark = readyMark{}
	if n := len(rd.Entries); n > 0 {
		r.mark.lastEntry, r.mark.lastEntryTerm = rd.Entries[n-1].Index, rd.Entries[n-1].Term
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.mark.lastApplied = rd.CommittedEntries[n-1].Index
	}
	if rd.Snapshot != nil {
		r.mark.snapshotIndex = rd.Snapshot.Meta.Index
	}
	r.handed = true
	r.prevSoft = rd.SoftState
	r.msgsHanded = r.msgs
	r.msgs = nil
	r.readStates = nil
	return rd
}

// sendsEarly says whether m may leave before the Ready that carries it is
// persisted: it is a leader's message that depends on nothing but its
// term and its vote for itself, already durable, and its own log (which it
// counts only once persisted, §10.2.1).
func (r *Raft) sendsEarly(m *Message, durable HardState) bool {
	return (m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap) &&
		m.Term == durable.Term && durable.Vote == r.id
}

// orderEarlyFirst moves the messages that may be sent early to the front of
// msgs, keeping the order within both groups, and returns how many there
// are.
func (r *Raft) orderEarlyFirst(msgs []Message, durable HardState) int {
	if durable.Vote != r.id {
		return 0 // only a leader of a durable term sends early
	}
	n := 0
	for n < len(msgs) && r.sendsEarly(&msgs[n], durable) {
		n++
	}
	if n == len(msgs) {
		return n
	}
	late := r.msgsLate[:0]
	k := n
	for i := n; i < len(msgs); i++ {
		if r.sendsEarly(&msgs[i], durable) {
			msgs[k] = msgs[i]
			k++
		} else {
			late = append(late, msgs[i])
		}
	}
	copy(msgs[k:], late)
	clear(late)
	r.msgsLate = late[:0]
	return k
}

// Advance tells the server that the host carried out the last Ready. It may
// create work at once — entries just persisted become committed (on a lone
// voter, or where the leader's own copy was the missing acknowledgement)
// and appliable, and the leader announces the new commit index — so the
// host loops on HasReady afterwards.
func (r *Raft) Advance() {
	if !r.handed {
		panic("raft: Advance without Ready")
	}
	mark := r.mark
	r.handed = false
	// The host is done with the last Ready's messages: reuse their buffer.
	if r.msgsHanded != nil {
		clear(r.msgsHanded)
		// Two spares: a host that steps messages while a Ready waits for
		// its fsync fills a second buffer meanwhile, and both come back.
		if r.msgsSpare == nil {
			r.msgsSpare = r.msgsHanded[:0]
		} else {
			r.msgsSpare2 = r.msgsHanded[:0]
		}
		r.msgsHanded = nil
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
		if pr := r.progress.get(r.id); pr != nil && pr.match < r.log.persisted {
			pr.match = r.log.persisted
			if r.maybeCommit() {
				r.bcastCommit()
			}
		}
	}
}
