package netproto

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/session"
)

// conn is one client connection. The reader goroutine parses requests and
// hands them to the node; the writer goroutine owns everything that is
// written: answers from the node (through inbox, which the node's loop
// fills without ever blocking), answers made here (through local), the
// connection's queued watch events and its parked long-poll heartbeats.
type conn struct {
	s  *Server
	nc net.Conn
	id session.ConnID

	inbox chan batch
	local chan frame
	// sem holds one token per request waiting for the node.
	sem chan struct{}

	mu      sync.Mutex
	pending map[uint64]*pendingReq
	nextID  uint64

	// ttlMs is the session's ttl once connect succeeded (bounds wait_ms).
	ttlMs atomic.Uint64
	// connectSent: a connect went to the node and was not refused. Until
	// then only a connect is taken (PROTOCOL.md: "The first message on a
	// connection must be connect"). The reader sets it, the writer clears
	// it when the node refuses the connect (a token of no live session).
	connectSent atomic.Bool

	done      chan struct{}
	closeOnce sync.Once
	drainC    chan struct{}
	drainOnce sync.Once
}

// batch is what the node hands the connection in one call.
type batch struct {
	replies    []session.Reply
	deliveries []session.Delivery
	close      bool
}

// frame is an answer made on the connection's side (an error, discover),
// already encoded; close asks the writer to close after writing it.
type frame struct {
	b      []byte
	close  bool
	action string
	code   fsm.Code
	start  time.Time
}

// pendingReq remembers, for a request handed to the node, what its answer
// needs: the client's rid and, for a heartbeat, how long it may wait.
type pendingReq struct {
	rid    []byte
	action string
	op     session.Op
	waitMs uint64
	start  time.Time
}

// parkedPing is an OK heartbeat waiting for an event, until its deadline.
type parkedPing struct {
	p        *pendingReq
	deadline time.Time
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		s: s, nc: nc,
		inbox:   make(chan batch, s.opts.MaxQueuedBatches),
		local:   make(chan frame, 64),
		sem:     make(chan struct{}, s.opts.MaxInflight),
		pending: map[uint64]*pendingReq{},
		done:    make(chan struct{}),
		drainC:  make(chan struct{}),
	}
}

// deliver is the Backend's out function: called from the node's loop, it
// never blocks. A connection whose writer is so far behind that its queue
// is full is closed (its client reconnects and resumes).
func (c *conn) deliver(replies []session.Reply, deliveries []session.Delivery, close bool) {
	select {
	case c.inbox <- batch{replies, deliveries, close}:
	default:
		c.s.opts.Logger.Warn("client too slow to read its answers; closing", "conn", c.id, "remote", c.nc.RemoteAddr().String())
		c.shutdown()
	}
}

// shutdown closes the socket and stops both goroutines; idempotent.
func (c *conn) shutdown() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

// drain asks the writer to answer what is pending Unavailable and close.
func (c *conn) drain() { c.drainOnce.Do(func() { close(c.drainC) }) }

func (c *conn) inflight() int { return len(c.sem) }

// register records a request about to be submitted and returns its id. It
// blocks while MaxInflight requests wait (backpressure on the client).
func (c *conn) register(p *pendingReq) (uint64, bool) {
	select {
	case c.sem <- struct{}{}:
	case <-c.done:
		return 0, false
	}
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.pending[id] = p
	c.mu.Unlock()
	return id, true
}

func (c *conn) unregister(id uint64) *pendingReq {
	c.mu.Lock()
	p := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if p != nil {
		<-c.sem
	}
	return p
}

// sendLocal queues an answer made here; false if the connection is gone.
func (c *conn) sendLocal(f frame) bool {
	select {
	case c.local <- f:
		return true
	case <-c.done:
		return false
	}
}

func (c *conn) readLoop() {
	defer c.s.wg.Done()
	defer c.s.forget(c)
	defer c.shutdown()
	fr := newFrameReader(c.nc, c.s.opts.MaxMessageBytes)
	var req request
	for {
		msg, err := fr.next()
		if err != nil {
			c.readFailed(err)
			return
		}
		start := time.Now()
		if err := parseRequest(msg, &req); err != nil {
			c.refuse(nil, "", fsm.InvalidParameter, "not a MessagePack map: "+err.Error(), start)
			return
		}
		if !c.connectSent.Load() && req.action != "connect" {
			// Answered, and the connection stays open for the connect.
			if !c.answerLocal(req.rid, req.action, fsm.InvalidParameter, "the first message on a connection must be connect", start) {
				return
			}
			continue
		}
		if !c.handle(&req, start) {
			return
		}
	}
}

// readFailed answers what can be answered about a stream that broke.
func (c *conn) readFailed(err error) {
	var garbage *garbageError
	switch {
	case errors.Is(err, errTooLarge):
		c.refuse(nil, "", fsm.TooLarge, "message is larger than max_message_bytes", time.Now())
	case errors.Is(err, errNotMap):
		c.refuse(nil, "", fsm.InvalidParameter, "every message must be a MessagePack map", time.Now())
	case errors.As(err, &garbage):
		c.refuse(nil, "", fsm.InvalidParameter, "not MessagePack: "+err.Error(), time.Now())
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		// A broken connection or one cut mid-message: nobody to answer.
	}
}

// refuse answers an error and closes the connection after it.
func (c *conn) refuse(rid []byte, action string, code fsm.Code, msg string, start time.Time) {
	a := begin(nil, rid)
	a.fail(code, msg)
	if c.sendLocal(frame{b: a.end(), close: true, action: action, code: code, start: start}) {
		// Wait for the writer to close, so the reader stops here.
		<-c.done
	}
}

// answerLocal answers an error and keeps the connection open. The message
// was the client's all the same: PROTOCOL.md's "Any message from the
// client keeps its session alive".
func (c *conn) answerLocal(rid []byte, action string, code fsm.Code, msg string, start time.Time) bool {
	c.heard()
	a := begin(nil, rid)
	a.fail(code, msg)
	return c.sendLocal(frame{b: a.end(), action: action, code: code, start: start})
}

// heard tells the core that the client spoke, for a message answered here
// (the core does nothing on a connection without a session). Not sent
// before the connect, and lost if the node is overloaded, as the message
// itself would have been.
func (c *conn) heard() {
	if c.connectSent.Load() {
		c.s.b.Submit(session.Request{Conn: c.id, Op: session.OpHeard})
	}
}

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	defer c.shutdown()
	w := &writer{c: c, bw: bufio.NewWriterSize(c.nc, 32<<10)}
	defer w.stopTimer()
	for {
		var err error
		closeAfter, linger := false, false
		select {
		case b := <-c.inbox:
			closeAfter, err = w.batch(&b)
		case f := <-c.local:
			closeAfter, err = f.close, w.write(f.b)
			linger = f.close
			c.s.opts.Observe(f.action, f.code, time.Since(f.start))
		case <-w.timerC():
			err = w.expirePolls(time.Now())
		case <-c.drainC:
			w.failAll()
			w.flush()
			return
		case <-c.done:
			return
		}
		if err == nil && !closeAfter && len(c.inbox) == 0 && len(c.local) == 0 {
			err = w.flush()
		}
		if err != nil {
			return
		}
		if closeAfter {
			if w.flush() == nil && linger {
				c.lingerClose()
			}
			return
		}
	}
}

// Closing a socket that still holds unread bytes resets the connection, and
// a reset can destroy the answer just written before the client reads it: a
// client refused for an oversized message is typically still writing it.
// So a refusal half-closes and reads on for a moment, as net/http does
// before it closes on an error.
const (
	lingerTime     = 500 * time.Millisecond
	lingerMaxBytes = 4 << 20
)

// lingerClose half-closes after a refusal and discards what the client still
// sends, until it closes its side, lingerTime passes or lingerMaxBytes came.
// Only for a refusal: its reader waits for done and is not reading.
func (c *conn) lingerClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.nc, lingerMaxBytes)
}
