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

// The bound closes a connection at an entry's boundary, never inside one: a
// session end deletes all its items in one entry, and their events share
// its index (PROTOCOL.md). A client that got only some of them would
// resume with since = that index and never get the rest: a gap.
func TestTooManyDeliveriesNeverSplitAnEntry(t *testing.T) {
	tc := newTestCluster(t, 1, func(c *Config) { c.MaxDeliveriesPerReady = 2 })
	l := tc.leader()
	tc.connect(l, 1, 60000)
	hello := tc.connect(l, 2, 60000)
	for i := range 3 {
		require.Equal(t, fsm.OK, tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/d", Data: mustPack(i)}).Code)
	}
	require.Equal(t, fsm.OK, tc.do(l, Request{Conn: 2, Op: OpWatch, Path: "/data/d"}).Code)
	// A push (one event) and the session's end (four deletes) applied in one
	// Ready.
	tc.nodes[l].core.Submit(Request{Conn: 1, ID: 900, Op: OpCreate, Path: "/data/d", Data: mustPack(9)})
	tc.nodes[l].core.Submit(Request{Conn: 1, ID: 901, Op: OpClose})
	tc.settle()
	got := tc.nodes[l].deliveries[2]
	require.Contains(t, tc.nodes[l].dropped, ConnID(2), "five events, over the bound of two")
	require.Len(t, got, 1, "the push only: none of the session end's deletes, since not all of them fit")
	require.Equal(t, fsm.EventPush, got[0].Kind)

	// The client resumes after the last version it got, and gets the whole
	// entry at once, although it is over the bound.
	tc.do(l, Request{Conn: 3, Op: OpConnect, Token: hello.Token})
	since := got[0].Version
	w := tc.do(l, Request{Conn: 3, Op: OpWatch, Path: "/data/d", Since: &since})
	require.Equal(t, fsm.OK, w.Code)
	require.False(t, w.Reset)
	evs := tc.nodes[l].deliveries[3]
	require.Len(t, evs, 4, "every delete of the session end")
	for _, ev := range evs {
		require.Equal(t, fsm.EventDelete, ev.Kind)
		require.Equal(t, evs[0].Version, ev.Version)
	}
	require.NotContains(t, tc.nodes[l].dropped, ConnID(3))
}
