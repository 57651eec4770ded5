package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
)

// Backpressure: a node that cannot commit does not queue writes without
// end. Over MaxPendingWrites a write is refused Unavailable at once, so the
// client backs off or tries elsewhere.
func TestPendingWritesAreBounded(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.MaxPendingWrites = 2 })
	l := tc.leader()
	tc.connect(l, 1, 60000)
	for id := range tc.nodes {
		if id != l {
			tc.cut[id] = true
		}
	}
	for i := range 2 {
		tc.nodes[l].core.Submit(Request{Conn: 1, ID: uint64(100 + i), Op: OpCreate, Path: "/data/b", Data: mustPack(i)})
	}
	r := submitNoTick(tc, l, Request{Conn: 1, Op: OpCreate, Path: "/data/b", Data: mustPack(3)})
	require.NotNil(t, r, "refused at once")
	require.Equal(t, fsm.Unavailable, r.Code)
	require.Len(t, tc.nodes[l].replies[1], 1, "the first two still wait")
}

// The same for linearizable reads (and resumes) waiting for a read index.
func TestPendingReadsAreBounded(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.MaxPendingReads = 2 })
	f := tc.follower()
	tc.connect(f, 1, 60000)
	tc.cut[f] = true
	for i := range 2 {
		tc.nodes[f].core.Submit(Request{Conn: 1, ID: uint64(100 + i), Op: OpRead, Path: "/data/b"})
	}
	r := submitNoTick(tc, f, Request{Conn: 1, Op: OpRead, Path: "/data/b"})
	require.NotNil(t, r, "refused at once")
	require.Equal(t, fsm.Unavailable, r.Code)
	r = submitNoTick(tc, f, Request{Conn: 2, Op: OpConnect, Token: "00112233445566778899aabbccddeeff"})
	require.NotNil(t, r, "a resume too")
	require.Equal(t, fsm.Unavailable, r.Code)
}

// A connection handed more than MaxDeliveriesPerReady events in one Ready
// (a slow or far-behind watcher) is closed after the events it got, with
// no gap: its client resumes with since, from the history or with reset.
func TestTooManyDeliveriesCloseTheConnection(t *testing.T) {
	tc := newTestCluster(t, 1, func(c *Config) { c.MaxDeliveriesPerReady = 3 })
	l := tc.leader()
	tc.connect(l, 1, 60000)
	hello := tc.connect(l, 2, 60000)
	var versions []uint64
	for i := range 10 {
		versions = append(versions, tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/d", Data: mustPack(i)}).Version)
	}
	since := versions[0]
	w := tc.do(l, Request{Conn: 2, Op: OpWatch, Path: "/data/d", Since: &since})
	require.Equal(t, fsm.OK, w.Code)
	tc.settle()
	require.Contains(t, tc.nodes[l].dropped, ConnID(2))
	got := tc.nodes[l].deliveries[2]
	require.Len(t, got, 3)
	require.Equal(t, versions[1:4], []uint64{got[0].Version, got[1].Version, got[2].Version}, "a prefix, no gap")
	// The client resumes from what it got.
	tc.do(l, Request{Conn: 3, Op: OpConnect, Token: hello.Token})
	since = got[2].Version
	w = tc.do(l, Request{Conn: 3, Op: OpWatch, Path: "/data/d", Since: &since})
	require.False(t, w.Reset)
	require.Len(t, tc.nodes[l].deliveries[3], 3, "the next three")
	require.Contains(t, tc.nodes[l].dropped, ConnID(3), "and again")
}
