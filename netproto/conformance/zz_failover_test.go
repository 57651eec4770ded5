package conformance

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// "a session whose pings kept being answered OK, each within its ttl of the
// one before, is never expired", across a leader's crash (SIGKILL), and a
// stale read on the restarted node is never older than the session's seen.
// Runs last: it moves the leader and restarts a node.
func TestZZLeaderCrash(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i := 1; i <= 3; i++ {
			b, _ := os.ReadFile(filepath.Join(clusterDir, fmt.Sprintf("n%d.log", i)))
			t.Logf("n%d's log:\n%s", i, b)
		}
	})
	st, _, err := getStatus(1)
	require.NoError(t, err)
	var lead, other int
	for i := 1; i <= 3; i++ {
		if fmt.Sprintf("n%d", i) == st.Leader {
			lead = i
		} else if other == 0 {
			other = i
		}
	}
	require.NotZero(t, lead)
	c, hello := connect(t, other, M{"ttl_ms": 2000})
	p := path("crash")
	a := c.call(M{"action": "query", "type": "create", "path": p, "data": "survives"})
	requireOK(t, a)
	seen := u(a["version"])

	require.NoError(t, procs[lead-1].Process.Kill())
	_, _ = procs[lead-1].Process.Wait()
	lastOK := time.Now()
	alwaysInTime := true
	// ping keeps the session alive as any client would, and notes whether
	// every OK pong came within the ttl of the one before.
	ping := func() {
		a := c.call(M{"action": "heartbeat", "type": "ping"})
		if _, ok := a["result"].([]any); ok {
			if time.Since(lastOK) >= 2000*time.Millisecond {
				alwaysInTime = false
			}
			lastOK = time.Now()
		} else {
			require.Equal(t, "Unavailable", code(a), "%v", a)
		}
	}
	end := time.Now().Add(4 * time.Second)
	for time.Now().Before(end) {
		ping()
		time.Sleep(200 * time.Millisecond)
	}
	r := c.call(M{"action": "query", "type": "read", "path": p})
	if alwaysInTime {
		requireOK(t, r)
		require.Len(t, r["items"], 1, "the session was never expired")
		require.Equal(t, hello["session"], r["items"].([]any)[0].(map[string]any)["owner"])
	} else {
		t.Logf("a gap in OK pongs of a ttl or more on this loaded machine: the rule does not apply")
	}

	// Restart the crashed node; a stale read naming seen waits for it to catch up.
	cmd := exec.Command(havendBin, "-config", filepath.Join(clusterDir, fmt.Sprintf("n%d.yaml", lead)), "-no-fsync", "-log-level", "info", "-election-ticks", "30")
	logf, _ := os.OpenFile(filepath.Join(clusterDir, fmt.Sprintf("n%d.log", lead)), os.O_APPEND|os.O_WRONLY, 0o600)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	procs[lead-1] = cmd
	// The session keeps pinging while the node restarts, as any client
	// would: its ttl is 2 s, and a slow restart would otherwise expire it,
	// rightly.
	require.Eventually(t, func() bool {
		ping()
		nc, err := net.Dial("tcp", havenAddr(lead))
		if err == nil {
			nc.Close()
		}
		return err == nil
	}, 20*time.Second, 100*time.Millisecond)
	// The resume waits for the restarted node to hear from the leader;
	// the old connection keeps pinging meanwhile.
	d := dial(t, lead)
	d.send(M{"action": "connect", "version": "1", "session": hello["token"], "seen": seen})
	resumed := make(chan M, 1)
	go func() {
		a, err := d.recv()
		if err != nil {
			a = M{"recv error": err.Error()}
		}
		resumed <- a
	}()
	for a = nil; a == nil; {
		select {
		case a = <-resumed:
		case <-time.After(200 * time.Millisecond):
			ping()
		}
	}
	if !alwaysInTime {
		t.Logf("a gap in OK pongs of a ttl or more on this loaded machine: the rule does not apply")
		return
	}
	requireOK(t, a, "resume on the restarted node")
	a = d.call(M{"action": "query", "type": "read", "path": p, "consistency": "stale"})
	requireOK(t, a)
	require.Len(t, a["items"], 1, "never older than seen, across a restart of the node")
}
