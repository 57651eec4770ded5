package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The end-to-end tests run real havend processes: TestMain builds the
// binary once; each cluster gets its own free loopback ports and data
// dirs, written by `havend init`.

var havendBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "havend-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	havendBin = filepath.Join(dir, "havend")
	out, err := exec.Command("go", "build", "-o", havendBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building havend: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type procCluster struct {
	t     testing.TB
	dir   string
	base  int
	procs map[int]*exec.Cmd
	extra []string
}

// newProcCluster writes a cluster of nodes (the first initial of them
// bootstrap it) and starts the initial ones.
func newProcCluster(t testing.TB, nodes, initial int, extra ...string) *procCluster {
	base := freeBase(t)
	dir := t.TempDir()
	out, err := exec.Command(havendBin, "init", "-nodes", fmt.Sprint(nodes), "-initial", fmt.Sprint(initial),
		"-dir", dir, "-base-port", fmt.Sprint(base+1)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	c := &procCluster{t: t, dir: dir, base: base, procs: map[int]*exec.Cmd{}, extra: extra}
	for i := 1; i <= initial; i++ {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.procs {
			c.kill(i)
		}
		if t.Failed() {
			for i := 1; i <= nodes; i++ {
				t.Logf("n%d's log:\n%s", i, c.logs(i))
			}
		}
	})
	return c
}

func (c *procCluster) haven(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.base+i) }
func (c *procCluster) http(i int) string  { return fmt.Sprintf("127.0.0.1:%d", c.base+i+80) }

func (c *procCluster) start(i int) {
	args := append([]string{"-config", filepath.Join(c.dir, fmt.Sprintf("n%d.yaml", i)), "-log-level", "info"}, c.extra...)
	cmd := exec.Command(havendBin, args...)
	logf, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("n%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(c.t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(c.t, cmd.Start())
	c.procs[i] = cmd
}

// kill sends SIGKILL (kill -9) and reaps the process.
func (c *procCluster) kill(i int) {
	if p := c.procs[i]; p != nil {
		_ = p.Process.Kill()
		_, _ = p.Process.Wait()
		delete(c.procs, i)
	}
}

func (c *procCluster) logs(i int) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("n%d.log", i)))
	return string(b)
}

func (c *procCluster) status(i int) (statusJSON, error) {
	var st statusJSON
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + c.http(i) + "/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// leader waits until every running node names the same leader, and
// returns its index.
func (c *procCluster) leader() int {
	var lead string
	require.Eventually(c.t, func() bool {
		lead = ""
		for i := range c.procs {
			st, err := c.status(i)
			if err != nil || st.Leader == "" || (lead != "" && st.Leader != lead) {
				return false
			}
			lead = st.Leader
		}
		_, running := c.procs[int(mustID(lead))]
		return running
	}, 15*time.Second, 20*time.Millisecond, "no agreed leader")
	return int(mustID(lead))
}

// connect opens a session on node i, retrying while the cluster settles.
func (c *procCluster) connect(i int, extra M) (*havenConn, M) {
	var h *havenConn
	var a M
	require.Eventually(c.t, func() bool {
		h = dialHaven(c.t, c.haven(i))
		m := M{"action": "connect", "version": "1"}
		for k, v := range extra {
			m[k] = v
		}
		var err error
		a, err = h.call(m)
		if err == nil && ok(a) {
			return true
		}
		h.nc.Close()
		c.t.Logf("connect to n%d: %v %v", i, a, err)
		return false
	}, 15*time.Second, 200*time.Millisecond, "connect to n%d", i)
	return h, a
}

// collect pings w until it has n events (or time runs out).
func collect(t testing.TB, w *havenConn, n int) []map[string]any {
	var events []map[string]any
	deadline := time.Now().Add(15 * time.Second)
	for len(events) < n && time.Now().Before(deadline) {
		a := w.mustCall(M{"action": "heartbeat", "type": "ping", "wait_ms": 1000})
		if evs, isList := a["result"].([]any); isList {
			for _, e := range evs {
				events = append(events, e.(map[string]any))
			}
		}
	}
	return events
}

func others(c *procCluster, not int) []int {
	var out []int
	for i := range c.procs {
		if i != not {
			out = append(out, i)
		}
	}
	return out
}

func TestClusterOfProcesses(t *testing.T) {
	// Small snapshots, so that restarts recover from one and the new
	// member catches up from one.
	c := newProcCluster(t, 4, 3, "-min-ttl-ms", "300", "-request-timeout-ms", "1000", "-snapshot-every", "20", "-snapshot-tail", "5")
	lead := c.leader()
	t.Logf("leader n%d", lead)
	followers := others(c, lead)

	// Push, read and watch across nodes.
	w, _ := c.connect(followers[0], nil)
	a := w.mustCall(M{"action": "query", "type": "watch", "path": "/data/e"})
	require.True(t, ok(a), "%v", a)
	p, _ := c.connect(followers[1], nil)
	for i := 0; i < 3; i++ {
		a = p.mustCall(M{"action": "query", "type": "create", "path": "/data/e", "data": M{"i": i}})
		require.True(t, ok(a), "%v", a)
	}
	r, _ := c.connect(lead, nil)
	a = r.mustCall(M{"action": "query", "type": "read", "path": "/data/e"})
	require.Len(t, a["items"], 3, "a linearizable read on another node sees every push: %v", a)
	events := collect(t, w, 3)
	require.Len(t, events, 3)
	for _, e := range events {
		require.Equal(t, "push", e["kind"])
	}

	t.Run("kill -9 the leader", func(t *testing.T) {
		parent := c.t
		c.t = t
		defer func() { c.t = parent }()
		// A session on the leader with items and a watch; a pusher on a
		// follower keeps writing across the failover.
		d, da := c.connect(lead, M{"ttl_ms": 5000})
		a := d.mustCall(M{"action": "query", "type": "create", "path": "/data/mine", "data": "kept"})
		require.True(t, ok(a), "%v", a)
		a = d.mustCall(M{"action": "query", "type": "watch", "path": "/data/k"})
		require.True(t, ok(a), "%v", a)
		var pushed []uint64
		push := func() {
			for {
				a, err := p.call(M{"action": "query", "type": "create", "path": "/data/k", "data": len(pushed)})
				require.NoError(t, err)
				if ok(a) {
					pushed = append(pushed, asUint(a["item"].(map[string]any)["version"]))
					return
				}
				require.Equal(t, "Unavailable", code(a), "%v", a)
				time.Sleep(20 * time.Millisecond)
			}
		}
		for i := 0; i < 3; i++ {
			push()
		}
		seen := collect(t, d, 3)
		require.Len(t, seen, 3)
		last := asUint(seen[2]["version"])

		c.kill(lead)
		killed := time.Now()
		// The session resumes on another node with its token, as a client
		// library does at once when its connection drops.
		e, ea := c.connect(followers[0], M{"session": da["token"]})
		require.Equal(t, da["session"], ea["session"])
		require.Equal(t, true, ea["resumed"])
		t.Logf("session resumed %v after kill -9 of the leader", time.Since(killed))
		for i := 0; i < 5; i++ {
			push()
		}
		newLead := c.leader()
		require.NotEqual(t, lead, newLead)

		// Its items are intact; its watch, registered again with since,
		// misses no event and repeats none.
		a = e.mustCall(M{"action": "query", "type": "read", "path": "/data/mine"})
		require.Len(t, a["items"], 1, "%v", a)
		a = e.mustCall(M{"action": "query", "type": "watch", "path": "/data/k", "since": last})
		require.True(t, ok(a), "%v", a)
		require.NotEqual(t, true, a["reset"])
		got := collect(t, e, len(pushed)-3)
		var versions []uint64
		for _, ev := range got {
			versions = append(versions, asUint(ev["version"]))
		}
		require.Equal(t, pushed[3:], versions, "every push after since, once, in order")
	})

	t.Run("restart from the data dir", func(t *testing.T) {
		parent := c.t
		c.t = t
		defer func() { c.t = parent }()
		c.start(lead)
		require.Eventually(t, func() bool {
			st, err := c.status(lead)
			if err != nil {
				return false
			}
			ls, err := c.status(c.leader())
			return err == nil && st.Applied >= ls.Commit && st.Leader != ""
		}, 15*time.Second, 50*time.Millisecond)
		q, _ := c.connect(lead, nil)
		a := q.mustCall(M{"action": "query", "type": "read", "path": "/data/e", "consistency": "stale"})
		require.Len(t, a["items"], 3, "the restarted node has its state back")

		// connect's seen: stale reads wait until the node applied that far.
		st, err := c.status(lead)
		require.NoError(t, err)
		s1, _ := c.connect(lead, M{"seen": st.Applied})
		a = s1.mustCall(M{"action": "query", "type": "read", "path": "/data/e", "consistency": "stale"})
		require.True(t, ok(a), "%v", a)
		s2, _ := c.connect(lead, M{"seen": st.Applied + 1_000_000})
		a = s2.mustCall(M{"action": "query", "type": "read", "path": "/data/e", "consistency": "stale"})
		require.Equal(t, "Unavailable", code(a), "a node never serves a stale read older than what the client saw: %v", a)
	})

	t.Run("a client that stops pinging expires", func(t *testing.T) {
		parent := c.t
		c.t = t
		defer func() { c.t = parent }()
		x, _ := c.connect(followers[1], M{"ttl_ms": 400})
		a := x.mustCall(M{"action": "query", "type": "create", "path": "/data/exp", "data": 1})
		require.True(t, ok(a), "%v", a)
		wx, _ := c.connect(followers[0], nil)
		a = wx.mustCall(M{"action": "query", "type": "watch", "path": "/data/exp"})
		require.Len(t, a["items"], 1)
		x.nc.Close() // no close: the session must expire by itself
		evs := collect(t, wx, 1)
		require.Len(t, evs, 1)
		require.Equal(t, "delete", evs[0]["kind"])
	})

	t.Run("become: learner, voter, leader, removed", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				for i := 1; i <= 4; i++ {
					t.Logf("n%d:\n%s", i, c.logs(i))
				}
			}
		}()
		parent := c.t
		c.t = t
		defer func() { c.t = parent }()
		adm, _ := c.connect(c.leader(), nil)
		// Enough writes that the log n4 needs is compacted away: it
		// catches up from a snapshot.
		for i := 0; i < 40; i++ {
			require.True(t, ok(adm.mustCall(M{"action": "query", "type": "create", "path": "/data/fill", "data": i})))
		}
		c.start(4)
		become := func(typ string, node string, extra M) {
			require.Eventually(t, func() bool {
				m := M{"action": "become", "type": typ, "node": node}
				for k, v := range extra {
					m[k] = v
				}
				a, err := adm.call(m)
				require.NoError(t, err)
				if !ok(a) {
					t.Logf("become %s %s: %v", typ, node, a)
				}
				return ok(a)
			}, 15*time.Second, 100*time.Millisecond)
		}
		become("learner", "n4", M{"address": c.haven(4)})
		require.Eventually(t, func() bool {
			st, err := c.status(4)
			return err == nil && st.Applied > 0 && st.Leader != ""
		}, 15*time.Second, 50*time.Millisecond, "the learner catches up")
		become("voter", "n4", nil)
		become("leader", "n4", nil)
		require.Eventually(t, func() bool {
			st, err := c.status(4)
			return err == nil && st.Role == "leader"
		}, 15*time.Second, 50*time.Millisecond)
		adm4, _ := c.connect(4, nil)
		old := followers[0]
		require.Eventually(t, func() bool {
			a, err := adm4.call(M{"action": "become", "type": "removed", "node": fmt.Sprintf("n%d", old)})
			return err == nil && ok(a)
		}, 15*time.Second, 100*time.Millisecond)
		require.Eventually(t, func() bool {
			st, err := c.status(4)
			if err != nil {
				return false
			}
			var ids []string
			for _, m := range st.Members {
				ids = append(ids, m.ID+":"+m.Role)
			}
			s := strings.Join(ids, ",")
			return !strings.Contains(s, fmt.Sprintf("n%d:", old)) && strings.Contains(s, "n4:voter")
		}, 15*time.Second, 50*time.Millisecond)
		q, _ := c.connect(4, nil)
		require.True(t, ok(q.mustCall(M{"action": "query", "type": "create", "path": "/data/after", "data": 1})))
		a := q.mustCall(M{"action": "query", "type": "read", "path": "/data/fill", "consistency": "stale"})
		require.Len(t, a["items"], 40, "n4 has the state from before it joined")
		snaps, _ := filepath.Glob(filepath.Join(c.dir, "n4", "data", "group-1", "snap-*.snap"))
		all, _ := filepath.Glob(filepath.Join(c.dir, "n*", "data", "group-1", "*"))
		require.NotEmpty(t, snaps, "n4 was sent a snapshot: %v", all)
	})
}
