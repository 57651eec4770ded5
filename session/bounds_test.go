package session

import (
	"fmt"
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

// A session's close is a small entry that removes every item the session
// owns. Raft bounds the committed entries of a Ready by their bytes, so
// without a cost of their own the ends of many sessions that own thousands
// of items each would all be applied in one Ready, holding the host's loop
// (no tick, no message taken) for longer than an election timeout
// (havend -dev: 64 sessions of about 1,100 items each, 330–360 ms). Each
// removed item counts for RemovedItemBytes: here 20 items a session at the
// default 4 KiB each and a bound of 200 KiB, so at most two closes a Ready.
func TestSessionEndsAreAppliedAFewAReady(t *testing.T) {
	const sessions, items = 6, 20
	tc := newTestCluster(t, 1, func(c *Config) { c.Raft.MaxCommittedBytesPerReady = 200 << 10 })
	l := tc.leader()
	for s := range sessions {
		conn := ConnID(s + 1)
		tc.connect(l, conn, 60000)
		for i := range items {
			r := tc.do(l, Request{Conn: conn, Op: OpCreate, Path: fmt.Sprintf("/data/%d/%d", s, i%7), Data: mustPack(i)})
			require.Equal(t, fsm.OK, r.Code, r.Message)
		}
	}
	require.Equal(t, sessions*items, tc.nodes[l].core.Machine().Stats().Items)
	n := tc.nodes[l]
	for s := range sessions {
		n.core.Submit(Request{Conn: ConnID(s + 1), ID: uint64(1000 + s), Op: OpClose})
	}
	var perReady []int // closes applied in each Ready that applied any
	for n.core.HasReady() {
		rd := n.core.Ready()
		n.disk.save(rd)
		closes := 0
		for _, e := range rd.CommittedEntries {
			if cmd, err := fsm.Decode(e.Data); err == nil {
				if _, ok := cmd.(fsm.CloseSession); ok {
					closes++
				}
			}
		}
		if closes > 0 {
			perReady = append(perReady, closes)
		}
		n.core.Advance()
	}
	require.Zero(t, n.core.Machine().Stats().Items, "every session ended")
	require.Len(t, perReady, sessions/2, "closes per Ready: %v", perReady)
	for _, k := range perReady {
		require.LessOrEqual(t, k, 2, "closes per Ready: %v", perReady)
	}
}
