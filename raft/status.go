package raft

import (
	"slices"
)

// PeerStatus is the leader's view of one peer's replication.
type PeerStatus struct {
	ID        NodeID
	Match     uint64
	Next      uint64
	State     string
	Learner   bool
	Inflights int
}

// Replicating says whether the leader is streaming entries to the peer
// (not probing it, nor waiting for a snapshot to land).
func (p PeerStatus) Replicating() bool { return p.State == progressReplicate.String() }

// Status is a snapshot of a server's state for hosts, dashboards and tests.
type Status struct {
	ID             NodeID
	Term           uint64
	Vote           NodeID
	Lead           NodeID
	State          StateType
	Commit         uint64
	Applied        uint64
	LastIndex      uint64
	LastTerm       uint64
	SnapshotIndex  uint64
	Conf           ConfState
	LeadTransferee NodeID
	// RemovedAt is the commit index at which a member told this server it
	// is no member (MsgRemoved), while no later configuration is in force;
	// 0 otherwise. Such a server does not campaign.
	RemovedAt uint64
	// Peers is set on the leader only, sorted by id.
	Peers []PeerStatus
}

// Status reports the server's current state.
func (r *Raft) Status() Status {
	s := Status{
		ID: r.id, Term: r.term, Vote: r.vote, Lead: r.lead, State: r.state,
		Commit: r.log.committed, Applied: r.log.applied,
		LastIndex: r.log.lastIndex(), LastTerm: r.log.lastTerm(),
		SnapshotIndex: r.log.snapIndex, Conf: r.conf.state(),
		LeadTransferee: r.leadTransferee, RemovedAt: r.RemovedAt(),
	}
	if r.state == StateLeader {
		for _, pr := range r.progress { // sorted by id
			s.Peers = append(s.Peers, PeerStatus{
				ID: pr.id, Match: pr.match, Next: pr.next, State: pr.state.String(),
				Learner: pr.learner, Inflights: pr.inflights.count,
			})
		}
	}
	return s
}

// Entries returns a copy of the log entries in [lo, hi) that are still in
// memory (not compacted). Tests and the simulator's checkers use it.
func (r *Raft) Entries(lo, hi uint64) []Entry {
	if lo <= r.log.snapIndex {
		lo = r.log.snapIndex + 1
	}
	if hi > r.log.lastIndex()+1 {
		hi = r.log.lastIndex() + 1
	}
	if lo >= hi {
		return nil
	}
	return slices.Clone(r.log.entries[lo-r.log.snapIndex-1 : hi-r.log.snapIndex-1])
}

// SoftState returns the current role and known leader; cheap enough to call
// after every step.
func (r *Raft) SoftState() SoftState { return r.softState() }

// Term returns the current term.
func (r *Raft) Term() uint64 { return r.term }

// Vote returns the vote of the current term (None if it has not voted).
func (r *Raft) Vote() NodeID { return r.vote }

// PeerMatch is a leader's view of how far one peer's log matches its own.
type PeerMatch struct {
	ID    NodeID
	Match uint64
}

// AppendPeerMatches appends the leader's match index for each peer, itself
// included, sorted by id, and returns the extended slice; a server that is
// not the leader appends nothing. It is Status().Peers without the
// allocations, for a host that checks it after every step: with room in
// dst it allocates nothing.
func (r *Raft) AppendPeerMatches(dst []PeerMatch) []PeerMatch {
	if r.state != StateLeader {
		return dst
	}
	for _, pr := range r.progress { // sorted by id
		dst = append(dst, PeerMatch{ID: pr.id, Match: pr.match})
	}
	return dst
}

// RemovedAt is Status().RemovedAt without the copy.
func (r *Raft) RemovedAt() uint64 {
	if r.toldRemoved() {
		return r.removedAt
	}
	return 0
}

// IsMember reports whether id is a voter or a learner of the configuration
// in force (Status().Conf without the copy).
func (r *Raft) IsMember(id NodeID) bool { return r.conf.isVoter(id) || r.conf.isLearner(id) }

// AppendVoters appends the voters of the configuration in force, sorted,
// to dst and returns the extended slice (Status().Conf.Voters without the
// copy when dst has room).
func (r *Raft) AppendVoters(dst []NodeID) []NodeID { return append(dst, r.conf.voters...) }
