package session

import (
	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// ConnID names one client connection on this node. The host (netproto,
// websvc or the simulator) chooses it; the core only compares them.
type ConnID uint64

// Op is what a client asks for; the edges map their protocol's actions to it.
type Op uint8

const (
	// OpConnect opens a session, or resumes the one whose Token is given.
	OpConnect Op = iota + 1
	OpRead
	OpCreate
	OpUpdate
	OpDelete
	OpWatch
	OpUnwatch
	// OpPing keeps the session alive (Haven heartbeat, Vera ping).
	OpPing
	// OpClose ends the session at once.
	OpClose
	// OpBecome changes the cluster: learner, voter, removed, leader.
	OpBecome
	// OpHeard tells the core that the connection's client sent a message
	// the edge answered itself (a refusal of a malformed request, a
	// discover): PROTOCOL.md's "Any message from the client keeps its
	// session alive" holds for those too. It gets no reply.
	OpHeard
)

var opNames = [...]string{"", "connect", "read", "create", "update", "delete", "watch", "unwatch", "ping", "close", "become", "heard"}

func (o Op) String() string {
	if int(o) < len(opNames) && o != 0 {
		return opNames[o]
	}
	return "unknown"
}

// BecomeKind is the change an OpBecome asks for (PROTOCOL.md, "become").
type BecomeKind string

const (
	BecomeLearner BecomeKind = "learner"
	BecomeVoter   BecomeKind = "voter"
	BecomeRemoved BecomeKind = "removed"
	BecomeLeader  BecomeKind = "leader"
)

// Request is one client request, already parsed by an edge.
type Request struct {
	Conn ConnID
	// ID is the edge's own number for the request, echoed in the Reply; the
	// edge maps it back to the client's rid.
	ID uint64
	Op Op

	Path string
	// Data is the item's value as raw MessagePack (fsm.ValidateData).
	Data      []byte
	Item      uint64
	IfVersion *uint64
	Since     *uint64
	// Stale asks for consistency "stale" reads.
	Stale bool

	// For OpConnect: the requested ttl (0: none asked, the default; an
	// edge puts a ttl its client gave through AskedTTL) and the token of a
	// session to resume (empty: open a new one).
	TTLms uint64
	Token string
	// Seen is, for OpConnect, the highest version the client has seen
	// (PROTOCOL.md's `seen`, 0 if not given): this connection's stale
	// reads wait until the node has applied that far, so they never go
	// back behind what the session saw, even from a node that restarted
	// with a lower commit index.
	Seen uint64

	// MaxListBytes, if set, bounds the list a watch may answer with: a
	// list whose items take more (Data, Owner and 56 bytes each, about
	// their MessagePack) is refused TooLarge before the watch is
	// registered, so that a watch whose answer the edge could not send
	// leaves nothing behind. Edges set it from their message limit.
	MaxListBytes int

	// For OpBecome.
	Become  BecomeKind
	Node    raft.NodeID
	Address string
}

// AskedTTL is the Request.TTLms for a ttl a client gave: as given, but 0
// asks for less than the minimum and gets the minimum (PROTOCOL.md:
// "clamped"), since a TTLms of 0 means none was asked.
func AskedTTL(ms uint64) uint64 { return max(ms, 1) }

// Reply answers one Request. Fields beyond Code and Message are set as the
// operation's answer in PROTOCOL.md says.
type Reply struct {
	Conn ConnID
	ID   uint64
	Op   Op

	Code    fsm.Code
	Message string

	// Connect.
	Session string
	Token   string
	TTLms   uint64
	Resumed bool
	Node    raft.NodeID
	// Leader is the node the answering node believes leads, None if unknown.
	Leader raft.NodeID

	// Lists.
	Item    *fsm.Item
	Items   []fsm.Item
	Version uint64
	Reset   bool

	// CloseConn tells the edge to close the connection after sending.
	CloseConn bool
}

// Delivery is one watch event for one connection, in log order.
type Delivery struct {
	Conn  ConnID
	Event fsm.Event
}

// PeerMessage is everything one node sends another: Raft's messages and
// the service's own (forwarded writes and keepalives). Group names the Raft
// group, so that one day several can share a transport.
type PeerMessage struct {
	Group uint64
	From  raft.NodeID
	To    raft.NodeID

	Raft         *raft.Message
	Forward      *Forward
	ForwardReply *ForwardReply
	KeepAlive    *KeepAlive
	KeepAliveAck *KeepAliveAck
}

// Forward carries a write from a follower to the leader, which proposes it
// and answers with where it went in the log.
type Forward struct {
	// ID is the follower's number for the forward, echoed in the reply.
	ID uint64
	// Term is the term of the leader the follower sent it to. A leader of
	// another term ignores it: a forward held back in the network may
	// reach a later leader, whose memory of answered forwards does not
	// hold it, after the first leader proposed it. A server ignores the
	// forwards of the term it restarted in too: it may have led that term
	// before the crash, and cannot say "not proposed".
	Term uint64
	// Command is an encoded fsm command, or nil for a membership request.
	Command []byte
	// Become is set for a forwarded membership request.
	Become  BecomeKind
	Node    raft.NodeID
	Address string
}

// ForwardReply tells the follower where its command landed, or why not.
type ForwardReply struct {
	ID    uint64
	Index uint64
	Term  uint64
	Code  fsm.Code
	// Message explains a Code other than OK.
	Message string
}

// KeepAlive tells the leader which sessions a follower heard from (PROTOCOL:
// "any message from the client keeps its session alive", through whichever
// node the client is connected to).
type KeepAlive struct {
	ID       uint64
	Sessions []string
}

// KeepAliveAck tells the follower the leader heard the keepalive ID.
type KeepAliveAck struct {
	ID uint64
	// Refused lists the keepalive's sessions the leader does not vouch
	// for: ended, unknown to it, or being expired. Their pings are not
	// answered OK.
	Refused []string
}

// Ready is the batch of effects the host carries out, in the order the
// package doc's "The host contract" gives: persist Snapshot, HardState and
// Entries (fsync if MustSync); then send Messages, start SnapshotJob,
// send Replies and Deliveries and close connections (CloseConn,
// Disconnect), store SavedSnapshot; then Advance.
type Ready struct {
	SoftState raft.SoftState
	HardState raft.HardState
	Entries   []raft.Entry
	Snapshot  *raft.Snapshot
	MustSync  bool

	SavedSnapshot *raft.Snapshot
	// SnapshotJob, if set, is the state machine frozen for a snapshot: the
	// host calls its Serialize (on any goroutine) and then SnapshotDone
	// with the bytes (on its loop). See snapshots.go.
	SnapshotJob *SnapshotJob

	// CommittedEntries are the entries this Ready applied to the state
	// machine, in order. They are already applied; the host need not do
	// anything with them. They are here for the host's own checks: the
	// simulator compares them with the committed log.
	CommittedEntries []raft.Entry

	Messages []PeerMessage
	// EarlyMessages is how many of the first Messages may be sent before
	// or while HardState and Entries are persisted (raft's
	// Ready.EarlyMessages: a leader's appends and heartbeats, §10.2.1).
	EarlyMessages int
	Replies       []Reply
	Deliveries    []Delivery
	// Disconnect lists connections the host must close (after sending
	// their replies): their watches lost continuity because this node
	// installed a snapshot from the leader instead of applying the entries
	// one by one. The client reconnects and registers its watches again
	// with `since`, and is told `reset` where the events are gone.
	Disconnect []ConnID
}
