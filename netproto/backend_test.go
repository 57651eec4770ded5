package netproto

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// memNode is a one-node Haven for the edge's tests: a real session.Core on
// its own goroutine, fed through channels like cmd/havend's loop, with the
// log in memory (the host's WAL and peers are not what these tests check).

type pcg struct{ r *rand.Rand }

func (p pcg) Intn(n int) int { return p.r.IntN(n) }
func (p pcg) Uint64() uint64 { return p.r.Uint64() }

type outFn = func([]session.Reply, []session.Delivery, bool)

type memNode struct {
	in     chan func(*session.Core)
	mu     sync.Mutex
	outs   map[session.ConnID]outFn
	nextID atomic.Uint64
	status atomic.Pointer[session.Status]
	stop   chan struct{}
	done   chan struct{}
	// full makes Submit refuse, to test backpressure answers.
	full atomic.Bool
	// hold makes Submit accept and never answer (a request in flight).
	hold atomic.Bool
}

func newMemNode(t *testing.T) *memNode {
	rng := pcg{rand.New(rand.NewPCG(1, 2))}
	core, err := session.New(session.Config{
		Raft: raft.Config{ID: 1, Bootstrap: true, Voters: []raft.NodeID{1}, Addresses: map[raft.NodeID]string{1: "127.0.0.1:1"}, ElectionTicks: 10, HeartbeatTicks: 1, Rand: rng, CheckQuorum: true, PreVote: true},
		Rand: rng, MinTTLms: 100,
	}, raft.RestoredState{})
	require.NoError(t, err)
	n := &memNode{in: make(chan func(*session.Core), 4096), outs: map[session.ConnID]outFn{},
		stop: make(chan struct{}), done: make(chan struct{})}
	st := core.Status()
	n.status.Store(&st)
	go n.loop(core)
	t.Cleanup(func() { close(n.stop); <-n.done })
	return n
}

func (n *memNode) loop(core *session.Core) {
	defer close(n.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case f := <-n.in:
			f(core)
		case <-tick.C:
			core.Tick(time.Since(start).Milliseconds())
		case <-n.stop:
			return
		}
		for core.HasReady() {
			rd := core.Ready()
			type out struct {
				r []session.Reply
				d []session.Delivery
				c bool
			}
			per := map[session.ConnID]*out{}
			get := func(id session.ConnID) *out {
				if per[id] == nil {
					per[id] = &out{}
				}
				return per[id]
			}
			for _, r := range rd.Replies {
				o := get(r.Conn)
				o.r = append(o.r, r)
				if r.CloseConn {
					o.c = true
				}
			}
			for _, d := range rd.Deliveries {
				get(d.Conn).d = append(get(d.Conn).d, d)
			}
			for _, id := range rd.Disconnect {
				get(id).c = true
			}
			n.mu.Lock()
			for id, o := range per {
				if f := n.outs[id]; f != nil {
					f(o.r, o.d, o.c)
				}
			}
			n.mu.Unlock()
			core.Advance()
		}
		st := core.Status()
		st.LeaderAddress = "127.0.0.1:1"
		for i := range st.Members {
			st.Members[i].Address = "127.0.0.1:1"
		}
		n.status.Store(&st)
	}
}

func (n *memNode) Attach(out outFn) session.ConnID {
	id := session.ConnID(n.nextID.Add(1))
	n.mu.Lock()
	n.outs[id] = out
	n.mu.Unlock()
	return id
}

func (n *memNode) Submit(req session.Request) bool {
	if n.full.Load() {
		return false
	}
	if n.hold.Load() {
		return true
	}
	select {
	case n.in <- func(c *session.Core) { c.Submit(req) }:
		return true
	default:
		return false
	}
}

func (n *memNode) Detach(id session.ConnID) {
	n.mu.Lock()
	delete(n.outs, id)
	n.mu.Unlock()
	n.in <- func(c *session.Core) { c.ConnClosed(id) }
}

func (n *memNode) Status() session.Status { return *n.status.Load() }

// startServer serves a fresh memNode on a loopback port.
func startServer(t *testing.T, opts Options) (string, *memNode, *Server) {
	n := newMemNode(t)
	s := NewServer(n, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), n, s
}
