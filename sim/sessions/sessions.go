package sessions

import (
	"fmt"
	"maps"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
	"github.com/havenproject/haven/sim"
)

// The sessions workload runs the Haven service core (package session) on
// every node, with clients that do what Haven's clients do: open sessions
// with a ttl, push, update and delete items, read lists (linearizably, and
// sometimes stale), watch lists, ping at a third of their ttl, move to
// another node and resume their session with its token when a node stops
// answering, close their sessions — and crash without closing, leaving the
// cluster to expire them.
//
// It checks, besides everything the simulator checks of raft:
//
//   - the lists are linearizable (linearizability.ListsModel), every
//     session end, close or expiry, recorded at the index that ended it, and
//     every outcome a client never learned resolved from the committed log;
//   - every watcher's events are the changes to its list in the committed
//     log, in order, with no gap and no duplicate, across reconnects with
//     `since` (linearizability/history.Watches, fed by checkEvent);
//   - no false expiry, and every dead session ended within its ttl and a
//     stated bound once a leader is stable (linearizability/history's
//     FalseExpiry and DeadSession, fed by sessions_truth.go);
//   - no node answers or delivers an event before it applied it (sim's core.go),
//     and a stale read never shows a list older than the connection has
//     already shown.
type sessionsWorkload struct {
	cfg *sim.Config
	w   *sim.World
	// paths are the lists the clients use; the first few are hot.
	paths     []string
	hotShare  float64
	thinkMean time.Duration
	// historyPerPath and historyPaths are the service's HistoryPerPath and
	// HistoryPaths for this run: small values make watches that resume
	// with `since` get `reset`, and with fewer retained lists than the
	// clients use, lists' events are dropped whole and retained anew.
	historyPerPath, historyPaths int
	// maxDelay is the longest a message between nodes may take in this
	// run, faults included.
	maxDelay time.Duration

	clients  []*sessClient
	conns    map[session.ConnID]*sessConn
	nextConn session.ConnID
	nextReq  uint64
	// inFlight counts the messages on their way to clients.
	inFlight int
	quiesced bool

	ops      []sessOp
	sessions map[string]*sessRecord
	// heardAt is, per session, when a node last took one of its requests
	// or finished connecting it: from then on nothing keeps it alive.
	heardAt map[string]time.Duration
	truth   sessionsTruth

	lastAckedCall time.Duration
	latency       sim.Histogram
	acked         int
	unknown       int
	answered      int
	// recordWatches says the run writes its history: watchRecords keeps
	// the watch registrations, stops and deliveries, in order, for it.
	recordWatches bool
	watchRecords  []history.Record
}

// sessRecord is what the checks know of one session a client opened.
type sessRecord struct {
	id     string
	client int
	ttl    uint64
	// okPings are the send times of the pings answered OK, in order.
	okPings []time.Duration
	// expiredAnswers are times the client was told SessionExpired.
	expiredAnswers []time.Duration
}

// Client timers, in the low bits of a wake-up token.
type clientTimer uint8

const (
	timerThink    clientTimer = iota // start the next operation
	timerOp                          // the operation's deadline
	timerPing                        // send the next ping
	timerPingWait                    // the ping's deadline
	timerConnect                     // the connect's or resume's deadline
	timerRestart                     // open a session or resume again
	numClientTimers
)

const (
	// sessOpTimeout is how long a client waits for an answer before it
	// gives up on an operation (its outcome then is resolved from the log).
	sessOpTimeout = time.Second
	// sessShortTTL is the ttl of half the clients: the smallest the
	// service allows, which is the hardest to keep alive under faults. The
	// others ask for 1 s to sessLongTTL.
	sessShortTTL = 500
	sessLongTTL  = 3000
	// sessDefaultTTL is the service's default ttl here: a client whose
	// ttl it is asks for none (PROTOCOL.md: ttl_ms is optional), and must
	// be granted it.
	sessDefaultTTL = 2000
	sessHotPaths   = 3
)

// NewWorkload returns the sessions workload for a run. It is registered
// as "sessions" (Config.Workload).
func NewWorkload(cfg *sim.Config) sim.Workload { return newSessionsWorkload(cfg) }

func init() { sim.RegisterWorkload("sessions", NewWorkload) }

// What the engine asks of the workload besides sim.Workload.
var _ interface {
	sim.CoreWorkload
	sim.HistoryRecorder
	SettleBound() time.Duration
} = (*sessionsWorkload)(nil)

func newSessionsWorkload(cfg *sim.Config) *sessionsWorkload {
	wl := &sessionsWorkload{
		cfg: cfg, conns: map[session.ConnID]*sessConn{}, sessions: map[string]*sessRecord{},
		heardAt: map[string]time.Duration{}, recordWatches: cfg.HistoryPath != "",
	}
	for i := range cfg.Keys {
		wl.paths = append(wl.paths, fmt.Sprintf("/data/p%03d", i))
	}
	wl.thinkMean = time.Duration(float64(cfg.Clients) / cfg.ClientRate * float64(time.Second))
	wl.truth.init()
	return wl
}

func (wl *sessionsWorkload) NewService(sim.NodeHost) sim.Service {
	panic("sim: the sessions workload runs the service core, not a Service")
}

func (wl *sessionsWorkload) CoreConfig(rc raft.Config) session.Config {
	cfg := session.Config{
		Raft: rc, Group: wl.w.CoreGroup(), Rand: wl.w.Rand(),
		SnapshotEvery: wl.w.Params().CompactEvery,
		// Half an interval of tail: followers a little behind catch up
		// from entries, those further behind still get snapshots.
		SnapshotTail:   max(wl.w.Params().CompactEvery/2, 1),
		HistoryPerPath: wl.historyPerPath, HistoryPaths: wl.historyPaths,
		DefaultTTLms: sessDefaultTTL,
	}
	if wl.w.Params().Backpressure {
		cfg.MaxPendingWrites, cfg.MaxPendingReads = sim.BackpressureBounds.PendingWrites, sim.BackpressureBounds.PendingReads
		cfg.MaxDeliveriesPerReady = sim.BackpressureBounds.Deliveries
		// Writes forwarded to a leader that is then lost wait out the
		// request timeout, holding their place under the bound: within
		// the liveness bound, not havend's 5 s.
		cfg.RequestTimeoutMs = sim.BackpressureBounds.RequestTimeoutMs
	}
	return cfg
}

func (wl *sessionsWorkload) Bind(w *sim.World) {
	wl.w = w
	wl.maxDelay = w.MaxMessageDelay()
	// One draw for both, so that the seeds draw as before (the mutants'
	// seeds depend on it).
	i := w.Rand().Intn(3)
	wl.historyPerPath, wl.historyPaths = []int{2, 16, 256}[i], []int{8, 48, 0}[i]
}

func (wl *sessionsWorkload) Start(w *sim.World) {
	wl.hotShare = max(w.Params().HotKeys, 0.3)
	wl.clients = make([]*sessClient, wl.cfg.Clients)
	for i := range wl.clients {
		c := &sessClient{id: i, ttl: sessShortTTL, watches: map[string]*watcher{}}
		if i%2 == 1 {
			c.ttl = 1000 + 500*uint64(w.Rand().Intn((sessLongTTL-1000)/500+1))
		}
		c.resetKnowledge()
		wl.clients[i] = c
		wl.setTimer(c, timerRestart, w.Rand().Exp(wl.thinkMean))
	}
}

// setTimer sets one of a client's timers, replacing that timer's earlier
// setting; a token names the setting, so a replaced one is ignored.
func (wl *sessionsWorkload) setTimer(c *sessClient, t clientTimer, after time.Duration) {
	c.timerSeq++
	token := c.timerSeq<<3 | uint64(t)
	c.timers[t] = token
	wl.w.WakeClient(c.id, after, token)
}

func (wl *sessionsWorkload) cancelTimer(c *sessClient, t clientTimer) { c.timers[t] = 0 }

func (wl *sessionsWorkload) ClientWake(client int, token uint64) {
	c := wl.clients[client]
	t := clientTimer(token & 7)
	if t >= numClientTimers || c.timers[t] != token {
		return
	}
	c.timers[t] = 0
	wl.timerFired(c, t)
}

// openConn opens a connection from client c to node.
func (wl *sessionsWorkload) openConn(c *sessClient, node raft.NodeID) *sessConn {
	// Whoever serves that node's address now: a removed node's slot may
	// have come back under a new id (membership.go).
	node = wl.w.CurrentID(node)
	wl.nextConn++
	conn := &sessConn{id: wl.nextConn, client: c.id, node: node, seen: map[string]uint64{}, before: maps.Clone(c.seenPaths), named: c.seen}
	wl.conns[conn.id] = conn
	return conn
}

// toNode sends a request over a connection, in order after what the
// connection already carries.
func (wl *sessionsWorkload) toNode(conn *sessConn, p *sim.ConnRequest) {
	w := wl.w
	at := max(w.Now()+w.ClientDelay(), conn.upAt)
	conn.upAt = at
	w.SendToNodeAt(conn.client, conn.node, p, at)
}

// toClient sends an answer, event or news of a broken connection back.
func (wl *sessionsWorkload) toClient(conn *sessConn, p *connReply) {
	w := wl.w
	at := max(w.Now()+w.ClientDelay(), conn.downAt)
	conn.downAt = at
	wl.inFlight++
	w.SendToClientAt(conn.client, conn.node, p, at)
}

// submitted notes that a node took a client's request: any message keeps
// a session alive (PROTOCOL.md, "Sessions").
func (wl *sessionsWorkload) Submitted(p *sim.ConnRequest) {
	if p.Session != "" && !p.HangUp {
		wl.heardAt[p.Session] = wl.w.Now()
	}
}

func (wl *sessionsWorkload) CoreAnswers(node raft.NodeID, applied uint64, rd *session.Ready) {
	for i := range rd.Replies {
		r := &rd.Replies[i]
		switch {
		case r.Op == session.OpConnect && r.Code == fsm.OK:
			// A connect renews its session when it completes, after its
			// entry is applied or its read barrier passed on this node:
			// possibly long after it was sent.
			wl.heardAt[r.Session] = wl.w.Now()
		case r.Op == session.OpPing:
			// A follower tells the leader of a waiting ping again and
			// again until the leader acknowledges it (or the ping times
			// out): the leader may hear of it as late as its answer.
			if conn := wl.conns[r.Conn]; conn != nil && conn.sess != nil {
				wl.heardAt[conn.sess.id] = wl.w.Now()
			}
		}
		if conn := wl.conns[r.Conn]; conn != nil {
			if req := wl.clients[conn.client].pending[r.ID]; req != nil && r.Op == session.OpRead && r.Code == fsm.OK && !req.stale {
				if err := wl.w.CheckReadCovers(node, conn.client, req.path, req.sent, req.committed, applied); err != nil {
					wl.w.Fail(err)
					return
				}
			}
			wl.toClient(conn, &connReply{conn: r.Conn, reply: r})
		}
	}
	for i := range rd.Deliveries {
		d := &rd.Deliveries[i]
		if conn := wl.conns[d.Conn]; conn != nil {
			wl.toClient(conn, &connReply{conn: d.Conn, event: &d.Event})
		}
	}
}

func (wl *sessionsWorkload) ConnUnknown(client int, payload any) {
	p := payload.(*sim.ConnRequest)
	if conn := wl.conns[p.Conn]; conn != nil {
		wl.toClient(conn, &connReply{conn: p.Conn, broken: true})
	}
}

// connDropped tells a client that the node closed its connection.
func (wl *sessionsWorkload) ConnDropped(id session.ConnID) {
	if conn := wl.conns[id]; conn != nil {
		wl.toClient(conn, &connReply{conn: id, broken: true})
	}
}

func (wl *sessionsWorkload) NodeCrashed(id raft.NodeID) {
	for _, c := range wl.clients {
		if conn := c.conn; conn != nil && conn.node == id && !conn.closed {
			wl.toClient(conn, &connReply{conn: conn.id, broken: true})
		}
	}
}

func (wl *sessionsWorkload) ClientReceive(client int, payload any) {
	wl.inFlight--
	p := payload.(*connReply)
	c := wl.clients[client]
	conn := wl.conns[p.conn]
	if conn == nil || conn.closed || c.conn != conn || c.down {
		return // the client is done with this connection
	}
	switch {
	case p.broken:
		wl.connBroken(c)
	case p.event != nil:
		wl.checkEvent(c, conn, p.event)
	case p.reply != nil:
		wl.answer(c, conn, p.reply)
	}
}

func (wl *sessionsWorkload) ProgressSince(since time.Duration) bool {
	return wl.lastAckedCall >= since
}

func (wl *sessionsWorkload) Quiesce() { wl.quiesced = true }

// Idle reports that the clients are done and the cluster has ended every
// session: the clients stop pinging when they quiesce, so every session is
// a dead one now, and must be expired in time (checkDeadSessions).
func (wl *sessionsWorkload) Idle() bool {
	if wl.inFlight > 0 {
		return false
	}
	for _, c := range wl.clients {
		if c.op != nil || c.connecting != nil || c.ping != nil {
			return false
		}
	}
	wl.truth.advance(wl)
	return wl.checkDeadSessions()
}

// SettleBound is how long the settling phase may take: every session must
// expire in it, so it allows the longest ttl on top of the usual bound.
func (wl *sessionsWorkload) SettleBound() time.Duration {
	return sim.LivenessBound + wl.deadSessionBound(sessLongTTL)
}

// sessOp is one operation of the history the lists model checks.
type sessOp struct {
	client int
	input  linearizability.ListsInput
	call   time.Duration
	ret    time.Duration
	out    linearizability.ListsOutput
	state  opState
	// unavailable is the message of an Unavailable answer that says the
	// write certainly had no effect, which the log must bear out.
	certainlyNot string
}

type opState uint8

const (
	opPending  opState = iota // no answer yet
	opAnswered                // answered at ret with out
	opResolve                 // outcome unknown to the client: read it from the log
	opDropped                 // constrains nothing (a read without an answer)
)

func (wl *sessionsWorkload) beginOp(c *sessClient, input linearizability.ListsInput) int {
	wl.ops = append(wl.ops, sessOp{client: c.id, input: input, call: wl.w.Now()})
	return len(wl.ops) - 1
}
