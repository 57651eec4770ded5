package netproto

import (
	"bufio"
	"errors"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/session"
)

// writer is the state the writer goroutine owns: the buffered socket, the
// watch events waiting for a heartbeat, and the heartbeats waiting for
// events.
type writer struct {
	c      *conn
	bw     *bufio.Writer
	buf    []byte
	events []fsm.Event
	parked []parkedPing
	timer  *time.Timer
}

var errSlowClient = errors.New("netproto: client too slow")

// answerOverhead bounds what an answer holds beyond its rid and its list or
// events: keys, result, version, an item, an error's message.
const answerOverhead = 256

// write writes one answer. Answers are kept under max_message_bytes where
// they are made — a list that does not fit is left out (oversized), events
// that do not fit wait for the next pong — but never by leaving out the
// rid: every answer echoes it, so an answer to a request whose rid alone
// nearly fills max_message_bytes goes out as it is, a little over.
func (w *writer) write(b []byte) error {
	_ = w.c.nc.SetWriteDeadline(time.Now().Add(w.c.s.opts.WriteTimeout))
	_, err := w.bw.Write(b)
	return err
}

func (w *writer) flush() error {
	if w.bw.Buffered() == 0 {
		return nil
	}
	_ = w.c.nc.SetWriteDeadline(time.Now().Add(w.c.s.opts.WriteTimeout))
	return w.bw.Flush()
}

// batch writes the node's answers; it reports whether to close after.
func (w *writer) batch(b *batch) (bool, error) {
	closeAfter := b.close
	for i := range b.deliveries {
		w.events = append(w.events, b.deliveries[i].Event)
	}
	if len(w.events) > w.c.s.opts.MaxQueuedEvents {
		w.c.s.opts.Logger.Warn("client does not fetch its watch events; closing", "conn", w.c.id, "queued", len(w.events))
		return true, errSlowClient
	}
	for i := range b.replies {
		r := &b.replies[i]
		p := w.c.unregister(r.ID)
		if p == nil {
			continue // answered already (drained)
		}
		if r.CloseConn {
			closeAfter = true
		}
		if r.Op == session.OpPing {
			if err := w.pong(p, r); err != nil {
				return closeAfter, err
			}
			continue
		}
		if r.Op == session.OpConnect && r.Code == fsm.OK {
			w.c.ttlMs.Store(r.TTLms)
		}
		if r.Op == session.OpConnect && r.Code != fsm.OK && w.c.ttlMs.Load() == 0 {
			// Refused, on a connection that has no session yet: the
			// next message must be a connect again.
			w.c.connectSent.Store(false)
		}
		w.buf = encodeReply(w.buf[:0], p, r, w.c.s.b)
		code := r.Code
		if len(w.buf) > w.c.s.opts.MaxMessageBytes {
			w.buf, code = oversized(w.buf[:0], p, r)
		}
		w.c.s.opts.Observe(p.action, code, time.Since(p.start))
		if err := w.write(w.buf); err != nil {
			return closeAfter, err
		}
	}
	if len(w.events) > 0 && len(w.parked) > 0 {
		pp := w.parked[0]
		w.parked = w.parked[1:]
		if err := w.pongEvents(pp.p); err != nil {
			return closeAfter, err
		}
	}
	return closeAfter, nil
}

// pong answers a heartbeat the node has answered (PROTOCOL.md,
// "heartbeat"): a failed one at once, with the events kept for the next;
// an OK one with the events waiting, or after wait_ms, or when one comes.
func (w *writer) pong(p *pendingReq, r *session.Reply) error {
	if r.Code != fsm.OK {
		a := begin(w.buf[:0], p.rid)
		a.str("action", "heartbeat")
		a.str("type", "pong")
		a.fail(r.Code, r.Message)
		w.buf = a.end()
		w.c.s.opts.Observe(p.action, r.Code, time.Since(p.start))
		return w.write(w.buf)
	}
	if len(w.events) > 0 || p.waitMs == 0 {
		return w.pongEvents(p)
	}
	deadline := p.start.Add(time.Duration(p.waitMs) * time.Millisecond)
	if !time.Now().Before(deadline) {
		return w.pongEvents(p)
	}
	w.parked = append(w.parked, parkedPing{p: p, deadline: deadline})
	w.armTimer()
	return nil
}

// pongEvents answers an OK heartbeat with every event waiting.
func (w *writer) pongEvents(p *pendingReq) error {
	a := begin(w.buf[:0], p.rid)
	a.str("action", "heartbeat")
	a.str("type", "pong")
	a.key("result")
	// Stay under max_message_bytes: the events that do not fit wait for
	// the next heartbeat, even the first (a rid that fills the message
	// leaves no room for any; the pong goes without).
	limit := w.c.s.opts.MaxMessageBytes - 64
	n := 0
	a.b = appendArrayLen(a.b, 0) // patched below
	hdr := len(a.b) - 1
	body := len(a.b)
	for n < len(w.events) && n < 65535 {
		mark := len(a.b)
		a.b = appendEvent(a.b, &w.events[n])
		if len(a.b) > limit {
			a.b = a.b[:mark]
			break
		}
		n++
	}
	// Rewrite the array header with the real count.
	events := append([]byte(nil), a.b[body:]...)
	a.b = appendArrayLen(a.b[:hdr], n)
	a.b = append(a.b, events...)
	w.events = w.events[n:]
	if len(w.events) == 0 {
		w.events = nil
	}
	w.buf = a.end()
	w.c.s.opts.Observe(p.action, fsm.OK, time.Since(p.start))
	return w.write(w.buf)
}

func (w *writer) expirePolls(now time.Time) error {
	kept := w.parked[:0]
	for _, pp := range w.parked {
		if now.Before(pp.deadline) {
			kept = append(kept, pp)
			continue
		}
		if err := w.pongEvents(pp.p); err != nil {
			return err
		}
	}
	w.parked = kept
	w.armTimer()
	return nil
}

func (w *writer) armTimer() {
	if len(w.parked) == 0 {
		return
	}
	d := time.Until(w.parked[0].deadline)
	for _, pp := range w.parked[1:] {
		d = min(d, time.Until(pp.deadline))
	}
	if w.timer == nil {
		w.timer = time.NewTimer(d)
		return
	}
	w.timer.Reset(d)
}

func (w *writer) timerC() <-chan time.Time {
	if w.timer == nil || len(w.parked) == 0 {
		return nil
	}
	return w.timer.C
}

func (w *writer) stopTimer() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// failAll answers every request still waiting Unavailable (shutdown).
func (w *writer) failAll() {
	c := w.c
	c.mu.Lock()
	ids := make([]uint64, 0, len(c.pending))
	for id := range c.pending {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		p := c.unregister(id)
		if p == nil {
			continue
		}
		a := begin(w.buf[:0], p.rid)
		if p.op == session.OpPing {
			a.str("action", "heartbeat")
			a.str("type", "pong")
		}
		a.fail(fsm.Unavailable, "the node is shutting down")
		w.buf = a.end()
		c.s.opts.Observe(p.action, fsm.Unavailable, time.Since(p.start))
		if w.write(w.buf) != nil {
			return
		}
	}
	for _, pp := range w.parked {
		_ = w.pongEvents(pp.p)
	}
	w.parked = nil
}

// encodeReply encodes the node's answer to one request.
func encodeReply(b []byte, p *pendingReq, r *session.Reply, backend Backend) []byte {
	a := begin(b, p.rid)
	if r.Code != fsm.OK {
		a.fail(r.Code, r.Message)
		return a.end()
	}
	a.bool("result", true)
	switch r.Op {
	case session.OpConnect:
		a.str("session", r.Session)
		a.str("token", r.Token)
		a.uint("ttl_ms", r.TTLms)
		a.str("node", FormatNodeID(r.Node))
		a.str("leader", leaderAddress(backend.Status(), r.Leader))
		a.bool("resumed", r.Resumed)
	case session.OpRead, session.OpDelete:
		a.key("items")
		a.b = appendItems(a.b, r.Items)
		a.uint("version", r.Version)
	case session.OpCreate, session.OpUpdate:
		if r.Item != nil {
			a.key("item")
			a.b = appendItem(a.b, r.Item)
		}
		a.key("items")
		a.b = appendItems(a.b, r.Items)
		a.uint("version", r.Version)
	case session.OpWatch:
		a.key("items")
		a.b = appendItems(a.b, r.Items)
		a.uint("version", r.Version)
		if r.Reset {
			a.bool("reset", true)
		}
	}
	return a.end()
}

// oversized answers a request whose answer does not fit in
// max_message_bytes (a huge list). A write has happened, so it must not be
// told it failed: its answer goes without the list (items_omitted: true;
// the client reads the list if it needs it). Anything else is TooLarge.
func oversized(b []byte, p *pendingReq, r *session.Reply) ([]byte, fsm.Code) {
	a := begin(b, p.rid)
	switch r.Op {
	case session.OpCreate, session.OpUpdate, session.OpDelete:
		a.bool("result", true)
		if r.Item != nil {
			a.key("item")
			a.b = appendItem(a.b, r.Item)
		}
		a.uint("version", r.Version)
		a.bool("items_omitted", true)
		return a.end(), r.Code
	}
	a.fail(fsm.TooLarge, "the answer is larger than max_message_bytes")
	return a.end(), fsm.TooLarge
}
