package session

import "github.com/havenproject/haven/raft"

// Status is a node's state for dashboards and GET /v1/status (the BRIEF's
// agreed shape). Placeholder on the vera branch until the raft branch's
// session/status.go lands; on merge, take theirs.
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

// Member is one member of the node's Raft group.
type Member struct {
	ID      raft.NodeID
	Role    string // "voter" | "learner"
	Address string
	Match   uint64
}
