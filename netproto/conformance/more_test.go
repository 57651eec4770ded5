package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// "if it no longer retains them, answers with reset: true and the current items instead."
func TestWatchSinceReset(t *testing.T) {
	c, _ := connect(t, 1, nil)
	p := path("reset")
	const n = 300 // more than any per-list history this node keeps (decisions: 256)
	var first, last uint64
	for todo := n; todo > 0; {
		var buf []byte
		for i := 0; i < todo; i++ {
			b, _ := msgpack.Marshal(M{"action": "query", "type": "create", "path": p, "data": i, "rid": int64(i)})
			buf = append(buf, b...)
		}
		_, err := c.nc.Write(buf)
		require.NoError(t, err)
		sent := todo
		for i := 0; i < sent; i++ {
			a, err := c.recv()
			require.NoError(t, err)
			if code(a) == "Unavailable" {
				continue // a leader change on a loaded machine: try again
			}
			requireOK(t, a)
			todo--
			v := u(a["item"].(map[string]any)["version"])
			if first == 0 || v < first {
				first = v
			}
			last = max(last, v)
		}
	}
	w, _ := connect(t, 2, nil)
	requireOK(t, w.call(M{"action": "query", "type": "read", "path": p})) // n2 applied through last
	a := w.call(M{"action": "query", "type": "watch", "path": p, "since": first})
	requireOK(t, a)
	require.Equal(t, true, a["reset"], "old since: reset")
	require.Len(t, a["items"], n, "and the current items")
	require.Equal(t, last, u(a["version"]))
	a = w.call(M{"action": "heartbeat", "type": "ping"})
	require.Empty(t, a["result"], "no replay after a reset")
	// a recent since replays instead
	a = w.call(M{"action": "query", "type": "watch", "path": p, "since": last - 5})
	requireOK(t, a)
	require.NotEqual(t, true, a["reset"])
	require.Len(t, collect(t, w, 5), 5)
}

// "waits up to wait_ms (default 0, at most ttl/2)"
func TestHeartbeatWaitBound(t *testing.T) {
	c, _ := connect(t, 1, M{"ttl_ms": 1000})
	start := time.Now()
	a := c.call(M{"action": "heartbeat", "type": "ping", "wait_ms": 5000})
	took := time.Since(start)
	require.Equal(t, []any{}, a["result"])
	require.Less(t, took, 2500*time.Millisecond, "at most ttl/2 (500 ms), with slack for a loaded machine")
	start = time.Now()
	a = c.call(M{"action": "heartbeat", "type": "ping"})
	require.Equal(t, []any{}, a["result"])
	require.Less(t, time.Since(start), 400*time.Millisecond, "default wait_ms 0 answers at once")
}

// "Any message from the client keeps its session alive."
func TestAnyMessageKeepsSessionAlive(t *testing.T) {
	k, _ := connect(t, 3, M{"ttl_ms": 500})
	p := path("alive")
	requireOK(t, k.call(M{"action": "query", "type": "create", "path": p, "data": 1}))
	for i := 0; i < 15; i++ {
		time.Sleep(100 * time.Millisecond)
		requireOK(t, k.call(M{"action": "query", "type": "read", "path": p, "consistency": "stale"}))
	}
	a := k.call(M{"action": "query", "type": "read", "path": p})
	requireOK(t, a)
	require.Len(t, a["items"], 1, "reads alone kept a 500 ms session alive for 1.5 s")
}

// "Watches are persistent, not one-shot." and events of several lists.
func TestWatchesArePersistentAndPerList(t *testing.T) {
	w, _ := connect(t, 3, nil)
	c, _ := connect(t, 2, nil)
	p1, p2 := path("multi1"), path("multi2")
	requireOK(t, w.call(M{"action": "query", "type": "watch", "path": p1}))
	requireOK(t, w.call(M{"action": "query", "type": "watch", "path": p2}))
	for i := 0; i < 3; i++ {
		requireOK(t, c.call(M{"action": "query", "type": "create", "path": p1, "data": i}))
		requireOK(t, c.call(M{"action": "query", "type": "create", "path": p2, "data": i}))
		requireOK(t, c.call(M{"action": "query", "type": "create", "path": path("other"), "data": i}))
	}
	evs := collect(t, w, 6)
	count := map[any]int{}
	for _, e := range evs {
		count[e["path"]]++
	}
	require.Equal(t, map[any]int{p1: 3, p2: 3}, count, "only the watched lists, each change once")
	a := w.call(M{"action": "heartbeat", "type": "ping", "wait_ms": 200})
	require.Empty(t, a["result"], "each event exactly once")
}

// become: leadership transfer, and discover names the new leader. Last: it moves the leader.
func TestZBecomeLeader(t *testing.T) {
	st, _, err := getStatus(1)
	require.NoError(t, err)
	var target string
	for i := 1; i <= 3; i++ {
		if fmt.Sprintf("n%d", i) != st.Leader {
			target = fmt.Sprintf("n%d", i)
			break
		}
	}
	c, _ := connect(t, 1, nil)
	a := c.call(M{"action": "become", "type": "leader", "node": "n9"})
	require.Equal(t, false, a["result"], "no such member")
	require.Contains(t, []string{"NotFound", "InvalidParameter"}, code(a))
	requireOK(t, c.call(M{"action": "become", "type": "leader", "node": target}))
	require.Eventually(t, func() bool {
		a := c.call(M{"action": "discover", "type": "quorum", "path": "/data/x"})
		s, _, err := getStatus(1)
		return err == nil && s.Leader == target && a["location"] == s.LeaderAddress
	}, 15*time.Second, 50*time.Millisecond)
}
