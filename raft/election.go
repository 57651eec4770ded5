package raft

// campaignTransfer marks the vote requests of an election started by
// MsgTimeoutNow, which voters grant even inside a leader's lease (§3.10).
const campaignTransfer = "transfer"

// tickElection runs on followers and candidates: "If election timeout
// elapses without receiving AppendEntries RPC from current leader or
// granting vote to candidate: convert to candidate" (Figure 2, §5.2).
func (r *Raft) tickElection() {
	r.electionElapsed++
	// Only a server that campaigns restarts its timer here. One that cannot
	// (a learner, or a voter that has not yet received its promotion) just
	// keeps counting; its promise not to vote (withholdVotesUntil, §4.2.3)
	// runs out on its own, so it answers vote requests once no leader has
	// been heard for an election timeout.
	if r.electionElapsed >= r.randomizedElectionTimeout && r.promotable() {
		r.electionElapsed = 0
		r.campaign(false)
		return
	}
	if r.electionElapsed%r.cfg.ElectionTicks == 0 && r.conf.isLearner(r.id) && !r.toldRemoved() {
		r.askIfMember()
	}
}

// askIfMember asks the voters of a learner's configuration whether it is
// still a member (MsgMemberQuery), once per election timeout in which it
// heard from no leader. A voter asks by campaigning, and is told by the
// answer to its vote request if it was removed; a learner never campaigns,
// and one removed while it was down would otherwise never be told: on
// restart it knows no leader to forward its clients' requests to, and the
// leader no longer sends it anything.
func (r *Raft) askIfMember() {
	for _, id := range r.conf.voters {
		if id != r.id {
			r.send(Message{To: id, Type: MsgMemberQuery})
		}
	}
}

// campaign starts a pre-election if PreVote is on, else an election. A
// transfer skips the pre-election: the leader asked for it (§3.10).
func (r *Raft) campaign(transfer bool) {
	if !r.promotable() {
		return
	}
	if r.cfg.PreVote && !transfer {
		r.becomePreCandidate()
		r.requestVotes(MsgPreVote, r.term+1, nil)
		return
	}
	r.becomeCandidate()
	var ctx []byte
	if transfer {
		ctx = []byte(campaignTransfer)
	}
	r.requestVotes(MsgVote, r.term, ctx)
}

// requestVotes votes for itself and asks every other voter (§5.2: "issues
// RequestVote RPCs in parallel to each of the other servers").
func (r *Raft) requestVotes(t MessageType, term uint64, ctx []byte) {
	if r.recordVote(r.id, true) {
		// A single-voter cluster wins at once.
		r.winElection(t)
		return
	}
	for _, id := range r.conf.voters {
		if id == r.id {
			continue
		}
		r.send(Message{
			To: id, Type: t, Term: term,
			Index: r.log.lastIndex(), LogTerm: r.log.lastTerm(),
			Context: ctx,
		})
	}
}

// recordVote counts a vote and reports whether the election is won. Only
// voters' answers count; a learner's is ignored.
func (r *Raft) recordVote(from NodeID, granted bool) bool {
	if !r.conf.isVoter(from) {
		return false
	}
	if _, seen := r.votes[from]; !seen {
		r.votes[from] = granted
	}
	return r.countVotes(true) >= r.quorum()
}

func (r *Raft) countVotes(granted bool) int {
	n := 0
	for _, v := range r.votes {
		if v == granted {
			n++
		}
	}
	return n
}

func (r *Raft) winElection(t MessageType) {
	if t == MsgPreVote {
		// The pre-election is won: run the real one.
		r.becomeCandidate()
		r.requestVotes(MsgVote, r.term, nil)
		return
	}
	r.becomeLeader()
	r.bcastAppend()
}

// handleVoteRequest answers RequestVote and pre-votes (Figure 2,
// "RequestVote RPC, receiver implementation"; thesis §9.6).
func (r *Raft) handleVoteRequest(m Message) {
	respType := MsgVoteResp
	if m.Type == MsgPreVote {
		respType = MsgPreVoteResp
	}
	// Rule 2: "If votedFor is null or candidateId, and candidate's log is at
	// least as up-to-date as receiver's log, grant vote" (§5.2, §5.4.1).
	// A pre-vote for a later term is granted on the log check alone: it
	// commits us to nothing. We also refuse while we follow a known leader
	// of this term: the candidate cannot win in a term that has a leader.
	canVote := r.vote == m.From ||
		(r.vote == None && r.lead == None) ||
		(m.Type == MsgPreVote && m.Term > r.term)
	if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {
		// A granted answer carries the term asked about, not ours: for a
		// pre-vote ours is lower, and the pre-candidate must not take it
		// as a rejection from the past.
		r.send(Message{To: m.From, Type: respType, Term: m.Term})
		if m.Type == MsgVote {
			// §5.2: granting a vote resets the election timer, so we do
			// not start a competing election right away.
			r.electionElapsed = 0
			r.setVote(m.From)
		}
		return
	}
	r.send(Message{To: m.From, Type: respType, Reject: true})
}

// stepCandidate handles messages while (pre-)campaigning.
func (r *Raft) stepCandidate(m Message) {
	switch m.Type {
	case MsgApp, MsgHeartbeat, MsgSnap:
		// §5.2: "If AppendEntries RPC received from new leader: convert to
		// follower." Its term equals ours here (higher was handled).
		r.becomeFollower(m.Term, m.From)
		r.stepFollower(m)
	case MsgVoteResp, MsgPreVoteResp:
		want := MsgVoteResp
		if r.state == StatePreCandidate {
			want = MsgPreVoteResp
		}
		if m.Type != want {
			return // an answer to an election we are no longer running
		}
		if r.recordVote(m.From, !m.Reject) {
			if r.state == StatePreCandidate {
				r.winElection(MsgPreVote)
			} else {
				r.winElection(MsgVote)
			}
			return
		}
		if r.countVotes(false) >= r.quorum() {
			// Lost: wait as a follower for the winner or the next timeout.
			r.becomeFollower(r.term, None)
		}
	case MsgTimeoutNow:
		// Already campaigning; a transfer to us is in progress anyway.
	}
}
