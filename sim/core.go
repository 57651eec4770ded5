package sim

import (
	"strconv"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// CoreWorkload is a Workload whose nodes run the Haven service core
// (session.Core) instead of a Service above raft: the node host then drives
// a coreReplica, and NewService is never called. The core owns its raft and
// its state machine; the workload's clients talk to it over connections,
// sending *ConnRequest (World.SendToNodeAt) and getting back what the
// workload sends itself from CoreAnswers, ConnUnknown, ConnDropped and
// NodeCrashed (World.SendToClientAt).
type CoreWorkload interface {
	Workload
	// Bind is called before the nodes start: their settings may depend on
	// the run.
	Bind(w *World)
	// CoreConfig returns a node's service settings around raft's.
	CoreConfig(raft.Config) session.Config
	// CoreObserved is called once the host has persisted and observed a
	// Ready of a node, with the node's term after it: rd holds the entries
	// the node wrote and applied.
	CoreObserved(term uint64, rd *session.Ready)
	// CoreAnswers hands the workload a Ready's replies and deliveries, once
	// the Ready's writes are durable and its messages have gone out. node
	// has applied the log through applied.
	CoreAnswers(node raft.NodeID, applied uint64, rd *session.Ready)
	// ConnUnknown is called for a request (a *ConnRequest) from client on
	// a connection the node does not have: it was opened with an earlier
	// incarnation of the node, or the node was removed.
	ConnUnknown(client int, payload any)
	// ConnDropped is called when the node closes a connection.
	ConnDropped(conn session.ConnID)
	// Submitted is called when the node hands a client's request to the
	// core.
	Submitted(p *ConnRequest)
	// NodeCrashed is called when node id crashes: its connections die.
	NodeCrashed(id raft.NodeID)
}

// ConnRequest is what a client of the service core sends a node over a
// connection (CoreWorkload): the node's host hands it to session.Core.
type ConnRequest struct {
	Conn session.ConnID
	// First marks the first message of a new connection (a connect).
	First bool
	// HangUp closes the connection from the client's side; Req is unused.
	HangUp bool
	Req    session.Request
	// Session is the id of the session the client speaks for (or
	// resumes), "" for none, for the workload's checks: not part of what a
	// real client sends.
	Session string
}

// ConnKey is the connection the request goes over: requests on one
// connection reach the node in the order they were sent.
func (r *ConnRequest) ConnKey() uint64 { return uint64(r.Conn) }

// AppendTrace appends the request as the trace shows it.
func (r *ConnRequest) AppendTrace(b []byte) []byte {
	b = append(b, "conn="...)
	b = strconv.AppendUint(b, uint64(r.Conn), 10)
	if r.HangUp {
		return append(b, " hang-up"...)
	}
	b = append(b, ' ')
	b = append(b, r.Req.Op.String()...)
	b = append(b, " id="...)
	b = strconv.AppendUint(b, r.Req.ID, 10)
	if r.Req.Path != "" {
		b = append(b, ' ')
		b = append(b, r.Req.Path...)
	}
	if r.Req.Item != 0 {
		b = append(b, " item="...)
		b = strconv.AppendUint(b, r.Req.Item, 10)
	}
	if r.Req.Since != nil {
		b = append(b, " since="...)
		b = strconv.AppendUint(b, *r.Req.Since, 10)
	}
	if r.Req.Token != "" {
		b = append(b, " resume"...)
	}
	if r.Req.Stale {
		b = append(b, " stale"...)
	}
	return b
}

// coreReplica runs session.Core on a node: the same code cmd/havend runs.
// The host ticks it with the node's own drifting clock, steps the peers'
// messages into it, submits the clients' requests, and carries out its
// Readys exactly as for raft (persist, fsync, send), plus what the service
// adds: the snapshots it takes of itself (SavedSnapshot), and the replies
// and watch events, which leave only once the Ready is durable.
type coreReplica struct {
	n    *node
	wl   CoreWorkload
	core *session.Core
	// open holds the client connections this incarnation of the node has:
	// a request on any other one came over a connection that died with an
	// earlier incarnation.
	open map[session.ConnID]bool
	// pending are the requests the core holds, for the bounds checks
	// (checks_config.go; with Params.Backpressure only).
	pending pendingRequests
	// tail is the core's SnapshotTail (checks_host.go).
	tail uint64
	// told are the forwarded writes the leader told an index
	// (checks_told.go).
	told toldWrites
}

func newCoreReplica(n *node, wl CoreWorkload, cfg raft.Config, restored raft.RestoredState) (*coreReplica, error) {
	scfg := wl.CoreConfig(cfg)
	core, err := session.New(scfg, restored)
	if err != nil {
		return nil, err
	}
	return &coreReplica{n: n, wl: wl, core: core, open: map[session.ConnID]bool{}, tail: scfg.SnapshotTail}, nil
}

func (c *coreReplica) raftCore() *raft.Raft { return c.core.Raft() }

func (c *coreReplica) tick(nowMs int64) { c.core.Tick(nowMs) }

func (c *coreReplica) stepRaft(m raft.Message) error {
	return c.core.Step(session.PeerMessage{Group: c.n.w.CoreGroup(), From: m.From, To: m.To, Raft: &m})
}

func (c *coreReplica) stepService(m *session.PeerMessage) error {
	if m.ForwardReply != nil {
		c.told.answer(m.ForwardReply, c.core.Machine().AppliedIndex())
	}
	return c.core.Step(*m)
}

func (c *coreReplica) request(client int, payload any) {
	p, ok := payload.(*ConnRequest)
	if !ok {
		c.n.w.Failf("node %d: a client sent %T to the service core", c.n.id, payload)
		return
	}
	switch {
	case p.HangUp:
		if c.open[p.Conn] {
			delete(c.open, p.Conn)
			c.core.ConnClosed(p.Conn)
			c.pending.closed(p.Conn)
			c.told.forget(p.Conn, 0)
		}
	case p.First:
		c.open[p.Conn] = true
		c.took(p)
		c.core.Submit(p.Req)
		c.wl.Submitted(p)
	case !c.open[p.Conn]:
		c.wl.ConnUnknown(client, payload)
	default:
		c.took(p)
		c.core.Submit(p.Req)
		c.wl.Submitted(p)
	}
}

func (c *coreReplica) took(p *ConnRequest) {
	c.told.took(p)
	if c.n.w.params.Backpressure {
		c.pending.took(&p.Req)
	}
}

func (c *coreReplica) hasReady() bool { return c.core.HasReady() }

func (c *coreReplica) ready(out *hostReady) {
	rd := c.core.Ready()
	*out = hostReady{
		soft: rd.SoftState, hard: rd.HardState, entries: rd.Entries, snapshot: rd.Snapshot,
		mustSync: rd.MustSync, saved: rd.SavedSnapshot, core: rd,
		// Raft's messages come first in the core's, so its early ones
		// are the first raftMsgs too.
		early: rd.EarlyMessages,
	}
	for i := range rd.Messages {
		m := &rd.Messages[i]
		if m.Raft != nil {
			out.raftMsgs = append(out.raftMsgs, *m.Raft)
		} else {
			out.serviceMsgs = append(out.serviceMsgs, *m)
		}
	}
	c.told.sent(out.serviceMsgs)
}

// observed checks what the core applied while it made the Ready — the
// snapshot it installed, then its committed entries — against the
// committed log, as the raft host checks what it applies.
func (c *coreReplica) observed(rd *hostReady) error {
	n := c.n
	if rd.snapshot != nil {
		if err := n.installed(rd.snapshot.Meta.Index, snapshotDigest(rd.snapshot)); err != nil {
			return err
		}
	}
	for i := range rd.core.CommittedEntries {
		if err := n.applying(&rd.core.CommittedEntries[i]); err != nil {
			return err
		}
	}
	if len(rd.core.CommittedEntries) > 0 || rd.snapshot != nil {
		// fsm's own invariants, on the node's machine as it applied them
		// (the session truth checks the log's image after every entry).
		if err := c.core.Machine().CheckInvariants(); err != nil {
			return n.w.Errorf("state machine bug: node %d's fsm breaks an invariant after applying through %d: %v", n.id, n.applied, err)
		}
	}
	if n.w.params.Backpressure {
		if err := c.pending.check(n, &rd.core); err != nil {
			return err
		}
	}
	if err := c.told.check(n, &rd.core); err != nil {
		return err
	}
	c.wl.CoreObserved(n.term, &rd.core)
	return nil
}

// complete sends the replies and watch events, then Advances. PROTOCOL.md:
// "The answer comes after the entry is committed and applied on the node
// that answers", and an event is sent "as soon as the node has applied the
// change": nothing the node tells a client may be newer than what it
// applied.
func (c *coreReplica) complete(rd *hostReady) {
	n, w := c.n, c.n.w
	var closing []session.ConnID
	for i := range rd.core.Replies {
		r := &rd.core.Replies[i]
		if r.Version > n.applied {
			w.Failf("node %d answers %v on connection %d with list version %d before applying it (applied through %d)",
				n.id, r.Op, r.Conn, r.Version, n.applied)
			return
		}
		if r.CloseConn && c.open[r.Conn] {
			closing = append(closing, r.Conn)
		}
	}
	for i := range rd.core.Deliveries {
		d := &rd.core.Deliveries[i]
		if d.Event.Version > n.applied {
			w.Failf("node %d delivers the event of entry %d (%s %s) on connection %d before applying it (applied through %d)",
				n.id, d.Event.Version, d.Event.Kind, d.Event.Path, d.Conn, n.applied)
			return
		}
	}
	c.wl.CoreAnswers(n.id, n.applied, &rd.core)
	for _, conn := range closing {
		// The server closes the connection after this answer.
		delete(c.open, conn)
		c.core.ConnClosed(conn)
		c.pending.closed(conn)
		c.told.forget(conn, 0)
	}
	for _, conn := range rd.core.Disconnect {
		// The core has dropped the connection (its watches lost continuity
		// when a snapshot replaced the log): the host closes it, and the
		// client finds out, after the answers already on their way.
		if c.open[conn] {
			delete(c.open, conn)
			c.wl.ConnDropped(conn)
		}
	}
	if job := rd.core.SnapshotJob; job != nil {
		// A real host serialises on another goroutine; here at once.
		c.core.SnapshotDone(job, job.Serialize())
	}
	c.core.Advance()
}

func (c *coreReplica) digest() uint64 { return bytesDigest(c.core.Machine().Snapshot()) }

// CheckCoreReplicas checks that every node that runs the service core, is
// up and has applied the committed log through applied holds the state
// machine whose snapshot is machine: the log's image, as a CoreWorkload
// applies it itself.
func (w *World) CheckCoreReplicas(applied uint64, machine []byte) error {
	want := bytesDigest(machine)
	for _, n := range w.nodes {
		if c, ok := n.app.(*coreReplica); ok && n.up && n.applied == applied && c.digest() != want {
			return w.Errorf("node %d applied the committed log through %d but its state machine differs from the log's", n.id, n.applied)
		}
	}
	return nil
}

// CoreGroup is the Raft group every node of the simulated cluster serves.
func (w *World) CoreGroup() uint64 { return 1 }

// snapshotDigest is the state digest of a snapshot of the service core's
// state machine. fsm snapshots are canonical — the same state gives the
// same bytes on every node — so hashing the bytes compares states.
func snapshotDigest(snap *raft.Snapshot) uint64 { return bytesDigest(snap.Data) }

func bytesDigest(data []byte) uint64 {
	h := uint64(14695981039346656037)
	for len(data) >= 8 {
		v := uint64(data[0]) | uint64(data[1])<<8 | uint64(data[2])<<16 | uint64(data[3])<<24 |
			uint64(data[4])<<32 | uint64(data[5])<<40 | uint64(data[6])<<48 | uint64(data[7])<<56
		h = Mix64(h ^ v)
		data = data[8:]
	}
	for _, b := range data {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return Mix64(h ^ uint64(len(data)))
}

// serviceMessageHash folds a service message into the run's hash.
func serviceMessageHash(m *session.PeerMessage) uint64 {
	switch {
	case m.Forward != nil:
		return Mix64(1 ^ m.Forward.ID<<8 ^ uint64(len(m.Forward.Command))<<40)
	case m.ForwardReply != nil:
		return Mix64(2 ^ m.ForwardReply.ID<<8 ^ m.ForwardReply.Index<<32)
	case m.KeepAlive != nil:
		return Mix64(3 ^ m.KeepAlive.ID<<8 ^ uint64(len(m.KeepAlive.Sessions))<<40)
	case m.KeepAliveAck != nil:
		return Mix64(4 ^ m.KeepAliveAck.ID<<8)
	}
	return 0
}

// serviceMessageKind names a service message for the trace.
func serviceMessageKind(m *session.PeerMessage) (string, uint64) {
	switch {
	case m.Forward != nil:
		return "Forward", m.Forward.ID
	case m.ForwardReply != nil:
		return "ForwardReply", m.ForwardReply.ID
	case m.KeepAlive != nil:
		return "KeepAlive", m.KeepAlive.ID
	case m.KeepAliveAck != nil:
		return "KeepAliveAck", m.KeepAliveAck.ID
	}
	return "?", 0
}
