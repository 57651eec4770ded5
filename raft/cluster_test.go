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
		// New entries replace every stored one from their first index on.
		first := rd.Entries[0].Index
		keep := len(s.entries)
		for keep > 0 && s.entries[keep-1].Index >= first {
			keep--
		}
		s.entries = append(s.entries[:keep], rd.Entries...)
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

// testingT is what the harness needs from *testing.T, *testing.B and
// *rapid.T alike.
type testingT interface {
	require.TestingT
	Helper()
	Fatalf(format string, args ...any)
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
	t      testingT
	cfg    func(id NodeID) Config
	nodes  map[NodeID]*testNode
	ids    []NodeID
	queue  []Message
	cut    map[[2]NodeID]bool // directed links that drop messages
	dropFn func(m Message) bool
	rng    *rand.Rand

	// checks turns on the assertions process runs after every Ready, and
	// the record of applied entries (the benchmark turns both off to
	// measure the core rather than the harness).
	checks bool
	// grants records, per (term, voter), the candidate that voter granted
	// its vote to, across crashes: Figure 2 allows one vote per term.
	grants map[voteKey]NodeID
	// appliedAt records the entry applied at each index by any node: State
	// Machine Safety says no node ever applies another one there (§5.4.3).
	appliedAt map[uint64]Entry
	// onReady, if set, sees every Ready after the store saved it and
	// before its messages are queued.
	onReady func(id NodeID, rd Ready)
	// crashAfter, if set and true for a Ready, crashes the node right after
	// that Ready was persisted and its messages sent, before it applies
	// anything or advances.
	crashAfter func(id NodeID, rd Ready) bool
	// sendEarly makes the hosts send each Ready's early messages
	// (Ready.EarlyMessages) before persisting it, as a leader may (§10.2.1);
	// crashBeforeSave, if set and true, then crashes the node after those
	// sends and before anything of the Ready is durable.
	sendEarly       bool
	crashBeforeSave func(id NodeID, rd Ready) bool
}

type voteKey struct {
	term  uint64
	voter NodeID
}

func defaultConfig(id NodeID, voters []NodeID, seed uint64) Config {
	return Config{
		ID: id, Voters: voters, Bootstrap: true,
		ElectionTicks: 10, HeartbeatTicks: 1,
		Rand:        newRand(seed + uint64(id)),
		PreVote:     true,
		CheckQuorum: true,
		MaxMsgBytes: 64 << 10, MaxInflightMsgs: 64,
	}
}

func newCluster(t testingT, n int, tweak func(*Config)) *cluster {
	ids := make([]NodeID, n)
	for i := range ids {
		ids[i] = NodeID(i + 1)
	}
	c := &cluster{
		t: t, nodes: map[NodeID]*testNode{}, ids: ids, cut: map[[2]NodeID]bool{},
		rng:    rand.New(rand.NewPCG(1, 2)),
		checks: true, grants: map[voteKey]NodeID{}, appliedAt: map[uint64]Entry{},
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
	// The state machine is rebuilt from the snapshot and the log, so its
	// record starts over; appliedAt keeps the cluster-wide history that
	// the replay is checked against.
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
			late := rd.Messages
			if c.sendEarly {
				early := rd.Messages[:rd.EarlyMessages]
				if c.checks {
					c.checkEarlySends(id, n.store, early)
				}
				c.queue = append(c.queue, early...)
				late = rd.Messages[rd.EarlyMessages:]
				if c.crashBeforeSave != nil && c.crashBeforeSave(id, rd) {
					n.down = true
					break
				}
			}
			n.store.save(rd)
			if c.checks {
				c.checkDurableBeforeSend(id, n.store, rd)
			}
			if c.onReady != nil {
				c.onReady(id, rd)
			}
			c.queue = append(c.queue, late...)
			if c.crashAfter != nil && c.crashAfter(id, rd) {
				n.down = true
				break
			}
			if rd.Snapshot != nil {
				n.lastApp = rd.Snapshot.Meta.Index
			}
			for _, e := range rd.CommittedEntries {
				if e.Index != n.lastApp+1 {
					c.t.Fatalf("node %d applies %d after %d", id, e.Index, n.lastApp)
				}
				n.lastApp = e.Index
				if !c.checks {
					continue
				}
				c.checkApply(id, e)
				if e.Type == EntryNormal && len(e.Data) > 0 {
					n.applied = append(n.applied, e)
				}
			}
			n.reads = append(n.reads, rd.ReadStates...)
			n.raft.Advance()
			if c.checks {
				if err := n.raft.CheckInvariants(); err != nil {
					c.t.Fatalf("%v", err)
				}
			}
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
	if err := to.raft.Step(m); err != nil {
		c.t.Fatalf("step %s %d->%d: %v", m.Type, m.From, m.To, err)
	}
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

// checkDurableBeforeSend asserts the persistence contract of Figure 2
// ("updated on stable storage before responding to RPCs") on one Ready,
// after the store saved it: every message's term is durable, a granted vote
// or a candidacy is durable with its term, and an acknowledged entry is in
// the store. It also records granted votes to catch a second vote in a term
// even across crashes.
func (c *cluster) checkDurableBeforeSend(id NodeID, store *memStore, rd Ready) {
	c.t.Helper()
	hard := store.hard
	for _, m := range rd.Messages {
		switch {
		case m.Type == MsgPreVote, m.Type == MsgPreVoteResp && !m.Reject:
			// §9.6: these carry a term nobody has moved to yet.
		case m.Term > hard.Term:
			c.t.Fatalf("node %d sends %s at term %d but its durable term is %d", id, m.Type, m.Term, hard.Term)
		}
		sameTerm := m.Term == hard.Term
		switch {
		case m.Type == MsgVoteResp && !m.Reject:
			if sameTerm && hard.Vote != m.To {
				c.t.Fatalf("node %d grants its term-%d vote to %d but its durable vote is %d", id, m.Term, m.To, hard.Vote)
			}
			key := voteKey{term: m.Term, voter: id}
			if prev, ok := c.grants[key]; ok && prev != m.To {
				c.t.Fatalf("node %d votes twice in term %d: for %d and for %d", id, m.Term, prev, m.To)
			}
			c.grants[key] = m.To
		case m.Type == MsgVote:
			if sameTerm && hard.Vote != id {
				c.t.Fatalf("node %d campaigns in term %d but its durable vote is %d", id, m.Term, hard.Vote)
			}
		case m.Type == MsgAppResp && !m.Reject:
			if sameTerm && m.Index > store.lastIndex() {
				c.t.Fatalf("node %d acknowledges index %d but stored only through %d", id, m.Index, store.lastIndex())
			}
		}
	}
}

// checkEarlySends asserts that the messages a host may send before
// persisting a Ready depend on nothing that Ready persists (§10.2.1): they
// are a leader's AppendEntries, heartbeats or snapshots, at the term it has
// already stored together with its vote for itself.
func (c *cluster) checkEarlySends(id NodeID, store *memStore, early []Message) {
	c.t.Helper()
	for _, m := range early {
		switch {
		case m.Type != MsgApp && m.Type != MsgHeartbeat && m.Type != MsgSnap:
			c.t.Fatalf("node %d may send %s before its fsync", id, m.Type)
		case m.Term != store.hard.Term || store.hard.Vote != id:
			c.t.Fatalf("node %d sends %s at term %d early, but has stored term %d vote %d", id, m.Type, m.Term, store.hard.Term, store.hard.Vote)
		}
	}
}

// checkApply asserts State Machine Safety (§5.4.3): "if a server has
// applied a log entry at a given index to its state machine, no other
// server will ever apply a different log entry for the same index."
func (c *cluster) checkApply(id NodeID, e Entry) {
	c.t.Helper()
	prev, ok := c.appliedAt[e.Index]
	if !ok {
		c.appliedAt[e.Index] = e
		return
	}
	if prev.Term != e.Term || prev.Type != e.Type || string(prev.Data) != string(e.Data) {
		c.t.Fatalf("node %d applies %d/%d %q at index %d where %d/%q was applied", id, e.Term, e.Type, e.Data, e.Index, prev.Term, prev.Data)
	}
}

func (s *memStore) lastIndex() uint64 {
	last := uint64(0)
	if s.snap != nil {
		last = s.snap.Meta.Index
	}
	if n := len(s.entries); n > 0 && s.entries[n-1].Index > last {
		last = s.entries[n-1].Index
	}
	return last
}

// campaign makes a follower's (or candidate's) election timer fire now,
// without touching the other nodes' clocks.
func (c *cluster) campaign(id NodeID) {
	c.t.Helper()
	r := c.node(id)
	require.NotEqual(c.t, StateLeader, r.state, "a leader does not campaign")
	r.electionElapsed = r.randomizedElectionTimeout - 1
	r.Tick()
}

// compact snapshots a node at its applied index and stores the snapshot
// durably, as a host does after Compact.
func (c *cluster) compact(id NodeID) Snapshot {
	c.t.Helper()
	n := c.nodes[id]
	snap, err := n.raft.Compact(n.raft.log.applied, []byte(fmt.Sprintf("state@%d", n.raft.log.applied)))
	require.NoError(c.t, err)
	n.store.snap = &snap
	var keep []Entry
	for _, e := range n.store.entries {
		if e.Index > snap.Meta.Index {
			keep = append(keep, e)
		}
	}
	n.store.entries = keep
	return snap
}

// addNode starts a new, empty server that joins the running cluster: it has
// no initial configuration and learns the membership from the leader.
func (c *cluster) addNode(id NodeID) {
	base := c.cfg
	c.cfg = func(x NodeID) Config {
		cfg := base(x)
		if x == id {
			cfg.Voters = nil
		}
		return cfg
	}
	c.ids = append(c.ids, id)
	c.start(id, &memStore{})
}

// changeConf proposes a membership change on the leader and settles it.
func (c *cluster) changeConf(cc ConfChange) {
	c.t.Helper()
	_, _, err := c.node(c.waitLeader()).ProposeConfChange(cc)
	require.NoError(c.t, err)
	c.deliverAll()
}

// others lists the ids other than the given ones, in order.
func (c *cluster) others(not ...NodeID) []NodeID {
	var out []NodeID
	for _, id := range c.ids {
		if !slices.Contains(not, id) {
			out = append(out, id)
		}
	}
	return out
}

func appliedData(n *testNode) []string {
	var out []string
	for _, e := range n.applied {
		out = append(out, string(e.Data))
	}
	return out
}

// TestClusterElectsAndReplicates is the harness's smoke test: a leader is
// elected and every server applies the same commands in the same order.
// Reference: §5.2, §5.3
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

// TestClusterFailoverKeepsCommitted checks that committed entries survive
// the loss of the leader: "the leader for any given term contains all of
// the entries committed in previous terms".
// Reference: §5.4
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

// TestClusterCrashRestartAndSnapshot checks that a follower restarted from
// its store catches up through the leader's snapshot.
// Reference: §7
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

// TestClusterMembershipAndTransfer walks a server through learner,
// voter, leader (by transfer) and removal.
// Reference: §4.2.1, §3.10, §4.2.2
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

// TestReadIndexOnFollower checks that a follower's read gets the leader's
// commit index.
// Reference: §6.4
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
