package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// PROTOCOL.md, "Watches": "A node answers a watch with since only once it
// has applied at least through since." A node that is behind must wait:
// answering at once would give an older list, and the events between it
// and since would never be delivered (the watcher starts after since).
func TestWatchSinceWaitsUntilApplied(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	tc.connect(l, 1, 60000)
	tc.connect(f, 2, 60000)
	tc.cut[f] = true
	var versions []uint64
	for i := range 3 {
		r := tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/w", Data: mustPack(i)})
		require.Equal(t, fsm.OK, r.Code)
		versions = append(versions, r.Version)
	}
	since := versions[1] // seen elsewhere
	tc.nodes[f].core.Submit(Request{Conn: 2, ID: 800, Op: OpWatch, Path: "/data/w", Since: &since})
	tc.process()
	require.Empty(t, tc.nodes[f].replies[2], "the node has not applied through since")
	delete(tc.cut, f)
	var w *Reply
	for range 50 {
		tc.tick(1)
		for i, r := range tc.nodes[f].replies[2] {
			if r.ID == 800 {
				w = &tc.nodes[f].replies[2][i]
			}
		}
		if w != nil {
			break
		}
	}
	require.NotNil(t, w)
	require.Equal(t, fsm.OK, w.Code, w.Message)
	require.GreaterOrEqual(t, w.Version, since)
	require.False(t, w.Reset)
	tc.tick(2)
	evs := tc.nodes[f].deliveries[2]
	require.Len(t, evs, 1, "exactly the events after since")
	require.Equal(t, versions[2], evs[0].Version)
}

// A watch with since on a node that cannot catch up is answered
// Unavailable once its time is up, like every other wait.
func TestWatchSinceTimesOut(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	f := tc.follower()
	tc.connect(f, 2, 60000)
	tc.cut[f] = true
	since := tc.nodes[f].core.Machine().AppliedIndex() + 10
	r := tc.do(f, Request{Conn: 2, Op: OpWatch, Path: "/data/w", Since: &since})
	require.Equal(t, fsm.Unavailable, r.Code)
}

// Bad input from outside never crashes a node (STYLE.md): a snapshot the
// state machine cannot read is refused with an error before Raft installs
// it, and the node keeps its state and keeps serving.
func TestUndecodableSnapshotIsRefused(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	tc.connect(f, 1, 60000)
	core := tc.nodes[f].core
	applied := core.Machine().AppliedIndex()
	term := core.Raft().Term()
	bad := raft.Message{
		Type: raft.MsgSnap, From: l, To: f, Term: term,
		Snapshot: &raft.Snapshot{
			Meta: raft.SnapshotMeta{Index: applied + 100, Term: term, Conf: raft.ConfState{Voters: tc.ids}},
			Data: []byte("not a snapshot"),
		},
	}
	require.NotPanics(t, func() {
		err := core.Step(PeerMessage{Group: 1, From: l, To: f, Raft: &bad})
		require.Error(t, err)
		tc.settle()
	})
	require.Equal(t, applied, core.Machine().AppliedIndex())
	r := tc.do(f, Request{Conn: 1, Op: OpCreate, Path: "/data/ok", Data: mustPack(1)})
	require.Equal(t, fsm.OK, r.Code, r.Message)
}

// Two forwards can be told the same index with different terms (a leader
// change between them: the first one's entry was overwritten). Both must
// be answered when that index is applied — the one whose term matches with
// its result, the other Unavailable — not only by the timeout.
func TestTwoWritesToldOneIndexAreBothAnswered(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	tc.connect(f, 1, 60000)
	core := tc.nodes[f].core

	// The first write's forward is lost; a (deposed) leader's answer puts
	// it at the index the next write will take, in another term.
	core.Submit(Request{Conn: 1, ID: 900, Op: OpCreate, Path: "/data/two", Data: mustPack("lost")})
	core.Ready()
	core.Advance()
	next := tc.nodes[l].core.Raft().Status().LastIndex + 1
	require.NoError(t, core.Step(PeerMessage{Group: 1, From: l, To: f, ForwardReply: &ForwardReply{
		ID: core.writes.nextForward, Index: next, Term: core.Raft().Term() - 1, Code: fsm.OK,
	}}))

	second := tc.do(f, Request{Conn: 1, Op: OpCreate, Path: "/data/two", Data: mustPack("kept")})
	require.Equal(t, fsm.OK, second.Code, second.Message)
	require.Equal(t, next, second.Version)
	tc.tick(1)
	var first []Reply
	for _, r := range tc.nodes[f].replies[1] {
		if r.ID == 900 {
			first = append(first, r)
		}
	}
	require.Len(t, first, 1, "the first write is answered when its index is applied")
	require.Equal(t, fsm.Unavailable, first[0].Code)
}

// A session end removes all its items in one entry; a watcher of the list
// gets a delete event for each, in item order (PROTOCOL.md: "all deletions
// of one session end share that index").
func TestSessionEndDeliversEveryDelete(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	tc.connect(l, 1, 60000)
	tc.connect(f, 2, 60000)
	require.Equal(t, fsm.OK, tc.do(f, Request{Conn: 2, Op: OpWatch, Path: "/data/many"}).Code)
	var versions []uint64
	for i := range 3 {
		versions = append(versions, tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/many", Data: mustPack(i)}).Version)
	}
	end := tc.do(l, Request{Conn: 1, Op: OpClose})
	require.Equal(t, fsm.OK, end.Code)
	tc.tick(2)
	evs := tc.nodes[f].deliveries[2]
	require.Len(t, evs, 6)
	for i, ev := range evs[3:] {
		require.Equal(t, fsm.EventDelete, ev.Kind)
		require.Equal(t, versions[i], ev.Item.Version)
		require.Equal(t, evs[3].Version, ev.Version)
	}
}

// Requests of one connection take effect in order: an unwatch sent after a
// watch with since that is still waiting for the node to apply through
// since cancels it. Otherwise the watch would start later, and deliver
// events the client said it no longer wants (PROTOCOL.md: watches last
// "until unwatch").
func TestUnwatchCancelsAWatchWaitingForSince(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	tc.connect(l, 1, 60000)
	tc.connect(f, 2, 60000)
	tc.cut[f] = true
	r := tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/u", Data: mustPack(1)})
	require.Equal(t, fsm.OK, r.Code)
	since := r.Version
	tc.nodes[f].core.Submit(Request{Conn: 2, ID: 800, Op: OpWatch, Path: "/data/u", Since: &since})
	tc.nodes[f].core.Submit(Request{Conn: 2, ID: 801, Op: OpUnwatch, Path: "/data/u"})
	tc.process()
	delete(tc.cut, f)
	tc.tick(10)
	require.Equal(t, fsm.OK, tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/u", Data: mustPack(2)}).Code)
	tc.tick(10)
	require.Empty(t, tc.nodes[f].deliveries[2], "no events after unwatch")
	var ids []uint64
	for _, rep := range tc.nodes[f].replies[2] {
		if rep.ID == 800 || rep.ID == 801 {
			ids = append(ids, rep.ID)
		}
	}
	require.Equal(t, []uint64{800, 801}, ids, "both answered, in order")
}

// When a list's history is dropped whole (HistoryPaths), every event it
// retained is gone, so `dropped` must cover the newest of them. A watch
// resuming between the list's first and last dropped events must be
// answered reset (PROTOCOL.md, "Watches": "if it no longer retains them,
// answers with reset: true"); answered with no events and no reset, the
// client would never get the later ones: a gap.
func TestWatchResumingInsideADroppedListIsReset(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.HistoryPaths = 1 })
	l := tc.leader()
	tc.connect(l, 1, 60000)
	a1 := tc.create(l, 1, "/data/a")
	a2 := tc.create(l, 1, "/data/a")
	tc.create(l, 1, "/data/b") // drops /data/a's two events
	require.NotContains(t, tc.nodes[l].core.history.lists, "/data/a")

	tc.connect(l, 2, 60000)
	since := a1
	r := tc.do(l, Request{Conn: 2, Op: OpWatch, Path: "/data/a", Since: &since})
	require.Equal(t, fsm.OK, r.Code, r.Message)
	require.True(t, r.Reset, "resumed at %d, the watch is not reset though the push at %d was dropped", a1, a2)
	require.Len(t, r.Items, 2)
	require.Empty(t, tc.nodes[l].deliveries[2])
}
