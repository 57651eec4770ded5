package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// This file is the test harness: a deterministic in-memory cluster. Each
// node has a durable store that keeps exactly what its Ready handed out to
// persist, a state machine that records applied entries, and a network of
// queued messages that tests deliver, drop, duplicate or cut off at will.

type seqRand struct{ r *rand.Rand }

func (s seqRand) Intn(n int) int { return s.r.IntN(n) }

func newRand(seed uint64) RandomSource {
	return seqRand{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// memStore is a node's durable storage.
type memStore struct {
	hard    HardState
	snap    *Snapshot
	entries []Entry
}

func (s *memStore) save(rd Ready) {
	if rd.Snapshot != nil {
		snap := *rd.Snapshot
		s.snap = &snap
		// Figure 13 rule 7: the log is replaced by the snapshot.
		s.entries = nil
	}
	if !rd.HardState.IsEmpty() {
		s.hard = rd.HardState
	}
	if len(rd.Entries) > 0 {
		first := rd.Entries[0].Index
		keep := s.entries[:0:0]
		for _, e := range s.entries {
			if e.Index < first {
				keep = append(keep, e)
			}
		}
		s.entries = append(keep, rd.Entries...)
	}
}

func (s *memStore) restored() RestoredState {
	rs := RestoredState{HardState: s.hard, Entries: slices.Clone(s.entries)}
	if s.snap != nil {
		snap := *s.snap
		rs.Snapshot = &snap
		// Drop entries the snapshot covers.
		var ents []Entry
		for _, e := range rs.Entries {
			if e.Index > snap.Meta.Index {
				ents = append(ents, e)
			}
		}
		rs.Entries = ents
	}
	return rs
}

type testNode struct {
	raft    *Raft
	store   *memStore
	applied []Entry // every entry applied, in order (normal entries only)
	lastApp uint64
	reads   []ReadState
	down    bool
}

type cluster struct {
	t      testing.TB
	cfg    func(id NodeID) Config
	nodes  map[NodeID]*testNode
	ids    []NodeID
	queue  []Message
	cut    map[[2]NodeID]bool // directed links that drop messages
	dropFn func(m Message) bool
	rng    *rand.Rand
}

func defaultConfig(id NodeID, voters []NodeID, seed uint64) Config {
	return Config{
		ID: id, Voters: voters,
		ElectionTicks: 10, HeartbeatTicks: 1,
		Rand:        newRand(seed + uint64(id)),
		PreVote:     true,
		CheckQuorum: true,
		MaxMsgBytes: 64 << 10, MaxInflightMsgs: 64,
	}
}

func newCluster(t testing.TB, n int, tweak func(*Config)) *cluster {
	ids := make([]NodeID, n)
	for i := range ids {
		ids[i] = NodeID(i + 1)
	}
	c := &cluster{
		t: t, nodes: map[NodeID]*testNode{}, ids: ids, cut: map[[2]NodeID]bool{},
		rng: rand.New(rand.NewPCG(1, 2)),
	}
	c.cfg = func(id NodeID) Config {
		cfg := defaultConfig(id, ids, 42)
		if tweak != nil {
			tweak(&cfg)
		}
		return cfg
	}
	for _, id := range ids {
		c.start(id, &memStore{})
	}
	return c
}

func (c *cluster) start(id NodeID, store *memStore) {
	r, err := New(c.cfg(id), store.restored())
	require.NoError(c.t, err)
	n := &testNode{raft: r, store: store}
	if store.snap != nil {
		n.lastApp = store.snap.Meta.Index
	}
	c.nodes[id] = n
}

// crash loses everything but the durable store; restart brings it back.
func (c *cluster) crash(id NodeID) { c.nodes[id].down = true }

func (c *cluster) restart(id NodeID) {
	old := c.nodes[id]
	c.start(id, old.store)
	// The state machine is rebuilt from the log; keep the applied history
	// for checks, which replay will extend from the snapshot on.
	c.nodes[id].applied = nil
	c.nodes[id].lastApp = 0
	if old.store.snap != nil {
		c.nodes[id].lastApp = old.store.snap.Meta.Index
	}
}

func (c *cluster) node(id NodeID) *Raft { return c.nodes[id].raft }

// process drains every node's Ready: persist, queue messages, apply.
func (c *cluster) process() {
	for _, id := range c.ids {
		n := c.nodes[id]
		if n == nil || n.down {
			continue
		}
		for n.raft.HasReady() {
			rd := n.raft.Ready()
			n.store.save(rd)
			c.queue = append(c.queue, rd.Messages...)
			if rd.Snapshot != nil {
				n.lastApp = rd.Snapshot.Meta.Index
			}
			for _, e := range rd.CommittedEntries {
				require.Equal(c.t, n.lastApp+1, e.Index, "node %d applies out of order", id)
				n.lastApp = e.Index
				if e.Type == EntryNormal && len(e.Data) > 0 {
					n.applied = append(n.applied, e)
				}
			}
			n.reads = append(n.reads, rd.ReadStates...)
			n.raft.Advance()
			require.NoError(c.t, n.raft.CheckInvariants())
		}
	}
}

// deliverAll delivers queued messages (and the ones they cause) until the
// network is quiet or the step budget runs out.
func (c *cluster) deliverAll() {
	for range 10000 {
		c.process()
		if len(c.queue) == 0 {
			return
		}
		msgs := c.queue
		c.queue = nil
		for _, m := range msgs {
			c.deliver(m)
		}
	}
	c.t.Fatalf("network did not quiesce")
}

func (c *cluster) deliver(m Message) {
	to := c.nodes[m.To]
	if to == nil || to.down || c.nodes[m.From] == nil || c.nodes[m.From].down {
		return
	}
	if c.cut[[2]NodeID{m.From, m.To}] || (c.dropFn != nil && c.dropFn(m)) {
		return
	}
	require.NoError(c.t, to.raft.Step(m))
}

// tick advances every live node's clock once and settles the network.
func (c *cluster) tick(n int) {
	for range n {
		for _, id := range c.ids {
			if nd := c.nodes[id]; nd != nil && !nd.down {
				nd.raft.Tick()
			}
		}
		c.deliverAll()
	}
}

// isolate cuts a node off in both directions; heal restores every link.
func (c *cluster) isolate(id NodeID) {
	for _, other := range c.ids {
		if other != id {
			c.cut[[2]NodeID{id, other}] = true
			c.cut[[2]NodeID{other, id}] = true
		}
	}
}

func (c *cluster) partition(groups ...[]NodeID) {
	for _, g1 := range groups {
		for _, g2 := range groups {
			if &g1[0] == &g2[0] {
				continue
			}
			for _, a := range g1 {
				for _, b := range g2 {
					c.cut[[2]NodeID{a, b}] = true
				}
			}
		}
	}
}

func (c *cluster) heal() { c.cut = map[[2]NodeID]bool{} }

// leader returns the single live leader of the highest term, or None.
func (c *cluster) leader() NodeID {
	var lead NodeID
	var term uint64
	for _, id := range c.ids {
		n := c.nodes[id]
		if n == nil || n.down || n.raft.state != StateLeader {
			continue
		}
		if n.raft.term > term {
			lead, term = id, n.raft.term
		}
	}
	return lead
}

// waitLeader ticks until a leader is elected.
func (c *cluster) waitLeader() NodeID {
	for range 200 {
		if l := c.leader(); l != None {
			return l
		}
		c.tick(1)
	}
	c.t.Fatalf("no leader elected")
	return None
}

func (c *cluster) propose(data string) uint64 {
	l := c.waitLeader()
	idx, _, err := c.node(l).Propose([]byte(data))
	require.NoError(c.t, err)
	c.deliverAll()
	return idx
}

func appliedData(n *testNode) []string {
	var out []string
	for _, e := range n.applied {
		out = append(out, string(e.Data))
	}
	return out
}

func TestClusterElectsAndReplicates(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.waitLeader()
	for i := range 20 {
		c.propose(fmt.Sprintf("cmd-%d", i))
	}
	c.tick(3)
	for _, id := range c.ids {
		require.Len(t, appliedData(c.nodes[id]), 20, "node %d", id)
		require.Equal(t, c.node(l).log.committed, c.node(id).log.committed)
	}
}

func TestClusterFailoverKeepsCommitted(t *testing.T) {
	c := newCluster(t, 5, nil)
	for i := range 10 {
		c.propose(fmt.Sprintf("a-%d", i))
	}
	old := c.leader()
	c.isolate(old)
	c.tick(60)
	l := c.leader()
	require.NotEqual(t, None, l)
	require.NotEqual(t, old, l)
	require.NotEqual(t, StateLeader, c.node(old).state, "CheckQuorum must depose the isolated leader")
	for i := range 10 {
		c.propose(fmt.Sprintf("b-%d", i))
	}
	c.heal()
	c.tick(30)
	for _, id := range c.ids {
		require.Len(t, appliedData(c.nodes[id]), 20, "node %d", id)
	}
}

func TestClusterCrashRestartAndSnapshot(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 10 {
		c.propose(fmt.Sprintf("a-%d", i))
	}
	l := c.leader()
	var follower NodeID
	for _, id := range c.ids {
		if id != l {
			follower = id
			break
		}
	}
	c.crash(follower)
	for i := range 10 {
		c.propose(fmt.Sprintf("b-%d", i))
	}
	// Compact the leader's log past what the crashed follower has.
	snap, err := c.node(l).Compact(c.node(l).log.applied, []byte("state"))
	require.NoError(t, err)
	c.nodes[l].store.snap = &snap
	c.restart(follower)
	c.tick(20)
	require.Equal(t, c.node(l).log.committed, c.node(follower).log.committed)
	require.Equal(t, snap.Meta.Index, c.node(follower).log.snapIndex, "follower caught up by snapshot")
}

func TestClusterMembershipAndTransfer(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	// Add node 4 as a learner, then promote it.
	c.ids = append(c.ids, 4)
	c.cfg = func(id NodeID) Config {
		var voters []NodeID
		if id != 4 {
			voters = []NodeID{1, 2, 3}
		}
		return defaultConfig(id, voters, 42)
	}
	c.start(4, &memStore{})
	l := c.leader()
	_, _, err := c.node(l).ProposeConfChange(ConfChange{Type: AddLearner, Node: 4})
	require.NoError(t, err)
	c.tick(5)
	require.Equal(t, []NodeID{4}, c.node(4).conf.learners)
	_, _, err = c.node(l).ProposeConfChange(ConfChange{Type: AddVoter, Node: 4})
	require.NoError(t, err)
	c.tick(5)
	require.Equal(t, []NodeID{1, 2, 3, 4}, c.node(4).conf.voters)
	require.NoError(t, c.node(l).TransferLeadership(4))
	c.tick(5)
	require.Equal(t, NodeID(4), c.leader())
	// Remove the old leader... and the new leader steps down if it removes itself.
	_, _, err = c.node(4).ProposeConfChange(ConfChange{Type: RemoveNode, Node: 4})
	require.NoError(t, err)
	c.tick(40)
	nl := c.leader()
	require.NotEqual(t, None, nl)
	require.NotEqual(t, NodeID(4), nl)
	require.Equal(t, []NodeID{1, 2, 3}, c.node(nl).conf.voters)
}

func TestReadIndexOnFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	l := c.leader()
	f := NodeID(1)
	if f == l {
		f = 2
	}
	require.NoError(t, c.node(f).ReadIndex([]byte("r1")))
	c.deliverAll()
	require.Len(t, c.nodes[f].reads, 1)
	require.Equal(t, c.node(l).log.committed, c.nodes[f].reads[0].Index)
}
