package sessions

import (
	"strings"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/session"
)

// How a sessions client takes the answers to its requests: what it learns
// from them, and what goes into the history.

// answer handles a reply on the client's current connection.
func (wl *sessionsWorkload) answer(c *sessClient, conn *sessConn, r *session.Reply) {
	req := c.pending[r.ID]
	if req == nil {
		wl.w.Failf("client %d: an answer to request %d, which it never sent on connection %d", c.id, r.ID, conn.id)
		return
	}
	delete(c.pending, r.ID)
	wl.answered++
	if r.Version > conn.seen[req.path] && req.path != "" && !req.stale {
		conn.seen[req.path] = r.Version
	}
	if !req.stale {
		c.saw(req.path, r.Version)
	}
	switch r.Code {
	case fsm.InvalidParameter, fsm.TooLarge, fsm.Unsupported:
		wl.w.Failf("client %d: %v %s answered %s (%s), but the client sent a valid request", c.id, req.op, req.path, r.Code, r.Message)
		return
	}
	switch req.op {
	case session.OpConnect:
		wl.connectAnswer(c, req, r)
	case session.OpPing:
		wl.pingAnswer(c, req, r)
	case session.OpWatch:
		wl.watchAnswer(c, conn, req, r)
	default:
		wl.dataAnswer(c, conn, req, r)
	}
}

func (wl *sessionsWorkload) connectAnswer(c *sessClient, req *clientReq, r *session.Reply) {
	if c.connecting != req {
		return
	}
	c.connecting = nil
	wl.cancelTimer(c, timerConnect)
	w := wl.w
	switch {
	case r.Code == fsm.OK && c.resuming:
		if r.Session != c.sess.id || !r.Resumed {
			w.Failf("client %d resumed session %s and was given session %s (resumed=%t)", c.id, c.sess.id, r.Session, r.Resumed)
			return
		}
		c.conn.sess = c.sess.rec
		// PROTOCOL.md, "Watches": after a reconnect the client registers
		// its watches again, with since = the last version it saw.
		for _, path := range sortedKeys(c.watches) {
			wl.watch(c, path, true)
		}
	case r.Code == fsm.OK:
		if r.TTLms != c.ttl {
			if c.ttl == sessDefaultTTL {
				w.Failf("client %d asked for no ttl and was granted %d ms, not the default of %d ms", c.id, r.TTLms, c.ttl)
			} else {
				w.Failf("client %d asked for a ttl of %d ms and was granted %d ms", c.id, c.ttl, r.TTLms)
			}
			return
		}
		rec := &sessRecord{id: r.Session, client: c.id, ttl: r.TTLms}
		if _, dup := wl.sessions[r.Session]; dup {
			w.Failf("session id %s was given out twice", r.Session)
			return
		}
		wl.sessions[r.Session] = rec
		c.sess = &clientSession{id: r.Session, token: r.Token, rec: rec}
		c.conn.sess = rec
	case r.Code == fsm.SessionExpired && c.resuming:
		wl.sessionGone(c)
		return
	default:
		wl.connectFailed(c)
		return
	}
	wl.setTimer(c, timerPing, 0)
	if c.op == nil && !wl.quiesced {
		wl.setTimer(c, timerThink, w.Rand().Exp(wl.thinkMean))
	}
}

func (wl *sessionsWorkload) pingAnswer(c *sessClient, req *clientReq, r *session.Reply) {
	current := c.ping == req
	if current {
		c.ping = nil
		wl.cancelTimer(c, timerPingWait)
	}
	switch r.Code {
	case fsm.OK:
		if c.sess != nil {
			// The leader heard the ping (decisions.md): it renews the
			// session from when it was sent.
			rec := c.sess.rec
			rec.okPings = append(rec.okPings, req.sent)
			wl.checkFalseExpiry(rec)
		}
	case fsm.SessionExpired:
		wl.sessionGone(c)
	default:
		if current {
			// The node cannot reach a leader (decisions.md): move on.
			wl.resume(c)
		}
	}
}

func (wl *sessionsWorkload) watchAnswer(c *sessClient, conn *sessConn, req *clientReq, r *session.Reply) {
	if c.op == req {
		wl.opDone(c)
	}
	wt := c.watches[req.path]
	if wt == nil || wt.registering != req {
		return
	}
	wt.registering = nil
	switch r.Code {
	case fsm.OK:
	case fsm.SessionExpired:
		wl.sessionGone(c)
		return
	default:
		delete(c.watches, req.path)
		return
	}
	// PROTOCOL.md: the server delivers every event after `since`, or says
	// reset and gives the current items; the expectation follows.
	reg := history.Watch{Client: c.id, Conn: uint64(conn.id), Path: req.path, At: int64(wl.w.Now()), Version: r.Version, Reset: r.Reset}
	if c.sess != nil {
		reg.Session = c.sess.id
	}
	if req.withSince {
		since := wt.last
		reg.Since = &since
	}
	if !req.withSince || r.Reset {
		wt.last = r.Version
	}
	wt.hasLast, wt.active, wt.conn = true, true, conn.id
	wl.truth.advance(wl)
	wl.registerWatch(reg)
}

// registerWatch hands a watch record to the watch checker, and keeps it
// for the history.
func (wl *sessionsWorkload) registerWatch(reg history.Watch) {
	if wl.recordWatches {
		wl.watchRecords = append(wl.watchRecords, history.Record{Watch: &reg})
	}
	if err := wl.truth.watches.Register(reg); err != nil {
		wl.w.Failf("watch checker: %v", err)
	}
}

// stopWatch ends the client's watch of path: it listens no more.
func (wl *sessionsWorkload) stopWatch(c *sessClient, wt *watcher) {
	if !wt.active {
		return
	}
	wt.active = false
	wl.registerWatch(history.Watch{Client: c.id, Conn: uint64(wt.conn), Path: wt.path, At: int64(wl.w.Now()), Stop: true})
}

func (wl *sessionsWorkload) opDone(c *sessClient) {
	c.op = nil
	wl.cancelTimer(c, timerOp)
	if !wl.quiesced {
		wl.setTimer(c, timerThink, wl.w.Rand().Exp(wl.thinkMean))
	}
}

// dataAnswer handles the answer to a read, write, unwatch or close.
func (wl *sessionsWorkload) dataAnswer(c *sessClient, conn *sessConn, req *clientReq, r *session.Reply) {
	w := wl.w
	if c.op == req {
		wl.opDone(c)
	}
	if req.stale && r.Code == fsm.OK {
		// PROTOCOL.md: a stale read is "never older than what this same
		// session has already seen from that node".
		if seen := conn.seen[req.path]; r.Version < seen {
			w.Failf("client %d: a stale read of %s on node %d shows version %d, older than the version %d that connection %d already showed",
				c.id, req.path, conn.node, r.Version, seen, conn.id)
			return
		}
		if before := conn.before[req.path]; r.Version < before {
			// Across a move or the node's restart: the client named, on
			// connect, a `seen` at least this high.
			w.Failf("client %d: a stale read of %s on node %d shows version %d, older than the version %d the client had seen before it opened connection %d (it named seen=%d on connect; the node must wait until it has applied that far)",
				c.id, req.path, conn.node, r.Version, before, conn.id, conn.named)
			return
		}
		conn.seen[req.path] = r.Version
		c.saw(req.path, r.Version)
	}
	if req.op == session.OpUnwatch && r.Code == fsm.OK {
		if wt := c.watches[req.path]; wt != nil {
			wl.stopWatch(c, wt)
		}
		delete(c.watches, req.path)
	}
	if r.Code == fsm.OK {
		wl.learn(c, req.path, r)
	}
	if req.hist >= 0 {
		wl.record(c, req, r)
	}
	switch {
	case r.Code == fsm.SessionExpired:
		wl.sessionGone(c)
	case req.op == session.OpClose && r.Code == fsm.OK:
		if !r.CloseConn {
			w.Failf("client %d: a close answered OK without closing the connection", c.id)
			return
		}
		c.sess = nil
		conn.closed = true
		c.conn = nil
		wl.abandonPending(c)
		wl.setTimer(c, timerRestart, w.Rand().Duration(2*time.Millisecond, 20*time.Millisecond))
	case req.op == session.OpClose:
		// Unavailable or InternalError: the close may still take effect.
		// The client gives the session up rather than close it twice.
		c.sess = nil
		wl.hangUp(c, true)
		c.resetKnowledge()
		wl.setTimer(c, timerRestart, w.Rand().Duration(2*time.Millisecond, 20*time.Millisecond))
	}
}

// learn keeps what an answer shows about a list.
func (wl *sessionsWorkload) learn(c *sessClient, path string, r *session.Reply) {
	if path == "" || c.sess == nil {
		return
	}
	if r.Version > c.versions[path] {
		c.versions[path] = r.Version
	}
	if r.Items == nil {
		return
	}
	own, foreign := c.own[path][:0], c.foreign[path][:0]
	for _, item := range r.Items {
		if c.deleted[item.Version] {
			continue
		}
		if item.Owner == c.sess.id {
			own = append(own, item.Version)
		} else {
			foreign = append(foreign, item.Version)
		}
	}
	c.own[path], c.foreign[path] = own, foreign
}

// record ends a history operation with the answer the client got.
func (wl *sessionsWorkload) record(c *sessClient, req *clientReq, r *session.Reply) {
	w := wl.w
	op := &wl.ops[req.hist]
	if op.state == opAnswered {
		return
	}
	if op.state == opResolve {
		wl.unknown--
	}
	switch {
	case op.input.Op == linearizability.ReadList && r.Code != fsm.OK:
		op.state = opDropped // a read that failed says nothing
		return
	case r.Code == fsm.Unavailable || r.Code == fsm.InternalError:
		// A write answered Unavailable may still commit (decisions.md):
		// its outcome comes from the log. The log must bear out an answer
		// that says nothing was applied.
		op.state = opResolve
		wl.unknown++
		if r.Code == fsm.Unavailable && strings.Contains(r.Message, "nothing was applied") {
			op.certainlyNot = r.Message
		}
		return
	}
	op.state, op.ret = opAnswered, w.Now()
	op.out = linearizability.ListsOutput{Code: linearizability.Code(r.Code)}
	if r.Code != fsm.OK {
		return
	}
	op.out.Version = r.Version
	switch op.input.Op {
	case linearizability.ReadList:
		op.out.Items = history.ListItems(r.Items)
	case linearizability.EndSession:
		// The close answer carries no index; the log gives it (Finish).
	default:
		op.out.Items, op.out.HasItems = history.ListItems(r.Items), true
		wl.acked++
		wl.latency.Record(w.Now() - op.call)
		wl.lastAckedCall = max(wl.lastAckedCall, op.call)
	}
}
