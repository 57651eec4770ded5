package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/havenproject/haven/fsm"
	"github.com/vmihailenco/msgpack/v5"
)

// errConnLost says the connection broke before the answer came. Whether the
// request took effect is unknown (it may have been applied).
var errConnLost = errors.New("connection lost")

// conn is one TCP connection to one node. Requests are pipelined: any number
// may be in flight, each with its own rid, and answers are matched to them
// by rid in whatever order they come (PROTOCOL.md, "Haven protocol").
type conn struct {
	addr string
	nc   net.Conn

	// out carries encoded requests to the writer goroutine, which batches
	// whatever is waiting into one write.
	out chan []byte

	mu      sync.Mutex
	pending map[uint64]chan *answer
	err     error // why the connection ended, once done is closed

	done     chan struct{}
	doneOnce sync.Once
}

func dial(ctx context.Context, addr string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	c := &conn{
		addr:    addr,
		nc:      nc,
		out:     make(chan []byte, 256),
		pending: make(map[uint64]chan *answer),
		done:    make(chan struct{}),
	}
	go c.writeLoop()
	go c.readLoop()
	return c, nil
}

// close ends the connection; every call waiting on it fails with err.
func (c *conn) close(err error) {
	c.doneOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		close(c.done)
		_ = c.nc.Close()
		for _, ch := range pending {
			close(ch)
		}
	})
}

func (c *conn) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *conn) writeLoop() {
	w := bufio.NewWriterSize(c.nc, 64<<10)
	for {
		var msg []byte
		select {
		case msg = <-c.out:
		case <-c.done:
			return
		}
		if _, err := w.Write(msg); err != nil {
			c.close(fmt.Errorf("%w: write to %s: %v", errConnLost, c.addr, err))
			return
		}
		// Batch: write whatever else is already queued before flushing.
	drain:
		for {
			select {
			case msg = <-c.out:
				if _, err := w.Write(msg); err != nil {
					c.close(fmt.Errorf("%w: write to %s: %v", errConnLost, c.addr, err))
					return
				}
			default:
				break drain
			}
		}
		if err := w.Flush(); err != nil {
			c.close(fmt.Errorf("%w: write to %s: %v", errConnLost, c.addr, err))
			return
		}
	}
}

func (c *conn) readLoop() {
	dec := msgpack.NewDecoder(bufio.NewReaderSize(c.nc, 64<<10))
	for {
		a := new(answer)
		if err := dec.Decode(a); err != nil {
			c.close(fmt.Errorf("%w: read from %s: %v", errConnLost, c.addr, err))
			return
		}
		if err := a.parseResult(); err != nil {
			c.close(fmt.Errorf("%w: bad answer from %s: %v", errConnLost, c.addr, err))
			return
		}
		c.mu.Lock()
		ch, ok := c.pending[a.RID]
		if ok {
			delete(c.pending, a.RID)
		}
		c.mu.Unlock()
		if ok {
			ch <- a // buffered: never blocks
			continue
		}
		// An answer to no request we wait for: an error about the stream
		// itself (garbage, oversize), after which the node closes it.
		if a.Error != nil && a.RID == 0 {
			c.close(fmt.Errorf("%w: %s: %s: %s", errConnLost, c.addr, a.Error.Code, a.Error.Message))
			return
		}
	}
}

// call sends req with the given rid and waits for its answer. A failed
// answer becomes an *Error. If the connection breaks after the request went
// out, the error wraps errConnLost; sent says whether it may have.
func (c *conn) call(ctx context.Context, rid uint64, req *request) (a *answer, sent bool, err error) {
	req.rid = rid
	var buf bytes.Buffer
	if err := msgpack.NewEncoder(&buf).Encode(req); err != nil {
		return nil, false, errorf(fsm.InvalidParameter, actionOf(req), "encode: %v", err)
	}
	ch := make(chan *answer, 1)
	c.mu.Lock()
	if c.pending == nil {
		err := c.err
		c.mu.Unlock()
		return nil, false, err
	}
	c.pending[rid] = ch
	c.mu.Unlock()

	select {
	case c.out <- buf.Bytes():
	case <-c.done:
		return nil, false, c.closeErr()
	case <-ctx.Done():
		c.forget(rid)
		return nil, false, ctx.Err()
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return nil, true, c.closeErr()
		}
		return a, true, nil
	case <-ctx.Done():
		c.forget(rid)
		return nil, true, ctx.Err()
	}
}

func (c *conn) forget(rid uint64) {
	c.mu.Lock()
	if c.pending != nil {
		delete(c.pending, rid)
	}
	c.mu.Unlock()
}

func actionOf(req *request) string {
	if t, ok := req.get("type"); ok {
		if s, ok := t.(string); ok {
			return s
		}
	}
	a, _ := req.get("action")
	s, _ := a.(string)
	return s
}

// answerError turns a failed answer into an *Error (nil if it succeeded).
func answerError(a *answer, op, node string) error {
	if a.ok {
		return nil
	}
	if a.Error == nil {
		return &Error{Code: fsm.InternalError, Op: op, Node: node, Message: "failed answer without error"}
	}
	code := fsm.Code(a.Error.Code)
	if !code.Valid() {
		return &Error{Code: fsm.InternalError, Op: op, Node: node, Message: fmt.Sprintf("unknown code %q: %s", a.Error.Code, a.Error.Message)}
	}
	// Some nodes render the message as "Code: message"; say the code once.
	msg := strings.TrimPrefix(a.Error.Message, a.Error.Code+": ")
	return &Error{Code: code, Op: op, Node: node, Message: msg}
}
