package session

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// settledWithin ticks the cluster until node has answered id on conn, for
// at most ticks ticks, and returns the answer and the ticks it took.
func (tc *testCluster) settledWithin(node raft.NodeID, conn ConnID, id uint64, ticks int) (Reply, int) {
	tc.t.Helper()
	for n := 0; n <= ticks; n++ {
		for _, r := range tc.nodes[node].replies[conn] {
			if r.ID == id {
				return r, n
			}
		}
		tc.tick(1)
	}
	tc.t.Fatalf("node %d did not answer request %d within %d ticks (the request timeout is %d ms, %d ticks)",
		node, id, ticks, tc.nodes[node].core.cfg.RequestTimeoutMs, tc.nodes[node].core.cfg.RequestTimeoutMs/10)
	return Reply{}, 0
}

// A follower's write whose leader goes away before it answers is settled
// as soon as the follower applies an entry of a newer term, not at the
// request timeout: by then every entry of the old term that will ever be
// committed lies below that entry and is applied, so the outcome is
// decided. A write the old leader answered with an index it never
// committed is then "nothing was applied"; a forward the old leader never
// answered may or may not be among the old term's entries, and its answer
// says so. Found by `haven bench failover` with one client: the write in
// flight when the leader was killed took the request timeout (5 s) to
// fail, so the first write after the failover came 5 s late.
func TestWritesOfALostLeaderSettleAtTheNextTerm(t *testing.T) {
	// Within: a new leader is elected and commits its first entry in a
	// few election timeouts (10 ticks each), far below the 500 ticks of
	// the request timeout.
	const within = 60

	t.Run("forward never answered, never proposed", func(t *testing.T) {
		tc := newTestCluster(t, 3, nil)
		l, f := tc.leader(), tc.follower()
		tc.connect(f, 1, 60000)
		// The leader is gone before the forward reaches it.
		tc.cut[l] = true
		tc.nodes[f].core.Submit(Request{Conn: 1, ID: 500, Op: OpCreate, Path: "/data/x", Data: mustPack("x")})
		r, ticks := tc.settledWithin(f, 1, 500, within)
		require.Equal(t, fsm.Unavailable, r.Code, r.Message)
		require.Contains(t, r.Message, "may have been applied", "the follower cannot know the old leader did not propose it")
		t.Logf("settled after %d ticks: %s", ticks, r.Message)
		read := tc.do(f, Request{Conn: 1, Op: OpRead, Path: "/data/x"})
		require.Equal(t, fsm.OK, read.Code, read.Message)
		require.Empty(t, read.Items)
	})

	t.Run("forward proposed and committed, answer lost", func(t *testing.T) {
		tc := newTestCluster(t, 3, nil)
		l, f := tc.leader(), tc.follower()
		tc.connect(f, 1, 60000)
		// The leader proposes and commits the write, but its answer to
		// the follower is lost, and then so is the leader.
		tc.drop = func(m PeerMessage) bool { return m.ForwardReply != nil }
		tc.nodes[f].core.Submit(Request{Conn: 1, ID: 500, Op: OpCreate, Path: "/data/x", Data: mustPack("x")})
		tc.settle()
		items, _ := tc.nodes[l].core.Machine().Read("/data/x")
		require.Len(t, items, 1, "the push committed")
		tc.drop = nil
		tc.cut[l] = true
		r, ticks := tc.settledWithin(f, 1, 500, within)
		require.Equal(t, fsm.Unavailable, r.Code, r.Message)
		require.Contains(t, r.Message, "may have been applied")
		require.NotContains(t, r.Message, "nothing was applied")
		t.Logf("settled after %d ticks: %s", ticks, r.Message)
		read := tc.do(f, Request{Conn: 1, Op: OpRead, Path: "/data/x"})
		require.Len(t, read.Items, 1, "read to find out: the push is there")
	})

	t.Run("answered with indices never committed", func(t *testing.T) {
		tc := newTestCluster(t, 3, nil)
		l, f := tc.leader(), tc.follower()
		tc.connect(f, 1, 60000)
		// The leader answers four forwards, but none of its appends get
		// out. The new leader's first two entries (its empty entry and
		// its renewal of the sessions) take the first two indices; the
		// others lie beyond what the new term has written.
		tc.drop = func(m PeerMessage) bool { return m.From == l && m.Raft != nil && m.Raft.Type == raft.MsgApp }
		ids := []uint64{500, 501, 502, 503}
		for _, id := range ids {
			tc.nodes[f].core.Submit(Request{Conn: 1, ID: id, Op: OpCreate, Path: "/data/x", Data: mustPack(id)})
		}
		tc.settle()
		require.Len(t, tc.nodes[f].core.writes.byIndex, len(ids), "every forward answered with an index")
		tc.drop = nil
		tc.cut[l] = true
		for _, id := range ids {
			r, ticks := tc.settledWithin(f, 1, id, within)
			require.Equal(t, fsm.Unavailable, r.Code, r.Message)
			require.True(t, strings.Contains(r.Message, "nothing was applied"), "request %d: %s", id, r.Message)
			t.Logf("request %d settled after %d ticks: %s", id, ticks, r.Message)
		}
		read := tc.do(f, Request{Conn: 1, Op: OpRead, Path: "/data/x"})
		require.Empty(t, read.Items)
	})
}
