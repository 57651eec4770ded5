package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// A follower names each batch of linearizable reads by a context it hands
// to ReadIndex, and matches the leader's answer (a read index) by it. After
// the follower restarts, an answer meant for its previous incarnation —
// held up in the network — must not serve one of the new incarnation's
// reads: it carries an index from before writes the new read must see
// (§6.4: the read index must be the leader's commit index after the read
// arrived). Reference: §6.4
func TestStaleReadIndexAnswerAfterRestartIsIgnored(t *testing.T) {
	starts := uint64(2000)
	tc := newTestCluster(t, 3, func(c *Config) { starts++; c.Rand = newPCG(starts) })
	l := tc.leader()
	f := tc.follower()
	tc.connect(l, 1, 60000)
	require.Equal(t, fsm.OK, tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/x", Data: mustPack("a")}).Code)
	tc.tick(2)

	// The follower's read gets its index from the leader; the answer is held.
	held := holdReadIndexAnswer(t, tc, f, Request{Conn: 9, ID: 400, Op: OpRead, Path: "/data/x"})

	// The follower restarts and hears from the leader; then it is cut off
	// while the leader commits a second push.
	tc.nodes[f].down = true
	tc.start(f, tc.nodes[f].disk)
	tc.tick(3)
	require.Equal(t, l, tc.nodes[f].core.Leader())
	tc.cut[f] = true
	second := tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/x", Data: mustPack("b")})
	require.Equal(t, fsm.OK, second.Code)
	require.Less(t, tc.nodes[f].core.Machine().AppliedIndex(), second.Version)

	// A new read on the restarted follower; the old answer arrives.
	tc.nodes[f].core.Submit(Request{Conn: 10, ID: 401, Op: OpRead, Path: "/data/x"})
	tc.nodes[f].core.Tick(tc.now)
	tc.process()
	tc.queue = nil
	require.NoError(t, tc.nodes[f].core.Step(held))
	tc.process()
	for _, r := range tc.nodes[f].replies[10] {
		require.NotEqual(t, fsm.OK, r.Code, "a read answered with the previous incarnation's read index: %v", r.Items)
	}
	delete(tc.cut, f)
	r := tc.do(f, Request{Conn: 11, Op: OpRead, Path: "/data/x"})
	require.Equal(t, fsm.OK, r.Code, r.Message)
	require.Len(t, r.Items, 2)
}

// holdReadIndexAnswer submits a linearizable read on node n and runs the
// cluster until the leader's read index answer to n is on its way, which
// it takes out of the network and returns.
func holdReadIndexAnswer(t *testing.T, tc *testCluster, n raft.NodeID, req Request) PeerMessage {
	tc.nodes[n].core.Submit(req)
	tc.nodes[n].core.Tick(tc.now)
	tc.process()
	for range 50 {
		msgs := tc.queue
		tc.queue = nil
		for _, m := range msgs {
			if m.Raft != nil && m.Raft.Type == raft.MsgReadIndexResp && m.To == n {
				tc.settle()
				return m
			}
			if !tc.nodes[m.To].down {
				require.NoError(t, tc.nodes[m.To].core.Step(m))
			}
		}
		tc.process()
	}
	t.Fatal("no read index answer")
	return PeerMessage{}
}
