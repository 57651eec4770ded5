package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
)

// A commit-only hard state is not synced, so a node that loses power may
// restart with a lower commit index and serve stale reads from an older
// state than it had. PROTOCOL.md, "Reads": a stale read is "never older
// than what this same session has already seen, even across a reconnect or
// a restart of the node: a client names on connect the highest version it
// has seen (seen), and a node serves that session's stale reads only once
// it has applied that far". Here the client pipelines its stale read right
// behind its resume, as the Haven protocol allows.
func TestStaleReadAfterRestartWaitsForSeen(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	f := tc.follower()
	hello := tc.connect(f, 1, 60000)
	first := tc.do(f, Request{Conn: 1, Op: OpCreate, Path: "/data/s", Data: mustPack(1)})
	second := tc.do(f, Request{Conn: 1, Op: OpCreate, Path: "/data/s", Data: mustPack(2)})
	require.Equal(t, fsm.OK, second.Code)
	tc.tick(2)

	// The follower loses power; its last commit-only hard state was lost.
	disk := tc.nodes[f].disk
	require.GreaterOrEqual(t, disk.hard.Commit, second.Version)
	disk.hard.Commit = first.Version
	tc.nodes[f].down = true
	tc.start(f, disk)

	tc.nodes[f].core.Submit(Request{Conn: 2, ID: 600, Op: OpConnect, Token: hello.Token, Seen: second.Version})
	tc.nodes[f].core.Submit(Request{Conn: 2, ID: 601, Op: OpRead, Path: "/data/s", Stale: true})
	var read *Reply
	for range 100 {
		tc.tick(1)
		for i, r := range tc.nodes[f].replies[2] {
			if r.ID == 601 {
				read = &tc.nodes[f].replies[2][i]
			}
		}
		if read != nil {
			break
		}
	}
	require.NotNil(t, read, "the stale read is answered once the node has applied through seen")
	require.Equal(t, fsm.OK, read.Code, read.Message)
	require.GreaterOrEqual(t, read.Version, second.Version, "older than the session has seen")
	require.Len(t, read.Items, 2)
}

// A stale read that cannot reach seen in time (the node is cut off) is
// answered Unavailable, like every other wait.
func TestStaleReadBelowSeenTimesOut(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	f := tc.follower()
	tc.connect(f, 1, 60000)
	tc.cut[f] = true
	applied := tc.nodes[f].core.Machine().AppliedIndex()
	tc.nodes[f].core.Submit(Request{Conn: 2, ID: 700, Op: OpConnect, Token: "00112233445566778899aabbccddeeff", Seen: applied + 50})
	r := tc.do(f, Request{Conn: 2, Op: OpRead, Path: "/data/s", Stale: true})
	require.Equal(t, fsm.Unavailable, r.Code)
}

// The rule at its edge: a node exactly one entry behind the client's seen
// must wait too. The restart above does not tell: the read comes before the
// restarted node has applied anything, far below seen. Here the client
// wrote on the leader and moves, with seen = its write, to a follower cut
// off just before that write.
func TestStaleReadOneEntryBelowSeenWaits(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	hello := tc.connect(l, 1, 60000)
	require.Equal(t, fsm.OK, tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/s", Data: mustPack(1)}).Code)
	tc.tick(2)
	tc.cut[f] = true
	behind := tc.nodes[f].core.Machine().AppliedIndex()
	w := tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/s", Data: mustPack(2)})
	require.Equal(t, fsm.OK, w.Code, w.Message)
	require.Equal(t, behind+1, w.Version, "the follower is one entry behind the write")

	core := tc.nodes[f].core
	core.Submit(Request{Conn: 2, ID: 600, Op: OpConnect, Token: hello.Token, Seen: w.Version})
	core.Submit(Request{Conn: 2, ID: 601, Op: OpRead, Path: "/data/s", Stale: true})
	tc.process()
	delete(tc.cut, f)
	var read *Reply
	for range 100 {
		for i, r := range tc.nodes[f].replies[2] {
			if r.ID == 601 {
				read = &tc.nodes[f].replies[2][i]
			}
		}
		if read != nil {
			break
		}
		tc.tick(1)
	}
	require.NotNil(t, read, "the stale read is answered once the node has applied through seen")
	require.Equal(t, fsm.OK, read.Code, read.Message)
	require.GreaterOrEqual(t, read.Version, w.Version, "a stale read on a node one entry behind showed a list older than the session's seen")
	require.Len(t, read.Items, 2)
}
