package netproto

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/session"
)

// Backend is the node an edge serves: the host loop that owns a session.Core.
type Backend interface {
	// Attach registers a new client connection. The node calls out, from its
	// loop goroutine, with each batch of replies and deliveries for this
	// connection, and with close=true when the core asks to close it (after
	// the batch). out must never block: the edge queues, and closes the
	// connection if its bounded queue overflows. The slices are the edge's
	// to keep (the node copies them out of the core's Ready).
	Attach(out func(replies []session.Reply, deliveries []session.Delivery, close bool)) session.ConnID
	// Submit hands a request to the node's loop. false: the node's intake
	// queue is full; the edge answers Unavailable (backpressure).
	Submit(req session.Request) bool
	// Detach tells the node the client connection is gone.
	Detach(id session.ConnID)
	// Status is the node's latest status, readable from any goroutine.
	Status() session.Status
}

// Options tunes a Server. The zero value is the default everywhere.
type Options struct {
	// MaxMessageBytes bounds one message in either direction of the
	// client stream (PROTOCOL.md: default 1 MiB).
	MaxMessageBytes int
	// MaxInflight bounds the requests of one connection waiting for the
	// node; past it the server stops reading that connection, which
	// slows the client down through TCP (default 1024).
	MaxInflight int
	// MaxQueuedBatches bounds the batches of answers the node has handed a
	// connection that its writer has not written yet; a client that reads
	// too slowly overflows it and is disconnected (default 1024).
	MaxQueuedBatches int
	// MaxQueuedEvents bounds the watch events waiting for a heartbeat; a
	// client that stops fetching them is disconnected (it resumes with
	// `since`) rather than allowed to grow the node's memory (default
	// 65536).
	MaxQueuedEvents int
	// WriteTimeout bounds one write to a client (default 10 s).
	WriteTimeout time.Duration
	Logger       *slog.Logger
	// Observe is called once per answer, with the action, the code and
	// how long the request took (for metrics). It may be nil.
	Observe func(action string, code fsm.Code, took time.Duration)
	// ConnChanged is called with +1 and -1 as connections open and
	// close. It may be nil.
	ConnChanged func(delta int)
}

func (o *Options) setDefaults() {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 1 << 20
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = 1024
	}
	if o.MaxQueuedBatches <= 0 {
		o.MaxQueuedBatches = 1024
	}
	if o.MaxQueuedEvents <= 0 {
		o.MaxQueuedEvents = 65536
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observe == nil {
		o.Observe = func(string, fsm.Code, time.Duration) {}
	}
	if o.ConnChanged == nil {
		o.ConnChanged = func(int) {}
	}
}

// Server serves the Haven protocol (PROTOCOL.md, "Haven protocol") for one
// node: two goroutines per connection (a reader and a writer), feeding the
// node's loop through Backend and answering from what it sends back.
type Server struct {
	b    Backend
	opts Options

	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[*conn]bool
	closed    bool
	wg        sync.WaitGroup

	draining atomic.Bool
}

// NewServer makes a server for backend b.
func NewServer(b Backend, opts Options) *Server {
	opts.setDefaults()
	return &Server{b: b, opts: opts, listeners: map[net.Listener]bool{}, conns: map[*conn]bool{}}
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("netproto: server closed")

// Serve accepts connections on ln until the server is closed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = true
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscallEMFILE) {
				// Out of file descriptors or a transient error: wait and
				// go on, as net/http does, instead of spinning or dying.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.startConn(nc)
	}
}

func (s *Server) startConn(nc net.Conn) {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = true
	s.wg.Add(2)
	s.mu.Unlock()
	s.opts.ConnChanged(1)
	c.id = s.b.Attach(c.deliver)
	go c.readLoop()
	go c.writeLoop()
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.b.Detach(c.id)
	s.opts.ConnChanged(-1)
}

// Shutdown stops accepting connections and requests (new requests are
// answered Unavailable), waits until the requests in flight are answered
// or ctx ends, answers the rest Unavailable, and closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	for {
		if s.inflight() == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
			continue
		}
		break
	}
	return s.Close()
}

func (s *Server) inflight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		n += c.inflight()
	}
	return n
}

// Close closes the listeners and every connection at once; requests still
// waiting are answered Unavailable where the connection can take it.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.drain()
		// A writer stuck on a client that does not read gets a second,
		// then its connection is cut.
		time.AfterFunc(time.Second, c.shutdown)
	}
	s.wg.Wait()
	return nil
}
