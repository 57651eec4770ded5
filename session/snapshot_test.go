package session

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
)

// Taking a snapshot must not serialise the state machine on the host's
// loop: a large state would stall heartbeats for as long as it takes. The
// core freezes a copy-on-write view (about what the number of lists and
// chunks costs) and the host serialises it elsewhere. Here the state is
// about 800 KB; no Advance may allocate a sizeable part of it.
func TestAdvanceDoesNotSerialiseTheState(t *testing.T) {
	tc := newTestCluster(t, 1, func(c *Config) { c.SnapshotEvery = 50; c.SnapshotTail = 1 })
	l := tc.leader()
	tc.connect(l, 1, 60000)
	n := tc.nodes[l]
	data := mustPack(strings.Repeat("x", 2000))
	var worst uint64
	var stats runtime.MemStats
	snapshots := 0
	for i := range 400 {
		n.core.Submit(Request{Conn: 1, ID: uint64(5000 + i), Op: OpCreate, Path: "/data/big", Data: data})
		for n.core.HasReady() {
			rd := n.core.Ready()
			n.disk.save(rd)
			if rd.SavedSnapshot != nil {
				snapshots++
			}
			serialise(n.core, &rd)
			runtime.ReadMemStats(&stats)
			before := stats.TotalAlloc
			n.core.Advance()
			runtime.ReadMemStats(&stats)
			worst = max(worst, stats.TotalAlloc-before)
		}
	}
	require.Greater(t, snapshots, 3, "snapshots were taken")
	require.Less(t, worst, uint64(100<<10), "bytes allocated by one Advance")
	items, _ := n.core.Machine().Read("/data/big")
	require.Len(t, items, 400)
	// The snapshot on disk is the state at its index.
	m := fsm.New(fsm.Options{})
	require.NoError(t, m.Restore(n.disk.snap.Data))
	require.Equal(t, n.disk.snap.Meta.Index, m.AppliedIndex())
}

// Compaction keeps a tail of entries behind the snapshot (SnapshotTail, as
// etcd's SnapshotCatchUpEntries): a follower a few entries behind catches
// up from the log, so its watchers keep their connections and get every
// event, instead of a snapshot that closes them. Reference: §7
func TestLaggingFollowerCatchesUpFromTheTail(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.SnapshotEvery = 5; c.SnapshotTail = 20 })
	l := tc.leader()
	f := tc.follower()
	tc.connect(l, 1, 60000)
	tc.connect(f, 2, 60000)
	w := tc.do(f, Request{Conn: 2, Op: OpWatch, Path: "/data/tail"})
	require.Equal(t, fsm.OK, w.Code)
	var versions []uint64
	for i := range 40 {
		if i == 28 {
			tc.cut[f] = true
		}
		versions = append(versions, tc.do(l, Request{Conn: 1, Op: OpCreate, Path: "/data/tail", Data: mustPack(i)}).Version)
	}
	snap := tc.nodes[l].disk.snap
	require.NotNil(t, snap, "the leader compacted")
	require.Less(t, snap.Meta.Index, versions[28], "the follower's next entry is in the tail")
	delete(tc.cut, f)
	tc.tick(20)
	require.GreaterOrEqual(t, tc.nodes[f].core.Machine().AppliedIndex(), versions[11], "the follower caught up")
	require.NotContains(t, tc.nodes[f].dropped, ConnID(2), "a follower 12 entries behind got a snapshot")
	var got []uint64
	for _, ev := range tc.nodes[f].deliveries[2] {
		got = append(got, ev.Version)
	}
	require.Equal(t, versions, got)
}
