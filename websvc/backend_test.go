package websvc

import (
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// A test-only Backend: a real session.Core per node, with in-memory Raft
// storage, driven by a loop goroutine in real time (10 ms ticks), nodes
// joined by channels. It does what havend's loop does, minus disks and
// sockets, so websvc is tested against the real service core.

type testRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (p *testRand) Intn(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.r.IntN(n)
}

func (p *testRand) Uint64() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.r.Uint64()
}

func newTestRand(seed uint64) *testRand { return &testRand{r: rand.New(rand.NewPCG(seed, 99))} }

type memStore struct {
	hard    raft.HardState
	snap    *raft.Snapshot
	entries []raft.Entry
}

func (d *memStore) save(rd *session.Ready) {
	if rd.Snapshot != nil {
		d.snap, d.entries = rd.Snapshot, nil
	}
	if rd.SavedSnapshot != nil {
		d.snap = rd.SavedSnapshot
	}
	if !rd.HardState.IsEmpty() {
		d.hard = rd.HardState
	}
	if len(rd.Entries) > 0 {
		first := rd.Entries[0].Index
		if n := len(d.entries); n > 0 && first <= d.entries[n-1].Index {
			d.entries = d.entries[:max(int(first)-int(d.entries[0].Index), 0)]
		}
		d.entries = append(d.entries, rd.Entries...)
	}
}

type testNode struct {
	id      raft.NodeID
	cluster *testCluster
	core    *session.Core
	store   memStore
	tasks   chan func()
	peer    chan session.PeerMessage
	stopped chan struct{}
	down    atomic.Bool

	mu       sync.Mutex
	outs     map[session.ConnID]func([]session.Reply, []session.Delivery, bool)
	nextConn session.ConnID
	status   atomic.Pointer[session.Status]

	// intake is how many requests the loop takes before Submit says no
	// (tests shrink it to see the edge's backpressure answer).
	intake int
}

type testCluster struct {
	t     testing.TB
	nodes []*testNode
	start time.Time
	// servers are the nodes' websvc handlers, by index.
	servers []*httptest.Server
}

func newTestCluster(t testing.TB, n int, cfg Config, tweak func(*session.Config)) *testCluster {
	tc := &testCluster{t: t, start: time.Now()}
	var voters []raft.NodeID
	for i := 1; i <= n; i++ {
		voters = append(voters, raft.NodeID(i))
	}
	for _, id := range voters {
		scfg := session.Config{
			Raft: raft.Config{ID: id, Bootstrap: true, Voters: voters, ElectionTicks: 10, HeartbeatTicks: 1,
				Rand: newTestRand(uint64(id)), PreVote: true, CheckQuorum: true},
			Rand: newTestRand(uint64(id) + 1000),
		}
		if tweak != nil {
			tweak(&scfg)
		}
		core, err := session.New(scfg, raft.RestoredState{})
		require.NoError(t, err)
		node := &testNode{id: id, cluster: tc, core: core, tasks: make(chan func(), 1024),
			peer: make(chan session.PeerMessage, 4096), stopped: make(chan struct{}),
			outs: map[session.ConnID]func([]session.Reply, []session.Delivery, bool){}, intake: 1024}
		node.publishStatus()
		tc.nodes = append(tc.nodes, node)
	}
	for _, node := range tc.nodes {
		go node.loop()
	}
	for _, node := range tc.nodes {
		tc.servers = append(tc.servers, httptest.NewServer(New(node, cfg)))
	}
	t.Cleanup(tc.stop)
	return tc
}

func (tc *testCluster) stop() {
	for _, s := range tc.servers {
		s.CloseClientConnections()
		s.Close()
	}
	for _, n := range tc.nodes {
		if !n.down.Swap(true) {
			close(n.tasks)
		}
		<-n.stopped
	}
}

// waitLeader waits until some node leads and every node knows it.
func (tc *testCluster) waitLeader() *testNode {
	var leader *testNode
	require.Eventually(tc.t, func() bool {
		leader = nil
		for _, n := range tc.nodes {
			st := n.Status()
			if st.Role == "leader" {
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range tc.nodes {
			if n.Status().Leader != nodeName(leader.id) {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
	return leader
}

func (n *testNode) Attach(out func([]session.Reply, []session.Delivery, bool)) session.ConnID {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nextConn++
	n.outs[n.nextConn] = out
	return n.nextConn
}

func (n *testNode) Submit(req session.Request) bool {
	if n.down.Load() || len(n.tasks) >= n.intake {
		return false
	}
	select {
	case n.tasks <- func() { n.core.Submit(req) }:
		return true
	default:
		return false
	}
}

func (n *testNode) Detach(id session.ConnID) {
	if n.down.Load() {
		return
	}
	n.tasks <- func() {
		n.core.ConnClosed(id)
		n.mu.Lock()
		delete(n.outs, id)
		n.mu.Unlock()
	}
}

func (n *testNode) Status() session.Status { return *n.status.Load() }

func (n *testNode) publishStatus() {
	rs := n.core.Raft().Status()
	role := map[raft.StateType]string{raft.StateLeader: "leader", raft.StateCandidate: "candidate"}[rs.State]
	if role == "" {
		role = "follower"
	}
	st := session.Status{
		Node: nodeName(n.id), Role: role, Term: rs.Term, Leader: nodeName(rs.Lead),
		Commit: rs.Commit, Applied: rs.Applied, Group: 1, Sessions: len(n.core.Machine().Sessions()),
	}
	if rs.Lead != raft.None {
		st.LeaderAddress = "127.0.0.1:" + nodeName(rs.Lead)
	}
	n.status.Store(&st)
}

func (n *testNode) loop() {
	defer close(n.stopped)
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case f, ok := <-n.tasks:
			if !ok {
				return
			}
			f()
		case m := <-n.peer:
			_ = n.core.Step(m)
		case <-ticker.C:
			n.core.Tick(time.Since(n.cluster.start).Milliseconds())
		}
		n.drain()
	}
}

func (n *testNode) drain() {
	for n.core.HasReady() {
		rd := n.core.Ready()
		n.store.save(&rd)
		for _, m := range rd.Messages {
			for _, to := range n.cluster.nodes {
				if to.id == m.To && !to.down.Load() {
					select {
					case to.peer <- m:
					default: // a full link drops, as a network would
					}
				}
			}
		}
		type batch struct {
			replies    []session.Reply
			deliveries []session.Delivery
			close      bool
		}
		batches := map[session.ConnID]*batch{}
		get := func(id session.ConnID) *batch {
			if batches[id] == nil {
				batches[id] = &batch{}
			}
			return batches[id]
		}
		for _, r := range rd.Replies {
			b := get(r.Conn)
			b.replies = append(b.replies, r)
			b.close = b.close || r.CloseConn
		}
		for _, d := range rd.Deliveries {
			b := get(d.Conn)
			b.deliveries = append(b.deliveries, d)
		}
		for _, id := range rd.Disconnect {
			get(id).close = true
		}
		n.mu.Lock()
		for id, b := range batches {
			if out := n.outs[id]; out != nil {
				out(b.replies, b.deliveries, b.close)
			}
		}
		n.mu.Unlock()
		n.core.Advance()
	}
	n.publishStatus()
}
