package session

import (
	"slices"
	"strconv"
	"strings"

	"github.com/havenproject/haven/raft"
)

// Status is a node's state for dashboards, /v1/status and discover. It is
// plain data: the host copies it out of its loop for other goroutines.
//
// (Written by the havend branch to the shape agreed in BRIEF.md, until the
// raft branch's version lands; addresses are filled in by the host.)
type Status struct {
	Node          string
	Role          string
	Term          uint64
	Leader        string
	LeaderAddress string
	Commit        uint64
	Applied       uint64
	Group         uint64
	Sessions      int
	Watches       int
	Members       []Member
}

// Member is one member of the configuration.
type Member struct {
	ID      raft.NodeID
	Role    string // "voter" or "learner"
	Address string
	Match   uint64
}

// Status reports the node's current state; cheap enough for every loop turn.
func (c *Core) Status() Status {
	rs := c.raft.Status()
	s := Status{
		Node: nodeName(c.id), Role: strings.ToLower(rs.State.String()), Term: rs.Term,
		Leader: nodeName(rs.Lead), Commit: rs.Commit, Applied: c.fsm.AppliedIndex(),
		Group: c.cfg.Group, Sessions: c.fsm.Stats().Sessions,
	}
	if s.Role == "follower" && slices.Contains(rs.Conf.Learners, c.id) {
		s.Role = "learner"
	}
	for _, set := range c.watchers {
		s.Watches += len(set)
	}
	match := map[raft.NodeID]uint64{}
	for _, p := range rs.Peers {
		match[p.ID] = p.Match
	}
	for _, id := range rs.Conf.Voters {
		s.Members = append(s.Members, Member{ID: id, Role: "voter", Match: match[id]})
	}
	for _, id := range rs.Conf.Learners {
		s.Members = append(s.Members, Member{ID: id, Role: "learner", Match: match[id]})
	}
	return s
}

func nodeName(id raft.NodeID) string {
	if id == raft.None {
		return ""
	}
	return "n" + strconv.FormatUint(uint64(id), 10)
}
