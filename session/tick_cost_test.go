package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
)

// The leader's expiry check runs on every tick. With many sessions and
// none due, it must cost what is due, not what exists: no allocation, no
// walk over every session (issue 7: it allocated and sorted every session
// on every tick).
func TestExpiryCheckCostsWhatIsDue(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	l := tc.leader()
	for i := range 200 {
		tc.connect(l, ConnID(i+1), 60000)
	}
	tc.tick(2)
	core := tc.nodes[l].core
	require.True(t, core.liveness.active)
	allocs := testing.AllocsPerRun(50, func() { core.liveness.expire(core) })
	require.Zero(t, allocs, "an expiry check with nothing due allocates")
}

// Publishing an event to the watchers of a list costs the watchers, with
// no sort and no allocation per event.
func TestPublishDoesNotSortWatchers(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	l := tc.leader()
	for i := range 50 {
		tc.connect(l, ConnID(i+1), 60000)
		tc.do(l, Request{Conn: ConnID(i + 1), Op: OpWatch, Path: "/data/p"})
	}
	core := tc.nodes[l].core
	ev := []fsm.Event{{Path: "/data/p", Version: 1 << 40, Kind: fsm.EventPush}}
	core.deliveries = make([]Delivery, 0, 1<<16)
	index := uint64(1 << 40)
	publish := func() {
		index++
		ev[0].Version = index
		core.deliveries = core.deliveries[:0]
		core.publish(index, ev)
	}
	for range 300 { // fill the path's history, which then shifts in place
		publish()
	}
	allocs := testing.AllocsPerRun(50, publish)
	require.Len(t, core.deliveries, 50)
	require.Zero(t, allocs, "publishing copies or sorts the watcher set")
}
