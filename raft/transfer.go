package raft

import "fmt"

// TransferLeadership asks for leadership to move to target (§3.10). On a
// follower the request is forwarded to the leader. The leader stops taking
// proposals, brings the target's log up to date, then sends it TimeoutNow so
// it starts an election at once; voters grant it even inside the lease. A
// transfer that does not finish within an election timeout is abandoned.
func (r *Raft) TransferLeadership(target NodeID) error {
	switch {
	case r.state == StateLeader:
		return r.transferLeadership(target)
	case r.lead != None:
		r.send(Message{To: r.lead, Type: MsgTransferLeader, Index: uint64(target)})
		return nil
	}
	return ErrNoLeader
}

func (r *Raft) transferLeadership(target NodeID) error {
	switch {
	case target == r.id:
		return nil // already leader
	case !r.conf.isVoter(target):
		return fmt.Errorf("%w: %d is not a voter", ErrBadConfChange, target)
	case r.leadTransferee == target:
		return nil // already under way
	}
	r.leadTransferee = target
	// The transfer must finish within one election timeout (§3.10).
	r.electionElapsed = 0
	if r.progress.get(target).match == r.log.lastIndex() {
		r.sendTimeoutNow(target)
	} else {
		r.sendAppend(target, true)
	}
	return nil
}

// sendTimeoutNow tells the target to campaign at once. Its vote requests
// override the voters' leases (§4.2.3), so from here on this leader's own
// lease proves nothing: lease reads fall back to ReadIndex rounds, which
// fail once the voters move to the target's term.
func (r *Raft) sendTimeoutNow(target NodeID) {
	for _, pr := range r.progress {
		pr.lastAckTick = 0
	}
	r.leaseRevoked = true
	r.send(Message{To: target, Type: MsgTimeoutNow})
}
