package raft

import "slices"

// Linearizable reads without writing to the log (§6.4). The leader:
//  1. must have committed an entry of its current term, so its commit index
//     is at least as large as any previously acknowledged write's;
//  2. records its commit index as the read index;
//  3. confirms it is still the leader with a round of heartbeats answered
//     by a quorum (or trusts its lease, §6.4.1);
//  4. hands the read index back; the read is served once the state machine
//     has applied through it.
// Followers forward the request to the leader and serve the read locally
// once they have applied through the index the leader returned (§6.4:
// "followers could also help offload the processing of read-only queries").

// readRequest is one ReadIndex call waiting for leadership confirmation.
type readRequest struct {
	index uint64
	from  NodeID // who asked: this server, or a follower to answer
	ctx   []byte
	acks  map[NodeID]bool
}

// readQueue keeps requests in arrival order: a heartbeat round that confirms
// one request also confirms every request queued before it, because those
// rounds were sent earlier and leadership was held throughout.
type readQueue struct {
	// waiting holds requests that arrived before the leader committed an
	// entry of its term (step 1).
	waiting []readRequest
	pending []*readRequest
}

func (q *readQueue) reset() {
	q.waiting, q.pending = nil, nil
}

// ReadIndex asks for a read index for ctx, which must be unique among the
// host's outstanding reads. The answer arrives as a ReadState in a later
// Ready — on this server even if the request is forwarded to the leader. If
// it never arrives (the leader changed, a message was lost), the host times
// the read out and retries.
func (r *Raft) ReadIndex(ctx []byte) error {
	switch {
	case r.state == StateLeader:
		r.leaderRead(readRequest{from: r.id, ctx: ctx})
		return nil
	case r.lead != None:
		r.send(Message{To: r.lead, Type: MsgReadIndex, Context: ctx})
		return nil
	}
	return ErrNoLeader
}

// stepForwarded handles requests forwarded by other servers.
func (r *Raft) stepForwarded(m Message) {
	switch m.Type {
	case MsgReadIndex:
		if r.state == StateLeader && r.progress[m.From] != nil {
			r.leaderRead(readRequest{from: m.From, ctx: m.Context})
		}
		// Not leader: drop it; the follower times out and asks again.
	case MsgTransferLeader:
		if r.state == StateLeader {
			r.transferLeadership(NodeID(m.Index))
		} else if r.lead != None {
			r.send(Message{To: r.lead, Type: MsgTransferLeader, Index: m.Index})
		}
	}
}

func (r *Raft) committedInCurrentTerm() bool {
	t, _ := r.log.term(r.log.committed)
	return t == r.term
}

func (r *Raft) leaderRead(req readRequest) {
	if !r.committedInCurrentTerm() {
		// Step 1: wait for the first commit of our term.
		r.reads.waiting = append(r.reads.waiting, req)
		return
	}
	req.index = r.log.committed
	if len(r.conf.voters) == 1 || (r.cfg.ReadMode == ReadLease && r.leaseValid()) {
		// Alone, or within the lease: no round of heartbeats is needed
		// (§6.4.1).
		r.answerRead(req)
		return
	}
	req.acks = map[NodeID]bool{r.id: true}
	r.reads.pending = append(r.reads.pending, &req)
	r.bcastHeartbeat(req.ctx)
}

func (r *Raft) answerRead(req readRequest) {
	if req.from == r.id {
		r.readStates = append(r.readStates, ReadState{Index: req.index, Context: req.ctx})
		return
	}
	r.send(Message{To: req.from, Type: MsgReadIndexResp, Index: req.index, Context: req.ctx})
}

// releaseReadsAfterFirstCommit starts the reads that waited for step 1.
func (r *Raft) releaseReadsAfterFirstCommit() {
	if r.state != StateLeader || len(r.reads.waiting) == 0 || !r.committedInCurrentTerm() {
		return
	}
	waiting := r.reads.waiting
	r.reads.waiting = nil
	for _, req := range waiting {
		r.leaderRead(req)
	}
}

// handleReadAck counts a heartbeat answer towards the read it confirms.
func (r *Raft) handleReadAck(m Message) {
	if len(m.Context) == 0 || !r.conf.isVoter(m.From) {
		return
	}
	for i, req := range r.reads.pending {
		if string(req.ctx) != string(m.Context) {
			continue
		}
		req.acks[m.From] = true
		if len(req.acks) < r.quorum() {
			return
		}
		// Step 3 done for this request and all before it.
		done := r.reads.pending[:i+1]
		r.reads.pending = append([]*readRequest(nil), r.reads.pending[i+1:]...)
		for _, d := range done {
			r.answerRead(*d)
		}
		return
	}
}

// leaseValid reports whether the leader lease holds (§6.4.1): a quorum of
// voters answered a heartbeat sent less than an election timeout (minus the
// drift margin) ago. Each of them refuses to vote for another candidate
// until an election timeout after it received that heartbeat (§4.2.3), so
// no other leader can exist yet. The lease is counted from when the round
// was sent, not answered, and never survives a leadership transfer.
func (r *Raft) leaseValid() bool {
	if r.leaseRevoked {
		return false
	}
	acks := make([]uint64, 0, len(r.conf.voters))
	for _, id := range r.conf.voters {
		switch pr := r.progress[id]; {
		case id == r.id:
			acks = append(acks, r.ticks+1)
		case pr != nil:
			acks = append(acks, pr.lastAckTick)
		default:
			acks = append(acks, 0)
		}
	}
	slices.Sort(acks)
	sentPlusOne := acks[len(acks)-r.quorum()]
	if sentPlusOne == 0 {
		return false
	}
	return r.ticks < sentPlusOne-1+uint64(r.cfg.ElectionTicks-r.cfg.LeaseMarginTicks)
}
