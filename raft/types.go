package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// NodeID names a server. Zero means "nobody" (no vote, no known leader).
type NodeID uint64

// None is the zero NodeID: no vote cast, no leader known.
const None NodeID = 0

// EntryType says how the host should treat an entry's Data.
type EntryType uint8

const (
	// EntryNormal carries a client command (or nothing: the empty entry a new
	// leader appends, §8).
	EntryNormal EntryType = iota
	// EntryConfChange carries an encoded ConfChange (§4.1).
	EntryConfChange
)

func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "Normal"
	case EntryConfChange:
		return "ConfChange"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one slot of the replicated log (Figure 2: "log[]: each entry
// contains command for state machine, and term when entry was received by
// leader (first index is 1)").
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// size is the entry's approximate encoded size, used for byte caps on
// messages and on the in-flight window.
func (e *Entry) size() uint64 { return uint64(len(e.Data)) + 24 }

// HardState is Figure 2's "persistent state on all servers" (currentTerm,
// votedFor) plus the commit index, which is not required for safety but lets
// a restarted node apply what it knows to be committed without waiting.
type HardState struct {
	Term   uint64
	Vote   NodeID
	Commit uint64
}

// IsEmpty reports whether the hard state is the zero value.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// ConfState is a cluster configuration: who votes and who only listens.
// Both lists are kept sorted. Addresses holds each member's address, opaque
// to raft (the service writes its client address there): set by the change
// that adds the member (ConfChange.Context) or by bootstrap, kept in
// snapshots, deleted with the member; nil when no member has one.
type ConfState struct {
	Voters    []NodeID
	Learners  []NodeID
	Addresses map[NodeID]string
}

// SnapshotMeta describes the state a snapshot captures (Figure 13:
// lastIncludedIndex, lastIncludedTerm, and the configuration as of
// lastIncludedIndex, §7).
type SnapshotMeta struct {
	Index uint64
	Term  uint64
	Conf  ConfState
}

// Snapshot is an opaque image of the host's state machine at Meta.Index.
type Snapshot struct {
	Meta SnapshotMeta
	Data []byte
}

// ConfChangeType is one single-server membership step (§4.1, §4.2.1).
type ConfChangeType uint8

const (
	// AddLearner adds a non-voting member that receives the log (§4.2.1).
	AddLearner ConfChangeType = iota + 1
	// AddVoter adds a voter, or promotes a learner to voter.
	AddVoter
	// RemoveNode removes a voter or learner.
	RemoveNode
)

func (t ConfChangeType) String() string {
	switch t {
	case AddLearner:
		return "AddLearner"
	case AddVoter:
		return "AddVoter"
	case RemoveNode:
		return "RemoveNode"
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is the command carried by an EntryConfChange entry. Context,
// on AddLearner and AddVoter, is the member's address: raft keeps it in
// ConfState.Addresses without reading it (an empty Context on a promotion
// keeps the address the learner was added with).
type ConfChange struct {
	Type    ConfChangeType
	Node    NodeID
	Context []byte
}

// Marshal encodes the change for an entry's Data.
func (c ConfChange) Marshal() []byte {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64*2+len(c.Context))
	buf = append(buf, byte(c.Type))
	buf = binary.AppendUvarint(buf, uint64(c.Node))
	buf = binary.AppendUvarint(buf, uint64(len(c.Context)))
	return append(buf, c.Context...)
}

// UnmarshalConfChange decodes what Marshal wrote.
func UnmarshalConfChange(data []byte) (ConfChange, error) {
	if len(data) < 1 {
		return ConfChange{}, errors.New("raft: empty conf change")
	}
	c := ConfChange{Type: ConfChangeType(data[0])}
	rest := data[1:]
	node, n := binary.Uvarint(rest)
	if n <= 0 {
		return ConfChange{}, errors.New("raft: bad conf change node")
	}
	rest = rest[n:]
	l, n := binary.Uvarint(rest)
	if n <= 0 || uint64(len(rest)-n) != l {
		return ConfChange{}, errors.New("raft: bad conf change context")
	}
	c.Node = NodeID(node)
	if l > 0 {
		c.Context = append([]byte(nil), rest[n:]...)
	}
	if c.Type < AddLearner || c.Type > RemoveNode {
		return ConfChange{}, fmt.Errorf("raft: unknown conf change type %d", data[0])
	}
	return c, nil
}

// MessageType names the RPCs of Figure 2 and the extensions of the thesis.
type MessageType uint8

const (
	// MsgApp is AppendEntries (Figure 2, §5.3). Index/LogTerm are
	// prevLogIndex/prevLogTerm; an empty Entries is still a probe.
	MsgApp MessageType = iota + 1
	// MsgAppResp answers MsgApp. On success Index is the follower's last
	// index matched; on rejection Index is the rejected prevLogIndex and
	// RejectHint/LogTerm locate the conflict (§5.3 "fast backtracking").
	MsgAppResp
	// MsgVote is RequestVote (Figure 2, §5.2). Index/LogTerm are
	// lastLogIndex/lastLogTerm.
	MsgVote
	// MsgVoteResp answers MsgVote.
	MsgVoteResp
	// MsgPreVote asks "would you vote for me at Term?" without anyone
	// changing term (thesis §9.6).
	MsgPreVote
	// MsgPreVoteResp answers MsgPreVote.
	MsgPreVoteResp
	// MsgHeartbeat is an empty AppendEntries that also carries commit; its
	// Round numbers the heartbeat round, which confirms leadership for
	// ReadIndex (§6.4), and its Index dates the round for the lease
	// (§6.4.1).
	MsgHeartbeat
	// MsgHeartbeatResp answers MsgHeartbeat.
	MsgHeartbeatResp
	// MsgSnap is InstallSnapshot (Figure 13, §7), sent whole.
	MsgSnap
	// MsgTimeoutNow tells the transfer target to campaign at once (§3.10).
	MsgTimeoutNow
	// MsgReadIndex carries a follower's read request to the leader (§6.4).
	MsgReadIndex
	// MsgReadIndexResp returns the read index to the follower.
	MsgReadIndexResp
	// MsgTransferLeader asks the leader to transfer leadership to From's
	// chosen target (Index holds the target); followers forward it.
	MsgTransferLeader
	// MsgRemoved answers a vote request or a forwarded read index from a
	// server that is a member neither of the sender's latest configuration
	// nor of its committed one: Index is the sender's commit index, at
	// which that server is no member. A server whose configuration in
	// force is no later than Index (from a change or a snapshot) stops
	// campaigning (§4.2.3), and Status reports it removed. It is no RPC of
	// Figure 2: it carries no term, since what it says holds in every term.
	MsgRemoved
	// MsgMemberQuery asks "am I still a member?": a learner sends it to the
	// voters of its configuration when it has heard from no leader for an
	// election timeout, since it never campaigns and would otherwise ask
	// nothing (a removed learner that restarts knows no leader). A server
	// that counts the sender no member answers MsgRemoved, as it answers a
	// vote request; nothing else is answered or changed. Like MsgRemoved,
	// it carries no term.
	MsgMemberQuery
)

var messageTypeNames = map[MessageType]string{
	MsgApp: "MsgApp", MsgAppResp: "MsgAppResp", MsgVote: "MsgVote",
	MsgVoteResp: "MsgVoteResp", MsgPreVote: "MsgPreVote",
	MsgPreVoteResp: "MsgPreVoteResp", MsgHeartbeat: "MsgHeartbeat",
	MsgHeartbeatResp: "MsgHeartbeatResp", MsgSnap: "MsgSnap",
	MsgTimeoutNow: "MsgTimeoutNow", MsgReadIndex: "MsgReadIndex",
	MsgReadIndexResp: "MsgReadIndexResp", MsgTransferLeader: "MsgTransferLeader",
	MsgRemoved: "MsgRemoved", MsgMemberQuery: "MsgMemberQuery",
}

func (t MessageType) String() string {
	if s, ok := messageTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Message is every RPC and response between servers. Fields not used by a
// type are zero.
type Message struct {
	Type    MessageType
	From    NodeID
	To      NodeID
	Term    uint64
	LogTerm uint64
	Index   uint64
	Entries []Entry
	Commit  uint64
	Reject  bool
	// RejectHint is, on a rejected MsgAppResp, the index the leader should
	// try next: the follower's last index if its log is short, else the
	// first index of the conflicting term (§5.3, thesis §3.5).
	RejectHint uint64
	Snapshot   *Snapshot
	// Context is opaque: a ReadIndex request id (MsgReadIndex and its
	// answer), or campaignTransfer on a vote request that comes from a
	// leadership transfer.
	Context []byte
	// Round is, on MsgHeartbeat, the number the leader gave the heartbeat
	// round, echoed in MsgHeartbeatResp: an answer confirms the reads
	// registered up to that round (§6.4).
	Round uint64
}

// ReadState says a read registered with ReadIndex(Context) may be served
// once the host has applied through Index (§6.4).
type ReadState struct {
	Index   uint64
	Context []byte
}

// StateType is the role a server plays.
type StateType uint8

const (
	StateFollower StateType = iota
	StatePreCandidate
	StateCandidate
	StateLeader
)

func (s StateType) String() string {
	switch s {
	case StateFollower:
		return "Follower"
	case StatePreCandidate:
		return "PreCandidate"
	case StateCandidate:
		return "Candidate"
	case StateLeader:
		return "Leader"
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// Errors returned to the host. None of them is fatal.
var (
	ErrNotLeader         = errors.New("raft: not the leader")
	ErrProposalDropped   = errors.New("raft: proposal dropped")
	ErrConfChangePending = errors.New("raft: a configuration change is already in progress")
	ErrNoLeader          = errors.New("raft: no leader known")
	ErrTransferring      = errors.New("raft: leadership transfer in progress")
	ErrSnapshotTooOld    = errors.New("raft: snapshot is older than the current one")
	ErrUnavailable       = errors.New("raft: index not available")
	// ErrTooManyUncommitted refuses a proposal while the leader holds
	// Config.MaxUncommittedEntries uncommitted entries. It wraps
	// ErrProposalDropped: the client may retry later.
	ErrTooManyUncommitted = fmt.Errorf("%w: too many uncommitted entries", ErrProposalDropped)
)
