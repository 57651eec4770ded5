package websvc

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/session"
)

// link is one client connection's tie to the node: the ConnID the backend
// gave it, the bounded queue the node's loop fills (out never blocks), and
// the requests in flight, by the edge's request ID.
//
// Every kind of client uses one: a WebSocket, an SSE stream, a plain HTTP
// read.
type link struct {
	backend Backend
	id      session.ConnID

	maxMessages, maxBytes int

	mu      sync.Mutex
	queue   []outgoing
	bytes   int
	closing bool // the node (or the edge) asked to close the connection
	// closeCode and closeText say why, for the close frame.
	closeCode int
	closeText string
	overflow  bool // the client did not read fast enough: the queue was dropped
	nextID    uint64
	pending   map[uint64]pendingRequest
	// wake has room for one signal: "the queue changed".
	wake chan struct{}
}

// outgoing is one message for the client, in the order the node sent them:
// a reply, a watch event, or an answer the edge made itself.
type outgoing struct {
	reply    *session.Reply
	delivery *session.Delivery
	local    []byte
}

// pendingRequest is what the edge must remember to answer a request.
type pendingRequest struct {
	rid json.RawMessage
	// internal requests (the edge's own pings and connects) are answered
	// to the edge, not to the client.
	internal bool
}

func newLink(b Backend, maxMessages, maxBytes int) *link {
	l := &link{backend: b, maxMessages: maxMessages, maxBytes: maxBytes,
		pending: map[uint64]pendingRequest{}, wake: make(chan struct{}, 1)}
	l.id = b.Attach(l.out)
	return l
}

// out is called by the node's loop. It only appends under a short lock; a
// client too slow to drain its queue loses the queue and its connection
// instead of growing memory without bound.
func (l *link) out(replies []session.Reply, deliveries []session.Delivery, closeConn bool) {
	l.mu.Lock()
	if !l.overflow {
		for i := range replies {
			l.add(outgoing{reply: &replies[i]}, replySize(&replies[i]))
			if replies[i].CloseConn {
				l.setClose(1000, "session closed")
			}
		}
		for i := range deliveries {
			l.add(outgoing{delivery: &deliveries[i]}, 64+len(deliveries[i].Event.Path)+itemSize(&deliveries[i].Event.Item))
		}
	}
	if closeConn {
		// Without a close answer, the node closes because the watches lost
		// continuity (a snapshot replaced its log): 1012, come back.
		l.setClose(1012, "the node restarted its state; reconnect and watch again with since")
	}
	l.mu.Unlock()
	l.signal()
}

// setClose records the first reason to close; l.mu is held.
func (l *link) setClose(code int, text string) {
	if !l.closing {
		l.closing, l.closeCode, l.closeText = true, code, text
	}
}

// closeWith asks for the connection to be closed once what is queued has
// been sent.
func (l *link) closeWith(code int, text string) {
	l.mu.Lock()
	l.setClose(code, text)
	l.mu.Unlock()
	l.signal()
}

func (l *link) closeReason() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeCode, l.closeText
}

// add queues one message; l.mu is held.
func (l *link) add(o outgoing, size int) {
	// One message larger than the byte bound still goes through on an
	// empty queue (a big list read); beyond that the bounds hold.
	if len(l.queue) >= l.maxMessages || (len(l.queue) > 0 && l.bytes+size > l.maxBytes) {
		l.overflow = true
		l.queue, l.bytes = nil, 0
		return
	}
	l.queue = append(l.queue, o)
	l.bytes += size
}

func replySize(r *session.Reply) int {
	n := 64 + len(r.Message)
	for i := range r.Items {
		n += itemSize(&r.Items[i])
	}
	if r.Item != nil {
		n += itemSize(r.Item)
	}
	return n
}

func itemSize(it *fsm.Item) int { return 64 + len(it.Owner) + 2*len(it.Data) }

func (l *link) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// local queues an answer the edge makes itself (a refusal before the node).
func (l *link) local(msg []byte) {
	l.mu.Lock()
	if !l.overflow {
		l.add(outgoing{local: msg}, len(msg))
	}
	l.mu.Unlock()
	l.signal()
}

// take empties the queue.
func (l *link) take() (msgs []outgoing, closing, overflow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msgs, l.queue, l.bytes = l.queue, nil, 0
	return msgs, l.closing, l.overflow
}

// submit hands a request to the node; false if its intake is full.
func (l *link) submit(req session.Request, rid json.RawMessage, internal bool) (uint64, bool) {
	l.mu.Lock()
	l.nextID++
	id := l.nextID
	l.pending[id] = pendingRequest{rid: rid, internal: internal}
	l.mu.Unlock()
	req.Conn, req.ID = l.id, id
	if !l.backend.Submit(req) {
		l.forget(id)
		return id, false
	}
	return id, true
}

// heard tells the core the client spoke, for a message the edge answered
// itself: it renews the session and is never answered. False if the node
// is overloaded.
func (l *link) heard() bool {
	return l.backend.Submit(session.Request{Conn: l.id, Op: session.OpHeard})
}

// answered looks up (and forgets) the request a reply answers.
func (l *link) answered(id uint64) (pendingRequest, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pending[id]
	delete(l.pending, id)
	return p, ok
}

func (l *link) forget(id uint64) {
	l.mu.Lock()
	delete(l.pending, id)
	l.mu.Unlock()
}

func (l *link) detach() { l.backend.Detach(l.id) }

// call submits a request and waits for its reply, passing on the queue's
// other messages to keep (used before a stream is set up, when the only
// traffic is this request's answer, and for plain HTTP reads).
func (l *link) call(ctx context.Context, req session.Request) (session.Reply, error) {
	id, ok := l.submit(req, nil, true)
	if !ok {
		return session.Reply{Code: fsm.Unavailable, Message: "the node is overloaded; try again"}, nil
	}
	for {
		msgs, _, overflow := l.take()
		if overflow {
			return session.Reply{}, errOverflow
		}
		var found *session.Reply
		var rest []outgoing
		for _, m := range msgs {
			if m.reply != nil && m.reply.ID == id && found == nil {
				found = m.reply
				continue
			}
			rest = append(rest, m)
		}
		if len(rest) > 0 {
			// Put back what is not ours, ahead of anything newer.
			l.mu.Lock()
			l.queue = append(rest, l.queue...)
			for _, m := range rest {
				l.bytes += len(m.local) + 64
			}
			l.mu.Unlock()
		}
		if found != nil {
			l.forget(id)
			return *found, nil
		}
		select {
		case <-l.wake:
		case <-ctx.Done():
			l.forget(id)
			return session.Reply{}, ctx.Err()
		}
	}
}

type edgeError string

func (e edgeError) Error() string { return string(e) }

const errOverflow = edgeError("the connection's queue overflowed")
