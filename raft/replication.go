package raft

import "slices"

// Propose appends a client command to the leader's log and returns the index
// and term it was given. The entry is committed once it is applied; if it is
// later seen at that index with another term, it was lost to a leader change
// and the host should answer the client with a retryable error.
func (r *Raft) Propose(data []byte) (index, term uint64, err error) {
	if err := r.canPropose(); err != nil {
		return 0, 0, err
	}
	r.appendEntries(Entry{Type: EntryNormal, Data: data})
	r.bcastAppend()
	return r.log.lastIndex(), r.term, nil
}

func (r *Raft) canPropose() error {
	switch {
	case r.state != StateLeader:
		return ErrNotLeader
	case r.leadTransferee != None:
		// §3.10: "the prior leader stops accepting client requests" during
		// a transfer, so the target can catch up.
		return ErrTransferring
	case !r.conf.isVoter(r.id):
		// A leader that removed itself keeps replicating until the removal
		// commits (§4.2.2) but takes no new work.
		return ErrProposalDropped
	case r.log.lastIndex()-r.log.committed >= uint64(r.cfg.MaxUncommittedEntries):
		// Backpressure: followers are not keeping up (or are gone).
		return ErrTooManyUncommitted
	}
	return nil
}

// appendEntries gives entries the leader's term and the next indexes and
// adds them to the leader's own log.
func (r *Raft) appendEntries(ents ...Entry) {
	last := r.log.lastIndex()
	confChanged := false
	for i := range ents {
		ents[i].Term = r.term
		ents[i].Index = last + 1 + uint64(i)
		r.log.append(ents[i])
		if ents[i].Type == EntryConfChange {
			r.conf.observe(&ents[i])
			r.pendingConfIndex = ents[i].Index
			confChanged = true
		}
	}
	if confChanged {
		// §4.1: in force once appended. Only then: rebuilding the progress
		// table on every proposal would cost more than the proposal.
		r.onConfChange()
	}
	// The leader's own match moves when the host has persisted the entries
	// (Advance); a single-voter cluster commits then.
}

// bcastAppend sends AppendEntries to every peer that is ready for more.
func (r *Raft) bcastAppend() {
	for _, id := range r.peerIDs() {
		r.sendAppend(id, false)
	}
}

// bcastCommit tells every peer a new commit index at once, with an empty
// AppendEntries where there is nothing new to send: a follower applies, and
// answers the clients waiting on it, as soon as it learns the commit, not at
// the next heartbeat.
func (r *Raft) bcastCommit() {
	for _, id := range r.peerIDs() {
		r.sendAppend(id, true)
	}
}

// peerIDs lists the members other than this server in a stable order, so
// that message order never depends on map iteration. The list is rebuilt
// whenever the progress table changes (refreshPeers), not on every send.
func (r *Raft) peerIDs() []NodeID { return r.peers }

// refreshPeers rebuilds the sorted list of peers from the progress table.
func (r *Raft) refreshPeers() {
	r.peers = r.peers[:0]
	for _, pr := range r.progress {
		if pr.id != r.id {
			r.peers = append(r.peers, pr.id)
		}
	}
}

// sendAppend sends the peer the entries it lacks, or a snapshot when they
// are compacted away. With sendIfEmpty it sends even when there is nothing
// new (a probe). It reports whether it sent anything.
func (r *Raft) sendAppend(to NodeID, sendIfEmpty bool) bool {
	pr := r.progress.get(to)
	if pr == nil || pr.paused() {
		return false
	}
	prevIndex := pr.next - 1
	prevTerm, okTerm := r.log.term(prevIndex)
	ents, okEnts := r.log.slice(pr.next, r.log.lastIndex()+1, r.cfg.MaxMsgBytes)
	if !okTerm || !okEnts {
		return r.sendSnapshot(to, pr)
	}
	if len(ents) == 0 && !sendIfEmpty && pr.state == progressReplicate {
		return false
	}
	var bytes uint64
	for i := range ents {
		bytes += ents[i].size()
	}
	r.send(Message{
		To: to, Type: MsgApp,
		Index: prevIndex, LogTerm: prevTerm,
		Entries: ents,
		Commit:  r.log.committed,
	})
	last := prevIndex + uint64(len(ents))
	pr.sentEntries(last, bytes, len(ents) == 0)
	return true
}

// sendHeartbeat tells a peer the leader is alive (§5.2) and how far it may
// commit. The commit sent is capped at what the peer is known to hold, since
// a heartbeat carries no entries to check it against.
func (r *Raft) sendHeartbeat(to NodeID) {
	pr := r.progress.get(to)
	r.send(Message{
		To: to, Type: MsgHeartbeat,
		Commit: min(pr.match, r.log.committed),
		// Dates the round for the lease (§6.4.1); echoed in the answer.
		Index: r.ticks,
		// Numbers the round for ReadIndex (§6.4); echoed in the answer.
		Round: r.readRound,
	})
}

// bcastHeartbeat begins a new heartbeat round. Every round, periodic or
// started by a read, is numbered, so any answer to a round begun after a
// read arrived helps confirm it (§6.4).
func (r *Raft) bcastHeartbeat() {
	r.readRound++
	for _, id := range r.peerIDs() {
		r.sendHeartbeat(id)
	}
}

// tickHeartbeat runs on the leader.
func (r *Raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	// §7: a snapshot not acknowledged within an election timeout of being
	// sent was lost, or its answer was (unless the host reports on it,
	// ReportSnapshot). Probe the follower again: the probe finds out
	// whether it installed the snapshot, and sends it anew if not. Timed
	// from the send, so a snapshot still on its way is not sent twice.
	for _, id := range r.peerIDs() {
		if pr := r.progress.get(id); pr.state == progressSnapshot &&
			r.ticks-pr.snapshotSentTick >= uint64(r.cfg.ElectionTicks) {
			pr.becomeProbe()
		}
	}
	if r.electionElapsed >= r.cfg.ElectionTicks {
		r.electionElapsed = 0
		if r.cfg.CheckQuorum && !r.checkQuorumActive() {
			// Thesis §6.2: a leader that has not heard from a quorum for
			// an election timeout steps down, so clients find the real
			// leader and lease reads stay safe.
			r.becomeFollower(r.term, None)
			return
		}
		if r.leadTransferee != None {
			// §3.10: a transfer that has not finished within an election
			// timeout is aborted and the leader takes requests again.
			r.leadTransferee = None
		}
	}
	if r.state != StateLeader {
		return
	}
	if r.heartbeatElapsed >= r.cfg.HeartbeatTicks {
		r.heartbeatElapsed = 0
		r.bcastHeartbeat()
	}
}

// checkQuorumActive reports whether a quorum of voters was heard from since
// the last check, and starts a new round.
func (r *Raft) checkQuorumActive() bool {
	active := 0
	for _, pr := range r.progress {
		if pr.id == r.id {
			if r.conf.isVoter(pr.id) {
				active++
			}
			continue
		}
		if pr.recentActive && r.conf.isVoter(pr.id) {
			active++
		}
		pr.recentActive = false
	}
	return active >= r.quorum()
}

// maybeCommit advances the commit index to the highest index stored on a
// quorum. §5.4.2 (Figure 8): "Raft never commits log entries from previous
// terms by counting replicas. Only log entries from the leader's current
// term are committed by counting replicas."
func (r *Raft) maybeCommit() bool {
	var buf [8]uint64 // no allocation for clusters of up to 8 voters
	matches := buf[:0]
	for _, id := range r.conf.voters {
		if pr := r.progress.get(id); pr != nil {
			matches = append(matches, pr.match)
		} else {
			matches = append(matches, 0)
		}
	}
	if len(matches) == 0 {
		return false
	}
	slices.Sort(matches)
	// The quorum-th largest match is held by a quorum.
	candidate := matches[len(matches)-r.quorum()]
	if candidate <= r.log.committed {
		return false
	}
	if t, _ := r.log.term(candidate); t != r.term {
		return false // §5.4.2
	}
	r.log.commitTo(candidate)
	r.onCommit()
	return true
}

// onCommit runs after the leader's commit index moved.
func (r *Raft) onCommit() {
	r.releaseReadsAfterFirstCommit()
	if r.state == StateLeader && !r.conf.isVoter(r.id) && r.log.committed >= r.conf.lastIndex {
		// §4.2.2: a leader that is not part of the new configuration steps
		// down once the configuration entry is committed.
		r.becomeFollower(r.term, None)
	}
}

// stepLeader handles messages as leader.
func (r *Raft) stepLeader(m Message) {
	pr := r.progress.get(m.From)
	if pr == nil {
		return // not a member (any more)
	}
	switch m.Type {
	case MsgAppResp:
		pr.recentActive = true
		r.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		pr.recentActive = true
		pr.probeSent = false
		pr.lastAckTick = max(pr.lastAckTick, m.Index+1)
		if pr.state == progressReplicate && pr.inflights.full() {
			// Lost AppendEntries would leave the window full forever; the
			// heartbeat answer proves the peer is reachable, so let one
			// more message through (its rejection, if any, re-probes).
			pr.inflights.freeFirst()
		}
		if pr.match < r.log.lastIndex() {
			r.sendAppend(m.From, true)
		}
		r.handleReadAck(m, pr)
	}
}

func (r *Raft) handleAppendResponse(m Message, pr *progress) {
	if m.Reject {
		// §5.3: "After a rejection, the leader decrements nextIndex and
		// retries" — here it skips straight past the conflicting term using
		// the follower's hint (fast backtracking).
		next := m.RejectHint
		if m.LogTerm > 0 {
			next = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.maybeDecrTo(m.Index, next) {
			if pr.state == progressReplicate {
				pr.becomeProbe()
			}
			r.sendAppend(m.From, true)
		}
		return
	}
	if m.Index > r.log.lastIndex() {
		// No follower holds more of our log than we do: a confused
		// peer's answer, which must not count toward a commit.
		return
	}
	oldPaused := pr.paused()
	if !pr.maybeUpdate(m.Index) {
		return
	}
	switch {
	case pr.state == progressProbe:
		pr.becomeReplicate()
	case pr.state == progressSnapshot && pr.match >= pr.pendingSnapshot:
		pr.becomeProbe()
		pr.becomeReplicate()
	case pr.state == progressReplicate:
		pr.inflights.freeLE(m.Index)
	}
	if r.maybeCommit() {
		r.bcastCommit()
	} else if oldPaused {
		r.sendAppend(m.From, false)
	}
	// Pipelining: keep the window full.
	for r.state == StateLeader && r.sendAppend(m.From, false) {
	}
	if r.state == StateLeader && m.From == r.leadTransferee && pr.match == r.log.lastIndex() {
		// §3.10: the target is caught up; tell it to campaign now.
		r.sendTimeoutNow(m.From)
	}
}

// stepFollower handles messages as follower.
func (r *Raft) stepFollower(m Message) {
	switch m.Type {
	case MsgApp:
		r.heardFromLeader(m)
		r.handleAppend(m)
	case MsgHeartbeat:
		r.heardFromLeader(m)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.heardFromLeader(m)
		r.handleSnapshot(m)
	case MsgTimeoutNow:
		// §3.10: the leader asks us to start an election at once, which
		// voters grant even inside the lease.
		r.campaign(true)
	case MsgReadIndexResp:
		r.readStates = append(r.readStates, ReadState{Index: m.Index, Context: m.Context})
	}
}

// handleAppend is "AppendEntries RPC, receiver implementation" (Figure 2).
func (r *Raft) handleAppend(m Message) {
	if m.Index < r.log.committed {
		// Everything up to our commit index is settled; tell the leader
		// where we are instead of rechecking history.
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return
	}
	// Rule 2: "Reply false if log doesn't contain an entry at prevLogIndex
	// whose term matches prevLogTerm" (§5.3).
	if !r.log.matchTerm(m.Index, m.LogTerm) {
		hint := r.log.findConflictByTerm(m.Index, m.LogTerm)
		hintTerm, _ := r.log.term(hint)
		r.send(Message{
			To: m.From, Type: MsgAppResp, Reject: true,
			Index: m.Index, RejectHint: hint, LogTerm: hintTerm,
		})
		return
	}
	// Rules 3 and 4: drop conflicting entries, append new ones; never drop
	// entries that match (a stale AppendEntries must not shorten the log).
	if len(m.Entries) > 0 {
		if changed := r.log.truncateAndAppend(m.Entries); changed > 0 {
			r.conf.truncateAndObserve(changed, r.log.entries, r.log.snapIndex)
			r.onConfChange()
		}
	}
	lastNew := m.Index + uint64(len(m.Entries))
	// Rule 5: "If leaderCommit > commitIndex, set commitIndex =
	// min(leaderCommit, index of last new entry)."
	r.log.commitTo(min(m.Commit, lastNew))
	r.send(Message{To: m.From, Type: MsgAppResp, Index: lastNew})
}

func (r *Raft) handleHeartbeat(m Message) {
	// The leader caps Commit at our match, so it is in our log; the min is
	// a guard against a confused peer, not a rule of the algorithm.
	r.log.commitTo(min(m.Commit, r.log.lastIndex()))
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, Index: m.Index, Round: m.Round})
}
