package sessions

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/sim"
)

// TestSessionsEveryDeadSessionEnds: a run's settling phase ends only once
// every session has ended (the clients stop pinging when they quiesce), and
// the nodes then hold no session and no item.
func TestSessionsEveryDeadSessionEnds(t *testing.T) {
	var wl *sessionsWorkload
	r := sim.Run(sim.Config{Seed: 5, Duration: 10 * time.Second, Faults: sim.FaultsHeavy,
		NewWorkload: func(cfg *sim.Config) sim.Workload { wl = newSessionsWorkload(cfg); return wl }})
	require.NoError(t, r.Err)
	require.Equal(t, "ok", r.Workload.Verdict)
	require.Equal(t, len(wl.truth.opened), len(wl.truth.ends), "every session opened has ended")
	expired := 0
	for _, end := range wl.truth.ends {
		if end.expired {
			expired++
		}
	}
	require.Greater(t, expired, 0, "sessions expired")
	require.Less(t, expired, len(wl.truth.ends), "sessions closed")
	// The log's image holds no session and no item, and so does every
	// node: a settled run has every node up and applied through the log,
	// and Finish found each node's state machine equal to the image
	// (World.CheckCoreReplicas).
	st := wl.truth.machine.Stats()
	require.Zero(t, st.Sessions)
	require.Zero(t, st.Items)
}
