package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// submitNoTick submits a request and runs the cluster's Readys and
// messages without advancing time, returning the reply if one came.
func submitNoTick(tc *testCluster, node raft.NodeID, req Request) *Reply {
	tc.reqID++
	req.ID = tc.reqID
	tc.nodes[node].core.Submit(req)
	tc.settle()
	for i, r := range tc.nodes[node].replies[req.Conn] {
		if r.ID == req.ID {
			return &tc.nodes[node].replies[req.Conn][i]
		}
	}
	return nil
}

// A read, a resume or a ping handed to an idle node must go out at once:
// HasReady reports the queued work, so the host's Ready carries its
// ReadIndex round instead of waiting for the next tick.
func TestQueuedReadsGoOutWithoutATick(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	hello := tc.connect(l, 1, 60000)
	tc.connect(f, 2, 60000)
	tc.tick(3)

	for _, node := range []raft.NodeID{l, f} {
		conn := map[raft.NodeID]ConnID{l: 1, f: 2}[node]
		r := submitNoTick(tc, node, Request{Conn: conn, Op: OpRead, Path: "/data/r"})
		require.NotNil(t, r, "a linearizable read on node %d waits for a tick", node)
		require.Equal(t, fsm.OK, r.Code, r.Message)
	}
	r := submitNoTick(tc, l, Request{Conn: 1, Op: OpPing})
	require.NotNil(t, r, "a ping on the leader waits for a tick")
	require.Equal(t, fsm.OK, r.Code, r.Message)
	r = submitNoTick(tc, l, Request{Conn: 3, Op: OpConnect, Token: hello.Token})
	require.NotNil(t, r, "a resume waits for a tick")
	require.Equal(t, fsm.OK, r.Code, r.Message)
}

// Between Ready and Advance the host may fsync on another goroutine while
// its loop goes on stepping messages; HasReady must then say false (the
// next Ready comes after Advance), not invite a second Ready.
func TestHasReadyIsFalseUntilAdvance(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	tc.connect(l, 1, 60000)
	core := tc.nodes[l].core
	core.Submit(Request{Conn: 1, ID: 1000, Op: OpCreate, Path: "/data/h", Data: mustPack(1)})
	require.True(t, core.HasReady())
	rd := core.Ready()
	require.NotEmpty(t, rd.Entries)
	core.Submit(Request{Conn: 1, ID: 1001, Op: OpCreate, Path: "/data/h", Data: mustPack(2)})
	core.Submit(Request{Conn: 1, ID: 1002, Op: OpCreate, Path: "/bad", Data: mustPack(3)}) // answered at once
	core.Tick(tc.now + 10)
	require.False(t, core.HasReady(), "HasReady between Ready and Advance")
	require.Panics(t, func() { core.Ready() }, "a second Ready before Advance")
	tc.nodes[l].disk.save(rd)
	tc.queue = append(tc.queue, rd.Messages...)
	core.Advance()
	require.True(t, core.HasReady(), "the work queued meanwhile")
	tc.settle()
	codes := map[uint64]fsm.Code{}
	for _, r := range tc.nodes[l].replies[1] {
		codes[r.ID] = r.Code
	}
	require.Equal(t, map[uint64]fsm.Code{1000: fsm.OK, 1001: fsm.OK, 1002: fsm.InvalidParameter}, codes)
	items, _ := core.Machine().Read("/data/h")
	require.Len(t, items, 2)
}

// Raft's early messages (a leader's appends, which may leave before its own
// fsync, §10.2.1) stay the first Messages of the session's Ready.
func TestEarlyMessagesAreRaftsFirst(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	tc.connect(f, 1, 60000)
	core := tc.nodes[l].core
	// A forwarded write (a service message waits for the reply) and a
	// proposal at once.
	require.NoError(t, core.Step(PeerMessage{Group: 1, From: f, To: l, Forward: &Forward{ID: 5,
		Term: core.Raft().Term(), Command: fsm.Encode(fsm.Noop{})}}))
	rd := core.Ready()
	require.Positive(t, rd.EarlyMessages)
	for i, m := range rd.Messages {
		if i < rd.EarlyMessages {
			require.NotNil(t, m.Raft, "early message %d", i)
			require.Equal(t, raft.MsgApp, m.Raft.Type)
		}
	}
	require.NotNil(t, rd.Messages[len(rd.Messages)-1].ForwardReply)
	tc.nodes[l].disk.save(rd)
	core.Advance()
}

// A read refused a read index for want of a leader must not make a later
// read wait for a tick once a leader is known again: the refusal was about
// the reads queued then. Here the node's reads time out while it knows no
// leader, a leader is found, and the next read must go out at once.
func TestReadAfterARefusalGoesOutWithoutATick(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.RequestTimeoutMs = 100 })
	tc.leader()
	f := tc.follower()
	tc.connect(f, 2, 60000)
	tc.cut[f] = true
	for range 40 { // f loses its leader
		tc.tick(1)
		if tc.nodes[f].core.Raft().SoftState().Lead == raft.None {
			break
		}
	}
	require.Equal(t, raft.None, tc.nodes[f].core.Raft().SoftState().Lead)
	tc.nodes[f].core.Submit(Request{Conn: 2, ID: 700, Op: OpRead, Path: "/data/r"})
	tc.settle()
	require.False(t, tc.nodes[f].core.HasReady(), "a read that cannot be asked for keeps the host busy")
	tc.tick(15) // it times out
	var failed *Reply
	for i, r := range tc.nodes[f].replies[2] {
		if r.ID == 700 {
			failed = &tc.nodes[f].replies[2][i]
		}
	}
	require.NotNil(t, failed)
	require.Equal(t, fsm.Unavailable, failed.Code)

	delete(tc.cut, f)
	for range 60 {
		tc.tick(1)
		if lead := tc.nodes[f].core.Raft().SoftState().Lead; lead != raft.None && lead != f {
			break
		}
	}
	require.NotEqual(t, raft.None, tc.nodes[f].core.Raft().SoftState().Lead)
	r := submitNoTick(tc, f, Request{Conn: 2, Op: OpRead, Path: "/data/r"})
	require.NotNil(t, r, "the read waits for a tick")
	require.Equal(t, fsm.OK, r.Code, r.Message)
}
