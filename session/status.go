package session

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/havenproject/haven/raft"
)

// Status is what a node shows of itself: role, term, leader, progress and
// membership (GET /v1/status, `haven status`, the dashboard). Plain data,
// safe to copy to other goroutines.
type Status struct {
	Node string // this node's name, "n<id>" (PROTOCOL.md)
	// Role is "leader", "follower", "candidate" (pre-candidates too), or
	// "removed": a member told this node it is no member (RemovedAt).
	Role          string
	Term          uint64
	Leader        string // the known leader's name, "" if none
	LeaderAddress string // the known leader's address, "" if none or unknown
	Commit        uint64
	Applied       uint64
	Group         uint64
	Sessions      int
	Watches       int
	// RemovedAt is the commit index at which a member told this node it
	// is no member of the cluster (raft's Status.RemovedAt): it no longer
	// campaigns; 0 if no such word holds.
	RemovedAt uint64
	Members   []Member // sorted by ID
}

// Member is one member of the node's configuration in force.
type Member struct {
	ID      raft.NodeID
	Role    string // "voter" or "learner"
	Address string // its client address, as its AddLearner or bootstrap gave it
	// Match is the highest index known replicated on it; on the leader
	// only (0 elsewhere), and the leader's own is its last persisted entry.
	Match uint64
}

// NodeName is how PROTOCOL.md names node id: "n1", "n2", ...; "" for none.
func NodeName(id raft.NodeID) string {
	if id == raft.None {
		return ""
	}
	return "n" + strconv.FormatUint(uint64(id), 10)
}

// Status reports the node's current status. It is cheap enough to call from
// the host loop after every Ready.
func (c *Core) Status() Status {
	rs := c.raft.Status()
	st := Status{
		Node: NodeName(c.id), Term: rs.Term, Leader: NodeName(rs.Lead),
		LeaderAddress: rs.Conf.Addresses[rs.Lead],
		Commit:        rs.Commit, Applied: c.fsm.AppliedIndex(), Group: c.cfg.Group,
		Sessions: c.fsm.Stats().Sessions, RemovedAt: rs.RemovedAt,
	}
	switch {
	case rs.RemovedAt > 0:
		st.Role = "removed"
	case rs.State == raft.StateLeader:
		st.Role = "leader"
	case rs.State == raft.StateCandidate || rs.State == raft.StatePreCandidate:
		st.Role = "candidate"
	default:
		st.Role = "follower"
	}
	for _, w := range c.watchers {
		st.Watches += len(w)
	}
	match := make(map[raft.NodeID]uint64, len(rs.Peers))
	for _, p := range rs.Peers {
		match[p.ID] = p.Match
	}
	add := func(ids []raft.NodeID, role string) {
		for _, id := range ids {
			st.Members = append(st.Members, Member{ID: id, Role: role, Address: rs.Conf.Addresses[id], Match: match[id]})
		}
	}
	add(rs.Conf.Voters, "voter")
	add(rs.Conf.Learners, "learner")
	slices.SortFunc(st.Members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return st
}
