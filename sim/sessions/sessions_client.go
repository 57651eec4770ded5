package sessions

import (
	"slices"
	"strconv"
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
	"github.com/havenproject/haven/sim"
)

// sessClient is one simulated Haven client. It holds at most one session
// and one connection at a time, and has at most one operation, one ping and
// one connect (or resume) in flight, pipelined on its connection.
type sessClient struct {
	id  int
	ttl uint64 // asked for (and granted: no client asks outside the bounds)

	timers   [numClientTimers]uint64
	timerSeq uint64

	conn *sessConn
	// sess is the current session, nil while the client has none.
	sess *clientSession
	// connecting is the connect or resume in flight; resuming says which.
	connecting *clientReq
	resuming   bool
	op         *clientReq
	ping       *clientReq
	// pending are the requests sent on conn that await an answer.
	pending map[uint64]*clientReq
	// down is set while the client is crashed.
	down bool

	// watches are the lists the client watches in this session.
	watches map[string]*watcher
	// What the client has learned in this session, to make requests that
	// succeed and fail in every way: its own items and others' by list,
	// and the last version of each list.
	own      map[string][]uint64
	foreign  map[string][]uint64
	versions map[string]uint64
	// deleted are the items the client asked to delete: it never names
	// them again (see remove).
	deleted map[uint64]bool
	dataSeq uint64

	// seen is the highest version the client process has seen (answers
	// and events), kept across its sessions as netproto/client keeps it;
	// it names it as `seen` on every connect (PROTOCOL.md, "Reads").
	// seenPaths is the same per list: a stale read on a later connection
	// must show no older version of that list.
	seen      uint64
	seenPaths map[string]uint64
}

// saw records that the client was shown version v of path.
func (c *sessClient) saw(path string, v uint64) {
	c.seen = max(c.seen, v)
	if path == "" || v <= c.seenPaths[path] {
		return
	}
	if c.seenPaths == nil {
		c.seenPaths = map[string]uint64{}
	}
	c.seenPaths[path] = v
}

type clientSession struct {
	id, token string
	rec       *sessRecord
}

// clientReq is a request in flight.
type clientReq struct {
	id    uint64
	op    session.Op
	sent  time.Duration
	path  string
	stale bool
	// hist is the request's operation in the history, -1 if none.
	hist int
	// target is the item an update or delete names.
	target uint64
	// withSince is set on a watch that asked for the events since a version.
	withSince bool
	// committed is, for a linearizable read, how far the log was
	// committed when the client invoked it.
	committed uint64
}

// watcher is the client's watch of one list, and the checker's
// expectation of it.
type watcher struct {
	path string
	// registering is the watch request in flight; active is set once its
	// answer arrived, and events are expected.
	registering *clientReq
	active      bool
	// last is the version of the last change the client saw: the
	// registration answer's, or the last event's. A resume asks `since` it.
	last    uint64
	hasLast bool
	// conn is the connection an active watch was registered on.
	conn session.ConnID
}

func (c *sessClient) resetKnowledge() {
	c.own, c.foreign, c.versions = map[string][]uint64{}, map[string][]uint64{}, map[string]uint64{}
	c.deleted = map[uint64]bool{}
	c.watches = map[string]*watcher{}
}

// ready reports whether the client can send operations.
func (c *sessClient) ready() bool {
	return c.sess != nil && c.conn != nil && c.connecting == nil && !c.down
}

func (wl *sessionsWorkload) timerFired(c *sessClient, t clientTimer) {
	if c.down && t != timerRestart {
		return
	}
	switch t {
	case timerThink:
		switch {
		case wl.quiesced:
		case c.ready() && c.op == nil:
			wl.startOp(c)
		default:
			wl.setTimer(c, timerThink, wl.w.Rand().Exp(wl.thinkMean))
		}
	case timerOp:
		if c.op != nil {
			wl.opTimedOut(c)
		}
	case timerPing:
		wl.sendPing(c)
	case timerPingWait:
		if c.ping != nil {
			// No answer in a third of the ttl: this node cannot reach a
			// leader, or is gone. Go elsewhere before the ttl runs out.
			c.ping = nil
			wl.resume(c)
		}
	case timerConnect:
		if c.connecting != nil {
			c.connecting = nil
			wl.connectFailed(c)
		}
	case timerRestart:
		c.down = false
		switch {
		case wl.quiesced:
		case c.sess != nil:
			wl.resume(c)
		default:
			wl.newSession(c)
		}
	}
}

// send sends a request on the client's connection.
func (wl *sessionsWorkload) send(c *sessClient, req *clientReq, r session.Request, first bool) {
	wl.nextReq++
	req.id, req.sent = wl.nextReq, wl.w.Now()
	r.ID, r.Conn, r.Op = req.id, c.conn.id, req.op
	if c.pending == nil {
		c.pending = map[uint64]*clientReq{}
	}
	c.pending[req.id] = req
	p := &sim.ConnRequest{Conn: c.conn.id, First: first, Req: r}
	if c.sess != nil && c.sess.rec != nil {
		p.Session = c.sess.rec.id
	}
	wl.toNode(c.conn, p)
}

// hangUp closes the client's connection. What was in flight on it is left
// to its fate: writes are resolved from the log.
func (wl *sessionsWorkload) hangUp(c *sessClient, tell bool) {
	if c.conn == nil {
		return
	}
	if tell && !c.conn.closed {
		wl.toNode(c.conn, &sim.ConnRequest{Conn: c.conn.id, HangUp: true})
	}
	c.conn.closed = true
	c.conn = nil
	wl.abandonPending(c)
}

// abandonPending gives up on everything in flight on the old connection.
func (wl *sessionsWorkload) abandonPending(c *sessClient) {
	// The watches came on that connection: they end with it.
	wl.stopWatches(c)
	for _, req := range c.pending {
		wl.giveUp(req)
	}
	c.pending = nil
	if c.op != nil && c.op.op == session.OpClose {
		// The client cannot tell whether its close ended the session; it
		// gives the session up (it expires if it is still alive) rather
		// than close it twice.
		c.sess = nil
		c.resetKnowledge()
	}
	if c.op != nil {
		c.op = nil
		wl.cancelTimer(c, timerOp)
		if !wl.quiesced {
			wl.setTimer(c, timerThink, wl.w.Rand().Exp(wl.thinkMean))
		}
	}
	c.ping, c.connecting = nil, nil
	for _, wt := range c.watches {
		wt.registering = nil
	}
}

// stopWatches ends the client's active watches, in path order.
func (wl *sessionsWorkload) stopWatches(c *sessClient) {
	for _, path := range sortedKeys(c.watches) {
		wl.stopWatch(c, c.watches[path])
	}
}

// giveUp records that the client will never learn the outcome of req.
func (wl *sessionsWorkload) giveUp(req *clientReq) {
	if req.hist < 0 {
		return
	}
	op := &wl.ops[req.hist]
	if op.state != opPending {
		return
	}
	if op.input.Op == linearizability.ReadList {
		op.state = opDropped
		return
	}
	op.state = opResolve
	wl.unknown++
}

func (wl *sessionsWorkload) otherNode(not raft.NodeID) raft.NodeID {
	w := wl.w
	if w.Nodes() == 1 {
		return 1
	}
	for {
		if n := raft.NodeID(1 + w.Rand().Intn(w.Nodes())); n != not {
			return n
		}
	}
}

// newSession opens a new session on some node.
func (wl *sessionsWorkload) newSession(c *sessClient) {
	if wl.quiesced {
		return
	}
	wl.hangUp(c, true)
	c.sess = nil
	c.resetKnowledge()
	c.conn = wl.openConn(c, raft.NodeID(1+wl.w.Rand().Intn(wl.w.Nodes())))
	c.resuming = false
	c.connecting = &clientReq{op: session.OpConnect, hist: -1}
	ttl := c.ttl
	if ttl == sessDefaultTTL {
		ttl = 0 // the default, which the answer must grant
	}
	wl.send(c, c.connecting, session.Request{TTLms: ttl, Seen: c.seen}, true)
	wl.setTimer(c, timerConnect, sessOpTimeout)
	wl.pipelineStaleRead(c)
}

// resume moves the session to another node: the client reconnects there
// with its token (PROTOCOL.md, "Sessions").
func (wl *sessionsWorkload) resume(c *sessClient) {
	if wl.quiesced || c.down {
		return
	}
	if c.sess == nil {
		wl.newSession(c)
		return
	}
	from := raft.None
	if c.conn != nil {
		from = c.conn.node
	}
	wl.hangUp(c, true)
	if c.sess == nil {
		wl.newSession(c) // a close was in flight: the session is given up
		return
	}
	c.conn = wl.openConn(c, wl.otherNode(from))
	c.resuming = true
	c.connecting = &clientReq{op: session.OpConnect, hist: -1}
	wl.send(c, c.connecting, session.Request{Token: c.sess.token, Seen: c.seen}, true)
	wl.setTimer(c, timerConnect, sessOpTimeout)
	wl.pipelineStaleRead(c)
}

// pipelineStaleRead sends, now and then, a stale read of a list the client
// has seen right behind its connect, before the answer: the node must hold
// it until it has applied through the connect's `seen` (PROTOCOL.md,
// "Reads"), which the node the client left may have been far ahead of, and
// a node that restarted with a lower commit behind.
func (wl *sessionsWorkload) pipelineStaleRead(c *sessClient) {
	if wl.quiesced || c.op != nil || len(c.seenPaths) == 0 || !wl.w.Rand().Chance(0.3) {
		return
	}
	paths := sortedKeys(c.seenPaths)
	wl.read(c, paths[wl.w.Rand().Intn(len(paths))], true)
}

func (wl *sessionsWorkload) connectFailed(c *sessClient) {
	wl.hangUp(c, true)
	wl.setTimer(c, timerRestart, wl.w.Rand().Duration(2*time.Millisecond, 20*time.Millisecond))
}

// sessionGone forgets a session that has ended.
func (wl *sessionsWorkload) sessionGone(c *sessClient) {
	if c.sess == nil {
		return
	}
	c.sess.rec.expiredAnswers = append(c.sess.rec.expiredAnswers, wl.w.Now())
	c.sess = nil
	wl.hangUp(c, true)
	c.resetKnowledge()
	wl.setTimer(c, timerRestart, wl.w.Rand().Duration(2*time.Millisecond, 20*time.Millisecond))
}

func (wl *sessionsWorkload) connBroken(c *sessClient) {
	c.conn.closed = true
	c.conn = nil
	wl.abandonPending(c)
	wl.setTimer(c, timerRestart, wl.w.Rand().Duration(2*time.Millisecond, 20*time.Millisecond))
}

func (wl *sessionsWorkload) sendPing(c *sessClient) {
	if wl.quiesced || c.sess == nil {
		return
	}
	interval := time.Duration(c.sess.rec.ttl) * time.Millisecond / 3
	wl.setTimer(c, timerPing, interval)
	if !c.ready() || c.ping != nil {
		return
	}
	c.ping = &clientReq{op: session.OpPing, hist: -1}
	wl.send(c, c.ping, session.Request{}, false)
	wl.setTimer(c, timerPingWait, interval)
}

// startOp starts the client's next operation.
func (wl *sessionsWorkload) startOp(c *sessClient) {
	w := wl.w
	path := wl.pickPath()
	roll := w.Rand().Float64()
	switch {
	case roll < 0.04:
		wl.crashClient(c)
		return
	case roll < 0.08:
		wl.closeSession(c)
		return
	case roll < 0.12:
		wl.resume(c)
		wl.setTimer(c, timerThink, w.Rand().Exp(wl.thinkMean))
		return
	case roll < 0.20:
		if wt := c.watches[path]; wt == nil {
			wl.watch(c, path, false)
		} else if wt.active {
			wl.unwatch(c, path)
		} else {
			wl.read(c, path, false)
		}
		return
	case roll < 0.42:
		wl.read(c, path, w.Rand().Chance(0.2))
		return
	case roll < 0.68:
		wl.push(c, path)
		return
	}
	// Update or delete one of the client's items, now and then another
	// session's (Forbidden) or one that does not exist (NotFound).
	var target uint64
	switch r := w.Rand().Float64(); {
	case r < 0.05:
		// An item that never existed: each such name is used once, so
		// that every delete's entry can be told apart in the log.
		wl.nextReq++
		target = 1<<40 + wl.nextReq
	case r < 0.12 && len(c.foreign[path]) > 0:
		target = c.foreign[path][w.Rand().Intn(len(c.foreign[path]))]
	default:
		own := c.ownPaths()
		if len(own) == 0 {
			wl.push(c, path)
			return
		}
		path = own[w.Rand().Intn(len(own))]
		target = c.own[path][w.Rand().Intn(len(c.own[path]))]
	}
	if roll < 0.84 {
		wl.update(c, path, target)
	} else {
		wl.remove(c, path, target)
	}
}

func (c *sessClient) ownPaths() []string {
	var paths []string
	for p, items := range c.own {
		if len(items) > 0 {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return paths
}

func (wl *sessionsWorkload) pickPath() string {
	w := wl.w
	if w.Rand().Chance(wl.hotShare) {
		return wl.paths[w.Rand().Intn(min(sessHotPaths, len(wl.paths)))]
	}
	return wl.paths[w.Rand().Intn(len(wl.paths))]
}

// startData sends a data operation and starts its deadline.
func (wl *sessionsWorkload) startData(c *sessClient, req *clientReq, r session.Request) {
	c.op = req
	wl.send(c, req, r, false)
	wl.setTimer(c, timerOp, sessOpTimeout)
}

func (wl *sessionsWorkload) ifVersion(c *sessClient, path string, chance float64) *uint64 {
	if v, ok := c.versions[path]; ok && wl.w.Rand().Chance(chance) {
		return &v
	}
	return nil
}

// itemData is a unique item value: a MessagePack string naming the client
// and the write, so that the write's entry can be found in the log.
func (wl *sessionsWorkload) itemData(c *sessClient) []byte {
	c.dataSeq++
	s := "c" + strconv.Itoa(c.id) + "." + strconv.FormatUint(c.dataSeq, 10)
	if len(s) < 32 {
		return append([]byte{0xa0 | byte(len(s))}, s...) // fixstr
	}
	return append([]byte{0xd9, byte(len(s))}, s...) // str 8
}

func (wl *sessionsWorkload) read(c *sessClient, path string, stale bool) {
	req := &clientReq{op: session.OpRead, path: path, stale: stale, hist: -1}
	if !stale {
		// Stale reads are not linearizable: not in the history.
		req.hist = wl.beginOp(c, linearizability.ListsInput{Op: linearizability.ReadList, Path: path})
		req.committed = wl.w.CommittedIndex()
	}
	wl.startData(c, req, session.Request{Path: path, Stale: stale})
}

func (wl *sessionsWorkload) push(c *sessClient, path string) {
	data := wl.itemData(c)
	ifv := wl.ifVersion(c, path, 0.2)
	req := &clientReq{op: session.OpCreate, path: path}
	req.hist = wl.beginOp(c, linearizability.ListsInput{
		Op: linearizability.PushItem, Path: path, Session: c.sess.id, Data: string(data), IfVersion: ifv})
	wl.startData(c, req, session.Request{Path: path, Data: data, IfVersion: ifv})
}

func (wl *sessionsWorkload) update(c *sessClient, path string, item uint64) {
	data := wl.itemData(c)
	ifv := wl.ifVersion(c, path, 0.2)
	req := &clientReq{op: session.OpUpdate, path: path, target: item}
	req.hist = wl.beginOp(c, linearizability.ListsInput{
		Op: linearizability.UpdateItem, Path: path, Session: c.sess.id, Item: item, Data: string(data), IfVersion: ifv})
	wl.startData(c, req, session.Request{Path: path, Item: item, Data: data, IfVersion: ifv})
}

// remove deletes an item. The client never names an item again once it
// asked to delete it, so each delete is the only one of its item: its
// entry can be found in the log by (session, list, item).
func (wl *sessionsWorkload) remove(c *sessClient, path string, item uint64) {
	c.deleted[item] = true
	c.own[path] = slices.DeleteFunc(c.own[path], func(v uint64) bool { return v == item })
	c.foreign[path] = slices.DeleteFunc(c.foreign[path], func(v uint64) bool { return v == item })
	ifv := wl.ifVersion(c, path, 0.1)
	req := &clientReq{op: session.OpDelete, path: path, target: item}
	req.hist = wl.beginOp(c, linearizability.ListsInput{
		Op: linearizability.DeleteItem, Path: path, Session: c.sess.id, Item: item, IfVersion: ifv})
	wl.startData(c, req, session.Request{Path: path, Item: item, IfVersion: ifv})
}

func (wl *sessionsWorkload) watch(c *sessClient, path string, withSince bool) {
	wt := c.watches[path]
	if wt == nil {
		wt = &watcher{path: path}
		c.watches[path] = wt
	}
	req := &clientReq{op: session.OpWatch, path: path, hist: -1}
	r := session.Request{Path: path}
	if !withSince && !wt.hasLast && wl.w.Params().WatchElsewhere {
		withSince = wl.handedSince(c, wt)
	}
	if withSince && wt.hasLast {
		since := wt.last
		r.Since, req.withSince = &since, true
	}
	wl.stopWatch(c, wt)
	wt.registering = req
	if c.op == nil {
		wl.startData(c, req, r)
		return
	}
	wl.send(c, req, r, false) // a re-registration after a resume
}

// handedSince starts, now and then, a new watch from a version of its list
// that another client was shown, as if handed over out of band (one
// process tells another "watch from here"): PROTOCOL.md lets a watch name
// any since. The client's own node may not have applied that far — the
// client's own versions it has, since the connect or resume that bound
// the session came after them — and must wait until it has before it
// answers (session's TestWatchSinceWaitsUntilApplied). Only with the
// watch-elsewhere knob (Params.WatchElsewhere).
func (wl *sessionsWorkload) handedSince(c *sessClient, wt *watcher) bool {
	var v uint64
	for _, o := range wl.clients {
		if o != c {
			v = max(v, o.seenPaths[wt.path])
		}
	}
	if v == 0 || !wl.w.Rand().Chance(0.3) {
		return false
	}
	wt.last, wt.hasLast = v, true
	return true
}

func (wl *sessionsWorkload) unwatch(c *sessClient, path string) {
	wl.startData(c, &clientReq{op: session.OpUnwatch, path: path, hist: -1}, session.Request{Path: path})
}

// closeSession ends the session: the end is an operation of the history.
func (wl *sessionsWorkload) closeSession(c *sessClient) {
	req := &clientReq{op: session.OpClose}
	req.hist = wl.beginOp(c, linearizability.ListsInput{Op: linearizability.EndSession, Session: c.sess.id})
	wl.startData(c, req, session.Request{})
}

// crashClient is a client process dying without closing its session. Half
// the time the operating system closes its connection; otherwise (a machine
// gone) the node never learns. The session must expire by itself.
func (wl *sessionsWorkload) crashClient(c *sessClient) {
	w := wl.w
	wl.hangUp(c, w.Rand().Chance(0.5))
	c.sess = nil
	c.resetKnowledge()
	c.seen, c.seenPaths = 0, nil // the process forgot what it saw
	c.down = true
	for t := range c.timers {
		c.timers[t] = 0
	}
	wl.setTimer(c, timerRestart, 10*time.Millisecond+w.Rand().Exp(200*time.Millisecond))
}

func (wl *sessionsWorkload) opTimedOut(c *sessClient) {
	req := c.op
	c.op = nil
	wl.giveUp(req)
	if req.op == session.OpClose {
		// The client cannot tell whether the session ended; it gives up on
		// it and starts afresh (the session expires if it is still alive).
		wl.newSession(c)
		return
	}
	if wl.w.Rand().Chance(0.5) {
		wl.resume(c)
	}
	wl.setTimer(c, timerThink, wl.w.Rand().Exp(wl.thinkMean))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
