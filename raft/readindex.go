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
	// round is the first heartbeat round the leader began after the request
	// arrived: only answers to it or to a later round confirm the request.
	// Rounds are numbered by the leader, never by the hosts' contexts,
	// which are unique only on the server that made them.
	round uint64
}

// readQueue keeps requests in arrival order, hence in round order: a round
// that confirms one request also confirms every request queued before it.
type readQueue struct {
	// waiting holds requests that arrived before the leader committed an
	// entry of its term (step 1).
	waiting []readRequest
	pending []readRequest
}

func (q *readQueue) reset() {
	q.waiting, q.pending = q.waiting[:0], q.pending[:0]
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
		// A removed learner asks nothing else (it never campaigns), and a
		// removed voter may ask this before it campaigns: tell it, as a
		// vote request is told (TellIfRemoved), whatever role this server
		// plays now, for it forwards to the leader it knew.
		r.TellIfRemoved(m.From)
		if r.state == StateLeader && r.progress.get(m.From) != nil {
			r.leaderRead(readRequest{from: m.From, ctx: m.Context})
		}
		// Not leader, or no member: drop it; the asker times out and asks
		// again.
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
	if r.cfg.ReadMode == ReadLease && r.leaseValid() {
		// Within the lease: no round of heartbeats is needed (§6.4.1).
		r.answerRead(req)
		return
	}
	// Step 3: a new round of heartbeats; the request is confirmed once a
	// quorum of the configuration in force answered this round or a later
	// one. A lone voter confirms at once — but only if that voter is this
	// server: a leader that appended its own removal leads a configuration
	// without itself (§4.1) and must hear from the others.
	req.round = r.readRound + 1
	r.reads.pending = append(r.reads.pending, req)
	r.bcastHeartbeat()
	r.confirmReads()
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

// handleReadAck records the heartbeat round a peer answered and answers
// the reads a quorum has now confirmed.
func (r *Raft) handleReadAck(m Message, pr *progress) {
	pr.ackedRound = max(pr.ackedRound, m.Round)
	if len(r.reads.pending) > 0 {
		r.confirmReads()
	}
}

// confirmReads answers every pending read whose round a quorum of voters
// has answered (step 3 done). Each voter counts with the highest round it
// answered; this server counts only if it is a voter, with the round it
// just sent.
func (r *Raft) confirmReads() {
	var buf [8]uint64
	rounds := buf[:0]
	for _, id := range r.conf.voters {
		switch pr := r.progress.get(id); {
		case id == r.id:
			rounds = append(rounds, r.readRound)
		case pr != nil:
			rounds = append(rounds, pr.ackedRound)
		default:
			rounds = append(rounds, 0)
		}
	}
	if len(rounds) == 0 {
		return
	}
	slices.Sort(rounds)
	// The quorum-th highest round was answered by a quorum.
	confirmed := rounds[len(rounds)-r.quorum()]
	n := 0
	for n < len(r.reads.pending) && r.reads.pending[n].round <= confirmed {
		r.answerRead(r.reads.pending[n])
		n++
	}
	if n > 0 {
		rest := copy(r.reads.pending, r.reads.pending[n:])
		clear(r.reads.pending[rest:])
		r.reads.pending = r.reads.pending[:rest]
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
	var buf [8]uint64
	acks := buf[:0]
	for _, id := range r.conf.voters {
		switch pr := r.progress.get(id); {
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
