package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// A follower removed while cut off never hears of it from the leader,
// which stops replicating to it. Once healed, it asks for votes, and the
// voters tell it it is no member (raft's MsgRemoved). From then on no
// leader will talk to it: it answers what waited for one, and what comes
// after, at once, Unavailable, saying why; not at the request timeout.
// Found by hand: `haven get` through a removed node took 10 s to fail.
func TestRemovedNodeAnswersAtOnce(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l, f := tc.leader(), tc.follower()
	tc.connect(l, 1, 60000)
	tc.connect(f, 2, 60000)
	tc.cut[f] = true
	r := tc.do(l, Request{Conn: 1, Op: OpBecome, Become: BecomeRemoved, Node: f})
	require.Equal(t, fsm.OK, r.Code, r.Message)
	tc.tick(30) // f's election timer runs out: no leader known, it asks in vain
	core := tc.nodes[f].core
	require.Zero(t, core.Status().RemovedAt)
	core.Submit(Request{Conn: 2, ID: 900, Op: OpCreate, Path: "/data/x", Data: mustPack("x")})
	core.Submit(Request{Conn: 2, ID: 901, Op: OpRead, Path: "/data/x"})
	tc.settle()
	require.Empty(t, tc.nodes[f].replies[2], "both wait for a leader")

	tc.cut[f] = false
	for _, id := range []uint64{900, 901} {
		r, ticks := tc.settledWithin(f, 2, id, 40) // an election timeout or two: the request timeout is 500 ticks
		require.Equal(t, fsm.Unavailable, r.Code, r.Message)
		require.Contains(t, r.Message, "this node was removed from the cluster")
		t.Logf("request %d answered after %d ticks: %s", id, ticks, r.Message)
	}
	st := core.Status()
	require.Equal(t, "removed", st.Role)
	require.NotZero(t, st.RemovedAt)

	start := len(tc.nodes[f].replies[2])
	core.Submit(Request{Conn: 2, ID: 902, Op: OpCreate, Path: "/data/y", Data: mustPack("y")})
	core.Submit(Request{Conn: 2, ID: 903, Op: OpRead, Path: "/data/y"})
	tc.settle()
	got := tc.nodes[f].replies[2][start:]
	require.Len(t, got, 2, "answered in the same Ready")
	for _, r := range got {
		require.Equal(t, fsm.Unavailable, r.Code, r.Message)
		require.Contains(t, r.Message, "this node was removed from the cluster")
	}
	require.Contains(t, got[0].Message, "nothing was applied")
	items, _ := tc.nodes[l].core.Machine().Read("/data/y")
	require.Empty(t, items)
	require.Equal(t, raft.StateLeader, tc.nodes[l].core.raft.Status().State, "the cluster carries on")
}

// `become removed` of a node, asked through that node, is answered OK
// once a member tells it it is no member: the leader stops replicating to
// it as soon as the change is in its log, so it never sees the entry, and
// the answer used to be Unavailable at the request timeout.
func TestBecomeRemovedThroughItselfIsAnswered(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l, f := tc.leader(), tc.follower()
	tc.connect(f, 2, 60000)
	tc.nodes[f].core.Submit(Request{Conn: 2, ID: 900, Op: OpBecome, Become: BecomeRemoved, Node: f})
	r, ticks := tc.settledWithin(f, 2, 900, 60) // a few election timeouts; the request timeout is 500 ticks
	require.Equal(t, fsm.OK, r.Code, r.Message)
	t.Logf("answered after %d ticks", ticks)
	require.NotContains(t, tc.nodes[l].core.raft.Status().Conf.Voters, f)
	require.Equal(t, "removed", tc.nodes[f].core.Status().Role)
}

// A learner never campaigns, so it cannot learn of its removal the way a
// voter does; the leader stops replicating to it as soon as the change is
// in its log. What it still sends is the read index of a linearizable
// read, forwarded to the leader, which tells it (raft's MsgRemoved): the
// read is answered at once, Unavailable, saying why, not at the request
// timeout, and the node's role is removed.
func TestRemovedLearnerAnswersAtOnce(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	tc.connect(l, 1, 60000)
	core := tc.addLearner(l, 1, 4)
	tc.connect(4, 2, 60000)
	tc.create(l, 1, "/data/x")
	r := tc.do(4, Request{Conn: 2, Op: OpRead, Path: "/data/x"})
	require.Equal(t, fsm.OK, r.Code, "a learner serves linearizable reads: %s", r.Message)
	require.Contains(t, core.raft.Status().Conf.Learners, raft.NodeID(4))

	r = tc.do(l, Request{Conn: 1, Op: OpBecome, Become: BecomeRemoved, Node: 4})
	require.Equal(t, fsm.OK, r.Code, r.Message)
	require.Zero(t, core.Status().RemovedAt, "the leader sent it nothing more")
	core.Submit(Request{Conn: 2, ID: 900, Op: OpRead, Path: "/data/x"})
	r, ticks := tc.settledWithin(4, 2, 900, 10) // the request timeout is 500 ticks
	require.Equal(t, fsm.Unavailable, r.Code, r.Message)
	require.Contains(t, r.Message, "this node was removed from the cluster")
	t.Logf("answered after %d ticks: %s", ticks, r.Message)
	require.Equal(t, "removed", core.Status().Role)
}

// What a client of a removed learner sends first is a connect: a write,
// forwarded to the leader by the service core, not by raft. The leader
// tells the learner then too (found on a real cluster: `haven get` through
// a removed learner connects first, and took 10 s to fail). Once told, it
// forwards no more writes, though it still knows a leader: it answers
// them at once, and nothing was applied (found on a real cluster too: a
// restarted removed learner, told by its own question, forwarded the
// first connect to the leader it had heard of, which told it again at the
// same index, so nothing answered the connect until the client gave up on
// it 4 s later).
func TestRemovedLearnerIsToldByItsForwards(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	tc.connect(l, 1, 60000)
	core := tc.addLearner(l, 1, 4)
	tc.create(l, 1, "/data/x")
	tc.tick(5) // it catches up
	r := tc.do(l, Request{Conn: 1, Op: OpBecome, Become: BecomeRemoved, Node: 4})
	require.Equal(t, fsm.OK, r.Code, r.Message)

	core.Submit(Request{Conn: 2, ID: 900, Op: OpConnect, TTLms: 60000})
	r, ticks := tc.settledWithin(4, 2, 900, 10) // the request timeout is 500 ticks
	require.Equal(t, fsm.Unavailable, r.Code, r.Message)
	require.Contains(t, r.Message, "this node was removed from the cluster")
	// The leader took the forward before it told: it may have applied it.
	require.Contains(t, r.Message, "the write may have been applied")
	t.Logf("answered after %d ticks: %s", ticks, r.Message)
	require.Equal(t, "removed", core.Status().Role)

	require.NotEmpty(t, core.Status().Leader, "it still knows a leader")
	core.Submit(Request{Conn: 3, ID: 901, Op: OpConnect, TTLms: 60000})
	r, _ = tc.settledWithin(4, 3, 901, 1) // its Ready, not a round trip
	require.Equal(t, fsm.Unavailable, r.Code, r.Message)
	require.Contains(t, r.Message, "this node was removed from the cluster")
	require.Contains(t, r.Message, "nothing was applied")
}

// addLearner has the leader l add node id as a learner, asked on conn,
// and starts it on an empty disk; it returns its core.
func (tc *testCluster) addLearner(l raft.NodeID, conn ConnID, id raft.NodeID) *Core {
	tc.cut[id] = true // until it runs
	r := tc.do(l, Request{Conn: conn, Op: OpBecome, Become: BecomeLearner, Node: id, Address: "127.0.0.1:7404"})
	require.Equal(tc.t, fsm.OK, r.Code, r.Message)
	cfg := tc.config(id)
	cfg.Raft.Voters, cfg.Raft.Bootstrap = nil, false
	disk := &memDisk{}
	core, err := New(cfg, disk.restored())
	require.NoError(tc.t, err)
	tc.ids = append(tc.ids, id)
	tc.nodes[id] = &testNode{core: core, disk: disk, replies: map[ConnID][]Reply{}, deliveries: map[ConnID][]fsm.Event{}}
	delete(tc.cut, id)
	return core
}
