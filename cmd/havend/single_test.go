package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/vmihailenco/msgpack/v5"
)

// startSingle runs one havend process of a one-node cluster on free ports.
func startSingle(t *testing.T, dataDir string, args ...string) (*exec.Cmd, string, string, *bytes.Buffer) {
	base := freeBase(t)
	haven := fmt.Sprintf("127.0.0.1:%d", base)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", base+80)
	cmd := exec.Command(havendBin, append([]string{"-data-dir", dataDir, "-haven", haven}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd, haven, httpAddr, &out
}

func TestSingleNodeProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cmd, haven, httpAddr, out := startSingle(t, dir)
	c := dialHaven(t, haven)
	var a M
	require.Eventually(t, func() bool { a = c.mustCall(M{"action": "connect", "version": "1"}); return ok(a) }, 10*time.Second, 20*time.Millisecond)
	require.True(t, ok(c.mustCall(M{"action": "query", "type": "create", "path": "/data/s", "data": "v"})))

	t.Run("bad input is answered and the node keeps serving", func(t *testing.T) {
		big, _ := msgpack.Marshal(M{"action": "connect", "pad": make([]byte, 2<<20)})
		wrongFirst, _ := msgpack.Marshal(M{"action": "query", "type": "read", "path": "/data/s"})
		unknown, _ := msgpack.Marshal(M{"action": "dance"})
		for _, tc := range []struct {
			name, code string
			connect    bool
			in         []byte
			staysOpen  bool
		}{
			{"garbage", "InvalidParameter", false, []byte{0x81, 0xc1, 0xff, 0xff}, false},
			{"oversized", "TooLarge", false, big, false},
			{"wrong first message", "InvalidParameter", false, wrongFirst, true},
			{"unknown action", "Unsupported", true, unknown, true},
		} {
			b := dialHaven(t, haven)
			if tc.connect {
				require.True(t, ok(b.mustCall(M{"action": "connect", "version": "1"})))
			}
			_, _ = b.nc.Write(tc.in)
			a, err := b.recv()
			require.NoError(t, err, tc.name)
			require.Equal(t, false, a["result"], tc.name)
			require.Equal(t, tc.code, code(a), tc.name)
			if tc.staysOpen {
				// Well-formed, only wrong: the stream goes on.
				if !tc.connect {
					require.True(t, ok(b.mustCall(M{"action": "connect", "version": "1"})), tc.name)
				}
				require.Len(t, b.mustCall(M{"action": "query", "type": "read", "path": "/data/s"})["items"], 1, "%s: the connection stays open", tc.name)
			} else {
				_, err = b.recv()
				require.Error(t, err, "%s: the connection is closed", tc.name)
			}
			a = c.mustCall(M{"action": "query", "type": "read", "path": "/data/s"})
			require.Len(t, a["items"], 1, "%s: the node keeps serving", tc.name)
		}
	})

	t.Run("HTTP status, metrics and health", func(t *testing.T) {
		resp, err := http.Get("http://" + httpAddr + "/v1/status")
		require.NoError(t, err)
		require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
		resp.Body.Close()
		resp, err = http.Get("http://" + httpAddr + "/healthz")
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		resp.Body.Close()
		resp, err = http.Get("http://" + httpAddr + "/metrics")
		require.NoError(t, err)
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		for _, m := range []string{"haven_raft_term", "haven_raft_commit_index", "haven_wal_fsync_seconds", "haven_request_seconds", "haven_connections", "haven_sessions"} {
			require.Contains(t, body.String(), m)
		}
		// PROTOCOL.md: "?version=1 on the upgrade or on HTTP requests":
		// the node's own paths refuse another version as websvc's do.
		for _, p := range []string{"/v1/status", "/healthz", "/metrics", "/"} {
			resp, err := http.Get("http://" + httpAddr + p + "?version=2")
			require.NoError(t, err)
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, p)
			require.Contains(t, body.String(), `"code":"Unsupported"`, p)
			resp, err = http.Get("http://" + httpAddr + p + "?version=1")
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, p)
		}
	})

	t.Run("a second process cannot open the data dir", func(t *testing.T) {
		second := exec.Command(havendBin, "-data-dir", dir, "-haven", "127.0.0.1:0", "-http", "127.0.0.1:0", "-peer", "127.0.0.1:0")
		b, err := second.CombinedOutput()
		require.Error(t, err)
		require.Contains(t, string(b), "in use by another process")
	})

	t.Run("SIGTERM stops it cleanly", func(t *testing.T) {
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, "%s", out)
		case <-time.After(5 * time.Second):
			t.Fatalf("havend did not stop within 5 s:\n%s", out)
		}
		require.Contains(t, out.String(), "WAL closed")
		// Without certificates it opened no peer listener, and says so
		// rather than announcing the peer port.
		require.Contains(t, out.String(), "(peer none: without certificates a cluster of one cannot grow)")
	})

	t.Run("dump prints the committed log, read-only", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		d := exec.Command(havendBin, "dump", "-data", dir)
		d.Stdout, d.Stderr = &stdout, &stderr
		require.NoError(t, d.Run(), "%s", stderr.String())
		recs, err := history.Read(&stdout)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		pushed := false
		for i, r := range recs {
			require.NotNil(t, r.Entry, "line %d is an entry", i+1)
			require.Equal(t, uint64(i+1), r.Entry.Index, "the log from 1, contiguous (no snapshot yet)")
			if cmd, err := fsm.Decode(r.Entry.Data); err == nil {
				if p, ok := cmd.(fsm.Push); ok && p.Path == "/data/s" {
					pushed = true
				}
			}
		}
		require.True(t, pushed, "the acknowledged push is in the dump")
		require.Contains(t, stderr.String(), fmt.Sprintf("commit %d", len(recs)))

		bad := exec.Command(havendBin, "dump", "-data", filepath.Join(dir, "missing"))
		b, err := bad.CombinedOutput()
		require.Error(t, err, "%s", b)
		require.NoDirExists(t, filepath.Join(dir, "missing"))
	})

	t.Run("restart from the data dir; another id is refused", func(t *testing.T) {
		other := exec.Command(havendBin, "-id", "n2", "-data-dir", dir, "-haven", "127.0.0.1:0", "-http", "127.0.0.1:0", "-peer", "127.0.0.1:0",
			"-peers", "n2=127.0.0.1:1")
		b, err := other.CombinedOutput()
		require.Error(t, err)
		require.Contains(t, string(b), "belongs to node n1")

		_, haven, _, _ := startSingle(t, dir)
		d := dialHaven(t, haven)
		require.Eventually(t, func() bool { return ok(d.mustCall(M{"action": "connect", "version": "1", "session": a["token"]})) },
			10*time.Second, 50*time.Millisecond, "the session outlives a restart within its ttl")
		a := d.mustCall(M{"action": "query", "type": "read", "path": "/data/s"})
		require.Len(t, a["items"], 1)
	})
}

// A node with an empty data dir told the cluster exists never writes a
// configuration of its own: it waits to be added, leaderless.
func TestEmptyDataDirNeverBootstrapsIntoAnExistingCluster(t *testing.T) {
	c := newProcCluster(t, 2, 1)
	c.kill(1) // the existing cluster is away; n2 must not take over
	c.start(2)
	hc := http.Client{Timeout: time.Second}
	require.Eventually(t, func() bool {
		resp, err := hc.Get("http://" + c.http(2) + "/v1/status")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "%s", c.logs(2))
	time.Sleep(500 * time.Millisecond) // several election timeouts
	st, err := c.status(2)
	require.NoError(t, err)
	require.Empty(t, st.Leader)
	require.Empty(t, st.Members, "no configuration of its own")
	require.Contains(t, c.logs(2), "waiting to be added")
	_, err = os.Stat(filepath.Join(c.dir, "n2", "data", "identity.json"))
	require.NoError(t, err)
}

// A node whose data dir was lost may not rejoin under its old id.
func TestLostDataDirCannotRejoinUnderItsID(t *testing.T) {
	c := newProcCluster(t, 3, 3)
	c.leader()
	c.kill(3)
	require.NoError(t, os.RemoveAll(filepath.Join(c.dir, "n3", "data")))
	cmd := exec.Command(havendBin, "-config", filepath.Join(c.dir, "n3.yaml"), "-initial-cluster-state", "existing")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "lists n3 as a voter")
}

// A leader stopped (SIGSTOP) past the election timeout comes back to a
// new leader: it makes up its missed ticks, steps down, and serves again;
// what it reads is what the new leader wrote.
func TestStoppedLeaderComesBackAsFollower(t *testing.T) {
	c := newProcCluster(t, 3, 3)
	lead := c.leader()
	w, _ := c.connect(lead, M{"ttl_ms": 60000})
	stopped := c.procs[lead].Process
	other := others(c, lead)[0]
	// Stopped for real (state T), and replaced: the others elect a leader
	// of their own before anything is written. SIGSTOP is sent again on
	// every look, in case anything resumed the process meanwhile.
	replaced := func() bool {
		st, err := c.status(other)
		return procState(stopped.Pid) == "T" && err == nil && st.Leader != "" && st.Leader != fmt.Sprintf("n%d", lead)
	}
	if !assert.Eventually(t, func() bool { return stopped.Signal(syscall.SIGSTOP) == nil && replaced() }, 15*time.Second, 20*time.Millisecond) {
		st, err := c.status(other)
		t.Fatalf("n%d is not stopped and replaced: its state is %s, and n%d names leader %q (%v)", lead, procState(stopped.Pid), other, st.Leader, err)
	}
	p, _ := c.connect(other, M{"ttl_ms": 60000})
	var a M
	require.Eventually(t, func() bool {
		// A create that timed out may still commit: a retry may add a
		// second item, so what follows looks for this one's version.
		a = p.mustCall(M{"action": "query", "type": "create", "path": "/data/pause", "data": "while stopped"})
		return ok(a)
	}, 15*time.Second, 20*time.Millisecond)
	version := a["item"].(map[string]any)["version"]
	require.NoError(t, stopped.Signal(syscall.SIGCONT))
	newLead := c.leader()
	require.NotEqual(t, lead, newLead, "the stopped leader was replaced")
	require.Eventually(t, func() bool {
		r, err := w.call(M{"action": "query", "type": "read", "path": "/data/pause"})
		if err != nil || !ok(r) {
			return false
		}
		for _, it := range r["items"].([]any) {
			if it.(map[string]any)["version"] == version {
				return true
			}
		}
		return false
	}, 15*time.Second, 50*time.Millisecond, "the old leader reads the new leader's write (version %v)", version)
}

// procState is the state letter of a process in /proc/PID/stat (R, S, T
// for stopped, ...), or "?" if it cannot be read.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "?"
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// havend -dev -haven HOST:PORT runs its three nodes from PORT on (the
// development ports may be taken), and refuses the flags it sets for its
// nodes itself rather than ignoring them.
func TestDevMovesWithHavenAndRefusesWhatItSets(t *testing.T) {
	for _, args := range [][]string{
		{"-dev", "-http", "127.0.0.1:9999"},
		{"-dev", "-data-dir", "x"},
		{"-dev", "-config", "node.yaml"},
		{"-dev", "-id", "n2"},
	} {
		out, err := exec.Command(havendBin, args...).CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%v: %s", args, out)
		require.Equal(t, 2, exit.ExitCode(), "%v: %s", args, out)
		require.Contains(t, string(out), "-dev cannot take "+args[1], "%v", args)
	}

	base := freeBase(t)
	cmd := exec.Command(havendBin, "-dev", "-haven", fmt.Sprintf("127.0.0.1:%d", base))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	for i := range 3 {
		httpAddr := fmt.Sprintf("127.0.0.1:%d", base+80+i)
		require.Eventually(t, func() bool {
			resp, err := http.Get("http://" + httpAddr + "/v1/status")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var st struct {
				Node, Leader string
			}
			return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&st) == nil &&
				st.Node == fmt.Sprintf("n%d", i+1) && st.Leader != ""
		}, 20*time.Second, 50*time.Millisecond, "n%d on %s: %s", i+1, httpAddr, &out)
	}
	c := dialHaven(t, fmt.Sprintf("127.0.0.1:%d", base+2))
	require.True(t, ok(c.mustCall(M{"action": "connect", "version": "1"})), "n3's Haven port")
}
