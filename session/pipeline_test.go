package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// awaitReplies runs the cluster until node has answered every id of conn,
// and returns the answers in the order they came.
func (tc *testCluster) awaitReplies(node raft.NodeID, conn ConnID, ids ...uint64) []Reply {
	tc.t.Helper()
	n := tc.nodes[node]
	for range 800 {
		tc.settle()
		got := map[uint64]bool{}
		for _, r := range n.replies[conn] {
			got[r.ID] = true
		}
		all := true
		for _, id := range ids {
			all = all && got[id]
		}
		if all {
			out := n.replies[conn]
			n.replies[conn] = nil
			return out
		}
		tc.tick(1)
	}
	tc.t.Fatalf("node %d did not answer all of %v on conn %d: %+v", node, ids, conn, n.replies[conn])
	return nil
}

// PROTOCOL.md, Haven protocol: "Requests on one connection may be
// pipelined", and "The first message on a connection must be connect".
// Requests sent right behind a connect, before its answer, are the new
// session's: they wait for the connect and then run as its, on the leader
// and through a follower alike.
func TestRequestsPipelinedBehindAConnectAreTheSessions(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	for i, node := range []raft.NodeID{tc.leader(), tc.follower()} {
		conn := ConnID(10 + i)
		path := "/data/pipe" + string(rune('a'+i))
		core := tc.nodes[node].core
		core.Submit(Request{Conn: conn, ID: 1, Op: OpConnect, TTLms: 60000})
		core.Submit(Request{Conn: conn, ID: 2, Op: OpCreate, Path: path, Data: mustPack("x")})
		core.Submit(Request{Conn: conn, ID: 3, Op: OpWatch, Path: path})
		core.Submit(Request{Conn: conn, ID: 4, Op: OpPing})
		core.Submit(Request{Conn: conn, ID: 5, Op: OpConnect})
		got := tc.awaitReplies(node, conn, 1, 2, 3, 4, 5)
		byID := map[uint64]Reply{}
		for _, r := range got {
			byID[r.ID] = r
		}
		require.Equal(t, uint64(1), got[0].ID, "node %d: the connect is answered first: %+v", node, got)
		hello := byID[1]
		require.Equal(t, fsm.OK, hello.Code, hello.Message)
		create := byID[2]
		require.Equal(t, fsm.OK, create.Code, "node %d: a create pipelined behind connect: %s", node, create.Message)
		require.Equal(t, hello.Session, create.Item.Owner)
		require.Equal(t, fsm.OK, byID[3].Code, byID[3].Message)
		require.Equal(t, fsm.OK, byID[4].Code, "a ping right behind connect: %s", byID[4].Message)
		require.Equal(t, fsm.InvalidParameter, byID[5].Code, "a second connect on a connection that has a session")
	}
}

// A connect that fails leaves the connection without a session, so what
// was pipelined behind it is refused as any request before a connect is
// (InvalidParameter), and so is a read sent after the failure: none runs
// without the session its client meant it for. A connect after that works
// as on a new connection.
func TestRequestsBehindAFailedConnectAreRefused(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	f := tc.follower()
	core := tc.nodes[f].core
	dead := "00112233445566778899aabbccddeeff"
	core.Submit(Request{Conn: 1, ID: 1, Op: OpConnect, Token: dead})
	core.Submit(Request{Conn: 1, ID: 2, Op: OpWatch, Path: "/data/p"})
	core.Submit(Request{Conn: 1, ID: 3, Op: OpCreate, Path: "/data/p", Data: mustPack(1)})
	core.Submit(Request{Conn: 1, ID: 4, Op: OpConnect})
	core.Submit(Request{Conn: 1, ID: 5, Op: OpCreate, Path: "/data/p", Data: mustPack(2)})
	got := tc.awaitReplies(f, 1, 1, 2, 3, 4, 5)
	byID := map[uint64]Reply{}
	for _, r := range got {
		byID[r.ID] = r
	}
	require.Equal(t, fsm.SessionExpired, byID[1].Code)
	require.Equal(t, fsm.InvalidParameter, byID[2].Code, "a watch behind a failed connect: %+v", byID[2])
	require.Equal(t, fsm.InvalidParameter, byID[3].Code)
	require.Equal(t, fsm.OK, byID[4].Code, byID[4].Message)
	require.Equal(t, fsm.OK, byID[5].Code, byID[5].Message)
	require.Equal(t, byID[4].Session, byID[5].Item.Owner)

	refused := tc.do(f, Request{Conn: 2, Op: OpConnect, Token: dead})
	require.Equal(t, fsm.SessionExpired, refused.Code)
	read := tc.do(f, Request{Conn: 2, Op: OpRead, Path: "/data/p"})
	require.Equal(t, fsm.InvalidParameter, read.Code, "a read after a failed connect: %+v", read)
	require.Empty(t, read.Items)
}
