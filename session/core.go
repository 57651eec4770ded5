package session

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// RandomSource gives the core the randomness it needs for session ids and
// tokens. The host passes crypto/rand in production and a seeded source in
// the simulator; the core never draws randomness of its own.
type RandomSource interface {
	Uint64() uint64
}

// Config holds a node's service settings.
type Config struct {
	Raft  raft.Config
	Group uint64
	FSM   fsm.Options
	Rand  RandomSource

	// Session ttl bounds (PROTOCOL.md, "Sessions"): requests are clamped to
	// [MinTTLms, MaxTTLms]; a request without one gets DefaultTTLms.
	MinTTLms, MaxTTLms, DefaultTTLms uint64
	// RequestTimeoutMs bounds how long a request waits for a leader, a
	// commit or a read index before it is answered Unavailable.
	RequestTimeoutMs int64
	// HistoryPerPath is how many recent events each list keeps for watches
	// that resume with `since` (default 256), HistoryPaths for how many
	// lists, the most recently changed (default 65536): a watch resuming
	// below what was dropped gets `reset`.
	HistoryPerPath, HistoryPaths int
	// SnapshotEvery is how many applied entries after the last snapshot
	// trigger the next one (default 100000, etcd 3.4's snapshot-count and
	// ZooKeeper's snapCount).
	SnapshotEvery uint64
	// SnapshotTail is how many applied entries the log keeps behind a
	// snapshot (default 5000, etcd's SnapshotCatchUpEntries): a snapshot
	// frozen at index X compacts the log only once the node has applied
	// X+SnapshotTail, so a follower less than a tail behind catches up from
	// entries, and its watchers keep their connections, instead of getting
	// a snapshot that closes them (§7).
	SnapshotTail uint64
	// Backpressure (bounds.go). MaxPendingWrites bounds the writes
	// (connects, closes, becomes) waiting for their entry, MaxPendingReads
	// the linearizable reads and resumes waiting for a read index and the
	// stale reads and watches waiting to apply; over either bound a request
	// is refused Unavailable at once. MaxDeliveriesPerReady bounds the
	// events one Ready hands one connection: a connection that would get
	// more is closed after the entries it got whole (one entry's events
	// are never split), and its client resumes its watches with since.
	// Defaults 10000, 10000 and 10000.
	MaxPendingWrites, MaxPendingReads, MaxDeliveriesPerReady int
	// ReadRetryMs is how long a ReadIndex may go unanswered before it is
	// asked again (a message may have been lost).
	ReadRetryMs int64
	// RemovedItemBytes is what each item a session's close or expiry
	// removes counts for, beyond the entry's size, against raft's
	// MaxCommittedBytesPerReady (raft.Config.ApplyCost, which the core
	// sets unless the host did): a small entry that removes thousands of
	// items is applied in a Ready with few others, and the rest wait for
	// the next, between which the host takes messages and ticks, so a
	// burst of ends (a fleet of clients stopping at once) does not hold
	// the loop past an election timeout. Default 4096: with raft's
	// default bound of 16 MiB, about 4,000 removed items a Ready (some
	// 12 ms of havend -dev's loop, docs/decisions.md).
	RemovedItemBytes uint64
}

func (c *Config) setDefaults() {
	if c.MinTTLms == 0 {
		c.MinTTLms = 500
	}
	if c.MaxTTLms == 0 {
		c.MaxTTLms = 60000
	}
	if c.DefaultTTLms == 0 {
		c.DefaultTTLms = 5000
	}
	if c.RequestTimeoutMs == 0 {
		c.RequestTimeoutMs = 5000
	}
	if c.HistoryPerPath == 0 {
		c.HistoryPerPath = 256
	}
	if c.HistoryPaths == 0 {
		c.HistoryPaths = 1 << 16
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 100000
	}
	if c.SnapshotTail == 0 {
		c.SnapshotTail = 5000
	}
	if c.MaxPendingWrites == 0 {
		c.MaxPendingWrites = 10000
	}
	if c.MaxPendingReads == 0 {
		c.MaxPendingReads = 10000
	}
	if c.MaxDeliveriesPerReady == 0 {
		c.MaxDeliveriesPerReady = 10000
	}
	if c.ReadRetryMs == 0 {
		c.ReadRetryMs = 500
	}
	if c.RemovedItemBytes == 0 {
		c.RemovedItemBytes = 4096
	}
	if c.Group == 0 {
		c.Group = 1
	}
}

// Core is one node's service: Raft, the state machine, sessions, requests
// and watches, as a pure state machine driven by its host. Time comes in
// through Tick, messages through Step, client requests through Submit;
// everything it does comes out through Ready. Like raft.Raft it is owned by
// one goroutine (or one simulator).
type Core struct {
	cfg  Config
	id   raft.NodeID
	raft *raft.Raft
	fsm  *fsm.Machine
	now  int64 // milliseconds, from the host's clock
	soft raft.SoftState
	// removedAt is raft's RemovedAt as last noticed (noticeRemoval).
	removedAt uint64

	conns map[ConnID]*conn
	// released lists the connections whose connect was answered while
	// requests waited behind it; Ready runs those requests.
	released []ConnID
	// watchers lists, per path, the connections watching it, sorted, so
	// events go out in the same order on every run without a sort each.
	watchers map[string][]ConnID
	history  history

	writes   writeTracker
	reads    readTracker
	liveness liveness

	// lastSnapshot is the index of the newest snapshot taken or installed.
	lastSnapshot uint64
	// Snapshots in the making (snapshots.go): newJob waits to go out in a
	// Ready, job is with the host being serialised, serialised waits for
	// the tail behind it before it compacts the log.
	newJob, job *SnapshotJob
	serialised  *serialisedSnapshot
	// checked is the leader's snapshot Step last decoded (checkSnapshot).
	checked *checkedSnapshot

	// readyOut is set from Ready to Advance: the host is carrying out a
	// Ready (perhaps persisting it on another goroutine) and gets no other.
	readyOut bool

	messages   []PeerMessage
	replies    []Reply
	deliveries []Delivery
	// delivered counts this Ready's deliveries per connection; overflowed
	// are the connections over MaxDeliveriesPerReady (bounds.go).
	delivered  map[ConnID]int
	overflowed []ConnID
	disconnect []ConnID
	saved      *raft.Snapshot
}

// conn is one client connection and the session it speaks for.
type conn struct {
	session string
	watches map[string]*watch
	// seen is the highest version this connection's client has seen: the
	// `seen` it named on connect, or a version this node answered with.
	// Its stale reads wait until the node has applied that far.
	seen uint64
	// owed says events were delivered to this connection since its last
	// OK pong. They leave only with a pong (PROTOCOL.md, "heartbeat"), so
	// on a follower a ping of such a connection is carried to the leader
	// at once, not with the next tick's keepalive.
	owed bool
	// connecting: a connect of this connection is under way. The requests
	// but reads pipelined behind it (PROTOCOL.md: "Requests on one
	// connection may be pipelined") wait in held until it is answered,
	// then run as the new session's, or are refused if it failed.
	connecting bool
	held       []Request
	// askedConnect: a connect came on this connection. Once it is
	// answered, reads need its session: only a connection that never asks
	// for one (plain HTTP) reads without.
	askedConnect bool
}

// New builds a node's core from its configuration and what its host
// recovered from disk. The state machine is restored from the snapshot;
// entries after it are applied again as Raft hands them out.
func New(cfg Config, restored raft.RestoredState) (*Core, error) {
	cfg.setDefaults()
	if cfg.Rand == nil {
		return nil, errors.New("session: config has no random source")
	}
	var c *Core
	if cfg.Raft.ApplyCost == nil {
		// Raft calls it only from Ready, once c is built.
		cfg.Raft.ApplyCost = func(e *raft.Entry) uint64 { return c.applyCost(e) }
	}
	r, err := raft.New(cfg.Raft, restored)
	if err != nil {
		return nil, err
	}
	c = &Core{
		cfg:       cfg,
		id:        cfg.Raft.ID,
		raft:      r,
		fsm:       fsm.New(cfg.FSM),
		conns:     map[ConnID]*conn{},
		delivered: map[ConnID]int{},
		watchers:  map[string][]ConnID{},
		history:   newHistory(cfg.HistoryPerPath, cfg.HistoryPaths),
	}
	c.writes.init()
	c.writes.startTerm = r.Term()
	c.reads.init()
	c.liveness.init()
	// Forwards, keepalives and reads are numbered from a random start (below 2^63,
	// so the numbers never wrap): an answer meant for an earlier
	// incarnation of this node, held up in the network or by a paused
	// leader, must never match one of this incarnation's. Counting from 0
	// on every start, the simulator found a restarted follower answering a
	// client's push with another push's entry, and proposing a write twice
	// (sessions workload, swarm faults, seeds 1422 and 1472).
	// Read contexts likewise: a read index answer held up in the network
	// must not serve a new incarnation's read at an index from before it
	// was asked (§6.4).
	c.writes.nextForward = cfg.Rand.Uint64() >> 1
	c.liveness.nextBatch = cfg.Rand.Uint64() >> 1
	c.reads.next = cfg.Rand.Uint64() >> 1
	if restored.Snapshot != nil {
		if err := c.fsm.Restore(restored.Snapshot.Data); err != nil {
			return nil, fmt.Errorf("session: restore snapshot: %w", err)
		}
		c.history.reset(restored.Snapshot.Meta.Index)
		c.lastSnapshot = restored.Snapshot.Meta.Index
	}
	c.soft = raft.SoftState{State: raft.StateFollower}
	return c, nil
}

// ID returns the node's id.
func (c *Core) ID() raft.NodeID { return c.id }

// Raft exposes the consensus core for status and checks (read-only use).
func (c *Core) Raft() *raft.Raft { return c.raft }

// Machine exposes the state machine for status, checks and stale reads by
// the host (read-only use).
func (c *Core) Machine() *fsm.Machine { return c.fsm }

// Leader returns the leader this node knows of, or raft.None.
func (c *Core) Leader() raft.NodeID { return c.soft.Lead }

// Tick advances the core's clock to now (milliseconds) and Raft's by one
// tick. The host calls it at a fixed interval.
func (c *Core) Tick(now int64) {
	if now > c.now {
		c.now = now
	}
	c.raft.Tick()
	c.noticeRoleChange()
	c.liveness.tick(c)
	c.writes.tick(c)
	c.reads.tick(c)
}

// Step hands the core a message from a peer.
func (c *Core) Step(m PeerMessage) error {
	if m.Group != c.cfg.Group {
		return fmt.Errorf("session: message for group %d delivered to group %d", m.Group, c.cfg.Group)
	}
	switch {
	case m.Raft != nil:
		if err := c.checkSnapshot(m.Raft); err != nil {
			return err
		}
		if err := c.raft.Step(*m.Raft); err != nil {
			return err
		}
		c.noticeRoleChange()
	case m.Forward != nil:
		// A removed node that never heard of its removal still forwards
		// its clients' writes and keepalives, a learner nothing else:
		// tell it, so that it answers them at once (noticeRemoval).
		c.raft.TellIfRemoved(m.From)
		c.writes.handleForward(c, m.From, m.Forward)
	case m.ForwardReply != nil:
		c.writes.handleForwardReply(c, m.ForwardReply)
	case m.KeepAlive != nil:
		c.raft.TellIfRemoved(m.From)
		c.liveness.handleKeepAlive(c, m.From, m.KeepAlive)
	case m.KeepAliveAck != nil:
		c.liveness.handleKeepAliveAck(c, m.KeepAliveAck)
	default:
		return errors.New("session: empty peer message")
	}
	return nil
}

// checkSnapshot refuses an InstallSnapshot whose state this node's state
// machine cannot read, before Raft installs it: once installed, the node
// could neither apply it nor follow the log after it, and a panic would
// bring it down again at every restart. Refused, the snapshot is an error
// for the host to report; the node keeps its state and keeps serving, and
// the leader sends it again (a corrupt copy may be a transport's fault).
func (c *Core) checkSnapshot(m *raft.Message) error {
	if m.Type != raft.MsgSnap || m.Snapshot == nil || m.Snapshot.Meta.Index <= c.fsm.AppliedIndex() {
		return nil
	}
	restored := fsm.New(c.cfg.FSM)
	if err := restored.Restore(m.Snapshot.Data); err != nil {
		return fmt.Errorf("session: snapshot at %d from node %d refused: %w", m.Snapshot.Meta.Index, m.From, err)
	}
	// Kept, so that installing it does not decode it again.
	c.checked = &checkedSnapshot{meta: m.Snapshot.Meta, data: m.Snapshot.Data, machine: restored}
	return nil
}

// checkedSnapshot is the last snapshot checkSnapshot decoded.
type checkedSnapshot struct {
	meta    raft.SnapshotMeta
	data    []byte
	machine *fsm.Machine
}

// restoreSnapshot replaces the state machine with snap's state, reusing
// checkSnapshot's decoding when it is the same snapshot.
func (c *Core) restoreSnapshot(snap *raft.Snapshot) error {
	checked := c.checked
	c.checked = nil
	if checked != nil && checked.meta.Index == snap.Meta.Index && checked.meta.Term == snap.Meta.Term &&
		len(checked.data) == len(snap.Data) && (len(snap.Data) == 0 || &checked.data[0] == &snap.Data[0]) {
		*c.fsm = *checked.machine
		return nil
	}
	return c.fsm.Restore(snap.Data)
}

// send queues a service message to a peer.
func (c *Core) send(to raft.NodeID, m PeerMessage) {
	m.Group, m.From, m.To = c.cfg.Group, c.id, to
	c.messages = append(c.messages, m)
}

func (c *Core) reply(r Reply) {
	if _, open := c.conns[r.Conn]; !open && r.Op != OpConnect {
		return // the connection went away; nobody to tell
	}
	if r.Code == "" {
		r.Code = fsm.OK
	}
	r.Node = c.id
	r.Leader = c.soft.Lead
	if cn := c.conns[r.Conn]; cn != nil {
		if r.Op == OpConnect && cn.connecting {
			cn.connecting = false
			if len(cn.held) > 0 {
				c.released = append(c.released, r.Conn)
			}
		}
		cn.seen = max(cn.seen, r.Version)
		if r.Op == OpPing && r.Code == fsm.OK {
			cn.owed = false
		}
	}
	c.replies = append(c.replies, r)
}

func (c *Core) fail(req *Request, code fsm.Code, format string, args ...any) {
	c.reply(Reply{Conn: req.Conn, ID: req.ID, Op: req.Op, Code: code, Message: fmt.Sprintf(format, args...)})
}

// ConnClosed forgets a connection and its watches. Its session lives on
// until it expires or is resumed elsewhere (PROTOCOL.md, "Sessions").
func (c *Core) ConnClosed(id ConnID) {
	cn := c.conns[id]
	if cn == nil {
		return
	}
	for path := range cn.watches {
		c.removeWatcher(path, id)
	}
	delete(c.conns, id)
}

// HasReady reports whether Ready has anything for the host. Reads, resumes
// and pings queued for a read index count once a leader is known: Ready
// asks for their index, so its round goes out now, not at the next tick.
func (c *Core) HasReady() bool {
	if c.readyOut {
		return false
	}
	return c.raft.HasReady() || len(c.messages) > 0 || len(c.replies) > 0 ||
		len(c.deliveries) > 0 || len(c.disconnect) > 0 || c.saved != nil ||
		c.newJob != nil || c.reads.canFlush(c) || len(c.released) > 0
}

// Ready collects the node's effects. Committed entries are applied to the
// state machine here — they are already durable on this node (Raft hands
// out only persisted entries) — and the answers and events they cause are
// part of this Ready, which the host sends only after persisting it.
func (c *Core) Ready() Ready {
	if c.readyOut {
		panic("session: Ready called before Advance of the previous Ready (see the package doc)")
	}
	c.readyOut = true
	c.releaseHeld()
	// Reads that arrived since the last Ready ask for their read index
	// now, so its messages leave with this Ready.
	c.reads.flush(c)
	rd := c.raft.Ready()
	if rd.Snapshot != nil {
		c.installSnapshot(rd.Snapshot)
	}
	for i := range rd.CommittedEntries {
		c.applyEntry(&rd.CommittedEntries[i])
	}
	c.liveness.carryOwedPings(c)
	for _, rs := range rd.ReadStates {
		c.reads.indexKnown(rs)
	}
	c.reads.serve(c)
	c.noticeRoleChange()
	c.closeOverflowed()

	out := Ready{
		SoftState: rd.SoftState, HardState: rd.HardState, Entries: rd.Entries,
		Snapshot: rd.Snapshot, MustSync: rd.MustSync, SavedSnapshot: c.saved,
		SnapshotJob: c.newJob, CommittedEntries: rd.CommittedEntries,
		// Raft's messages come first, so its early ones stay first.
		EarlyMessages: rd.EarlyMessages,
	}
	if c.newJob != nil {
		c.job, c.newJob = c.newJob, nil
	}
	out.Messages = make([]PeerMessage, 0, len(rd.Messages)+len(c.messages))
	// Raft reuses its message buffer at Advance; the host may still hold
	// these messages then (in a send queue), so they get their own copy.
	raftMsgs := slices.Clone(rd.Messages)
	for i := range raftMsgs {
		m := &raftMsgs[i]
		out.Messages = append(out.Messages, PeerMessage{Group: c.cfg.Group, From: m.From, To: m.To, Raft: m})
	}
	out.Messages = append(out.Messages, c.messages...)
	out.Replies, out.Deliveries, out.Disconnect = c.replies, c.deliveries, c.disconnect
	c.messages, c.replies, c.deliveries, c.disconnect, c.saved = nil, nil, nil, nil, nil
	return out
}

// Advance tells the core the host carried out the last Ready. It may
// itself create work (entries now durable become appliable, a commit to
// broadcast, a compaction): the host checks HasReady again.
func (c *Core) Advance() {
	if !c.readyOut {
		panic("session: Advance called without a Ready")
	}
	c.readyOut = false
	c.raft.Advance()
	c.maybeCompact()
}

func (c *Core) installSnapshot(snap *raft.Snapshot) {
	if err := c.restoreSnapshot(snap); err != nil {
		// checkSnapshot read this snapshot before Raft took it; failing
		// now is a bug in this process, not bad input.
		panic(fmt.Sprintf("session: node %d cannot restore snapshot at %d: %v", c.id, snap.Meta.Index, err))
	}
	c.history.reset(snap.Meta.Index)
	c.lastSnapshot = snap.Meta.Index
	c.dropSnapshotsBelow(snap.Meta.Index)
	c.writes.forgetBelow(c, snap.Meta.Index)
	if snap.Meta.Term > c.writes.appliedTerm {
		c.writes.settleOlderTerms(c, snap.Meta.Index, snap.Meta.Term)
	}
	// Watchers cannot be told what changed inside the snapshot: carrying on
	// would leave a gap in their events. Their connections are closed, and
	// their clients register again with `since` and get `reset`.
	for _, id := range sortedConnIDs(c.conns) {
		if len(c.conns[id].watches) > 0 {
			c.disconnect = append(c.disconnect, id)
			c.ConnClosed(id)
		}
	}
}

// applyCost is what e costs to apply beyond its size, for raft's bound on
// the committed entries of one Ready: the items a close or an expiry would
// remove, at RemovedItemBytes each.
func (c *Core) applyCost(e *raft.Entry) uint64 {
	if e.Type != raft.EntryNormal {
		return 0
	}
	return uint64(c.fsm.Removes(e.Data)) * c.cfg.RemovedItemBytes
}

// applyEntry applies one committed entry and answers whoever waits on it.
func (c *Core) applyEntry(e *raft.Entry) {
	if e.Type != raft.EntryNormal {
		// Membership lives in Raft; a waiting `become` is answered here.
		c.writes.applied(c, e, fsm.Result{Code: fsm.OK})
		return
	}
	res, events := c.fsm.Apply(e.Index, e.Data)
	c.liveness.applied(c, e, res)
	c.publish(e.Index, events)
	c.writes.applied(c, e, res)
}

// noticeRoleChange reacts to gaining or losing leadership.
func (c *Core) noticeRoleChange() {
	if at := c.raft.RemovedAt(); at != c.removedAt {
		c.noticeRemoval(at)
	}
	now := c.raft.SoftState()
	if now == c.soft {
		return
	}
	wasLeader := c.soft.State == raft.StateLeader
	c.soft = now
	if wasLeader && now.State != raft.StateLeader {
		c.liveness.lostLeadership()
	}
	if !wasLeader && now.State == raft.StateLeader {
		c.liveness.becameLeader(c, c.raft.Term())
	}
	if now.Lead != raft.None {
		c.writes.retryWaiting(c)
		c.reads.flush(c)
	}
}

// noticeRemoval runs when a member has told this node that it is no member
// of the cluster (raft's RemovedAt, at) or a later configuration ended
// that (at 0). No leader of the cluster talks to a removed node again, so
// what waits for one would wait for its timeout: the writes and the
// linearizable reads are answered at once, and so are new ones
// (removedWhy). A write never sent to a leader had no effect; one that
// was may have been applied.
func (c *Core) noticeRemoval(at uint64) {
	c.removedAt = at
	if at == 0 {
		return
	}
	why := c.removedWhy()
	for _, p := range c.writes.queue {
		switch {
		case p.done:
		case p.fwdTerm == 0 && p.index == 0:
			c.writes.finishErr(c, p, fsm.Unavailable, why+"; nothing was applied")
		case p.req.Op == OpBecome && p.req.Become == BecomeRemoved && p.req.Node == c.id:
			// This node's own removal, asked through it: the leader stopped
			// replicating to it once the change was in its log, so it
			// would never see the entry; what was asked holds.
			c.writes.finish(c, p, fsm.Result{Code: fsm.OK})
		default:
			c.writes.finishErr(c, p, fsm.Unavailable, why+"; the write may have been applied: read from a member to find out")
		}
	}
	c.writes.waiting = nil
	for _, r := range c.reads.queue {
		c.fail(&r.req, fsm.Unavailable, "%s", why)
	}
	c.reads.queue = nil
	kept := c.reads.batches[:0]
	for _, b := range c.reads.batches {
		if b.known {
			kept = append(kept, b) // answered by a leader: served once applied
			continue
		}
		for _, r := range b.reads {
			c.fail(&r.req, fsm.Unavailable, "%s", why)
		}
	}
	clear(c.reads.batches[len(kept):])
	c.reads.batches = kept
}

// removedWhy is the answer of a removed node to what needs a leader.
func (c *Core) removedWhy() string {
	return "this node was removed from the cluster (a member said so as of index " + strconv.FormatUint(c.removedAt, 10) + "): connect to a member"
}
