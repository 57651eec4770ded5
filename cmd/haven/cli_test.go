package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/netproto/client"
)

func TestPushGetText(t *testing.T) {
	c := startCluster(t, 1)
	r := c.haven("push", "/data/svc", `{"addr":"10.0.0.7:8080"}`, "--then-exit")
	require.Equal(t, 0, r.code, r)
	require.Regexp(t, `pushed item \d+ to /data/svc \(list version \d+\), owned by session \w+`, r.stdout)
	require.Regexp(t, `session \w+ ended; item \d+ removed`, r.stdout)

	// push holds the item until interrupted.
	p := c.background("push", "/data/svc", `{"addr":"10.0.0.8:8080"}`)
	require.Contains(t, p.next(10*time.Second), "pushed item")
	require.Contains(t, p.next(10*time.Second), "holding the session")
	r = c.haven("get", "/data/svc")
	require.Equal(t, 0, r.code, r)
	require.Regexp(t, `/data/svc: version \d+, 1 item\n`, r.stdout)
	require.Contains(t, r.stdout, "VERSION")
	require.Contains(t, r.stdout, `{"addr":"10.0.0.8:8080"}`)
	p.signal(syscall.SIGINT)
	require.Equal(t, 0, p.wait(10*time.Second))
	r = c.haven("get", "/data/svc", "--stale")
	require.Equal(t, 0, r.code, r)
	require.Regexp(t, `/data/svc: version \d+, 0 items\n$`, r.stdout)
}

func TestPushGetJSON(t *testing.T) {
	c := startCluster(t, 1)
	r := c.haven("-o", "json", "push", "/data/j", `[1, 2.5, "x", {"k": null}]`, "--then-exit")
	require.Equal(t, 0, r.code, r)
	lines := jsonLines(t, r.stdout)
	require.Len(t, lines, 2)
	require.Equal(t, "pushed", lines[0]["event"])
	item := lines[0]["item"].(map[string]any)
	require.Equal(t, []any{1.0, 2.5, "x", map[string]any{"k": nil}}, item["data"])
	require.Equal(t, lines[0]["session"], item["owner"])
	require.NotEmpty(t, lines[0]["token"])
	require.Equal(t, "released", lines[1]["event"])

	// DATA from stdin, held while we read it.
	dataFile := filepath.Join(t.TempDir(), "data.json")
	require.NoError(t, os.WriteFile(dataFile, []byte(`{"n": 42}`+"\n"), 0o600))
	r = runShell(t, fmt.Sprintf("%s --endpoints %s -o json push /data/j - --then-exit < %s", bin.haven, c.endpoints(), dataFile))
	require.Equal(t, 0, r.code, r)
	require.Equal(t, map[string]any{"n": 42.0}, jsonLines(t, r.stdout)[0]["item"].(map[string]any)["data"])

	r = c.haven("-o", "json", "get", "/data/j")
	require.Equal(t, 0, r.code, r)
	got := decodeJSON(t, r.stdout)
	require.Equal(t, "/data/j", got["path"])
	require.Equal(t, []any{}, got["items"])
	require.Greater(t, num(got["version"]), uint64(0))
}

func runShell(t *testing.T, script string) result {
	t.Helper()
	return runHaven2(t, "sh", "-c", script)
}

func TestUpdateDeleteAsTheOwner(t *testing.T) {
	c := startCluster(t, 1)
	p := c.background("-o", "json", "push", "/data/u", `"v1"`)
	pushed := p.nextJSON(10 * time.Second)
	token := pushed["token"].(string)
	item := fmt.Sprint(num(pushed["item"].(map[string]any)["version"]))

	// Not the owner: Forbidden, exit 7.
	r := c.haven("update", "/data/u", item, `"v2"`)
	require.Equal(t, 7, r.code, r)
	require.Contains(t, r.stderr, "Error: Forbidden:")

	r = c.haven("--session", token, "update", "/data/u", item, `"v2"`)
	require.Equal(t, 0, r.code, r)
	require.Contains(t, r.stdout, "updated item "+item)
	r = c.haven("-o", "json", "get", "/data/u")
	list := decodeJSON(t, r.stdout)
	require.Equal(t, "v2", list["items"].([]any)[0].(map[string]any)["data"])
	version := fmt.Sprint(num(list["version"]))

	// if_version: stale version is a Conflict (exit 5), JSON error on stderr.
	r = c.haven("-o", "json", "--session", token, "update", "/data/u", item, `"v3"`, "--if-version", "1")
	require.Equal(t, 5, r.code, r)
	e := decodeJSON(t, r.stderr)
	require.Equal(t, "Conflict", e["code"])
	require.NotEmpty(t, e["message"])

	r = c.haven("--session", token, "delete", "/data/u", item, "--if-version", version)
	require.Equal(t, 0, r.code, r)
	require.Contains(t, r.stdout, "deleted item "+item)
	r = c.haven("--session", token, "delete", "/data/u", item)
	require.Equal(t, 6, r.code, r)
	require.Contains(t, r.stderr, "NotFound")

	// The resumed session was left open: the push's holder still runs.
	select {
	case <-p.done:
		t.Fatal("the holder's session ended")
	default:
	}
	p.signal(syscall.SIGINT)
	require.Equal(t, 0, p.wait(10*time.Second))
}

func TestErrorsAndExitCodes(t *testing.T) {
	c := startCluster(t, 1)
	r := c.haven("get", "/nodata")
	require.Equal(t, 2, r.code, r)
	require.Contains(t, r.stderr, "Error: InvalidParameter:")

	r = c.haven("-o", "json", "get", "/data/a/..")
	require.Equal(t, 2, r.code, r)
	require.Equal(t, "InvalidParameter", decodeJSON(t, r.stderr)["code"])

	r = c.haven("push", "/data/a", "not json")
	require.Equal(t, 2, r.code, r)
	require.Contains(t, r.stderr, "DATA must be JSON")

	r = c.haven("push", "/data/a", strings.Repeat("x", 70<<10), "--string", "--then-exit")
	require.Equal(t, 9, r.code, r)
	require.Contains(t, r.stderr, "TooLarge")

	r = c.haven("--session", "00112233445566778899aabbccddeeff", "get", "/data/a")
	require.Equal(t, 8, r.code, r)
	require.Contains(t, r.stderr, "SessionExpired")

	r = c.haven("frobnicate")
	require.Equal(t, 2, r.code, r)
	r = c.haven("get")
	require.Equal(t, 2, r.code, r)
	require.Contains(t, r.stderr, "get takes 1 argument")
	r = c.haven("-o", "yaml", "version")
	require.Equal(t, 2, r.code, r)
	for _, args := range [][]string{
		{"bench", "push", "--value-size", "-1"},
		{"bench", "push", "--rate", "-5"},
		{"bench", "push", "--stale"},
	} {
		r = c.haven(args...)
		require.Equal(t, 2, r.code, "%v: %v", args, r)
	}

	// Nobody listening: Unavailable, exit 4.
	dead := fmt.Sprintf("127.0.0.1:%d", freeBase(t))
	r = runHaven(t, "--endpoints", dead, "--timeout", "1s", "get", "/data/a")
	require.Equal(t, 4, r.code, r)
	require.Contains(t, r.stderr, "Error: Unavailable:")
	r = runHaven(t, "--endpoints", dead, "--timeout", "1s", "status")
	require.Equal(t, 4, r.code, r)
	// bench says so after its look at the cluster (5 s), not after its
	// setup's deadline too (30 s more).
	began := time.Now()
	r = runHaven(t, "--endpoints", dead, "bench", "push", "--duration", "1s")
	require.Equal(t, 4, r.code, r)
	require.Contains(t, r.stderr, "Error: Unavailable:")
	require.Less(t, time.Since(began), 20*time.Second, "bench against no node")

	// An endpoint that is no host:port is bad usage, not an outage; a
	// command that talks to no cluster does not mind it.
	for _, bad := range []string{"localhost", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:haven", "127.0.0.1:7400,[::1"} {
		r = runHaven(t, "--endpoints", bad, "--timeout", "1s", "get", "/data/a")
		require.Equal(t, 2, r.code, "%s: %v", bad, r)
		require.Contains(t, r.stderr, "--endpoints", bad)
	}
	r = runHaven(t, "--endpoints", "localhost", "version")
	require.Equal(t, 0, r.code, r)
}

func TestHelpAndCompletion(t *testing.T) {
	for _, cmd := range []string{"", "get", "push", "update", "delete", "watch", "elect", "lock", "status", "members", "become", "discover", "version", "bench", "completion"} {
		args := []string{"--help"}
		if cmd != "" {
			args = []string{cmd, "--help"}
		}
		r := runHaven(t, args...)
		require.Equal(t, 0, r.code, "%s: %s", cmd, r)
		require.Contains(t, r.stdout, "Usage:", cmd)
	}
	r := runHaven(t, "--help")
	require.Contains(t, r.stdout, "Exit status")
	for _, shell := range []string{"bash", "zsh"} {
		r := runHaven(t, "completion", shell)
		require.Equal(t, 0, r.code, r)
		require.Contains(t, r.stdout, "haven", shell)
		require.Greater(t, len(r.stdout), 1000, shell)
	}
	r = runHaven(t, "version")
	require.Regexp(t, `^haven \S+ \(Haven protocol 1, go`, r.stdout)
	r = runHaven(t, "-o", "json", "version")
	require.Equal(t, "1", decodeJSON(t, r.stdout)["protocol"])
}

func TestStatusMembersDiscover(t *testing.T) {
	c := startCluster(t, 3)
	c.leader()
	// The machine may be loaded enough for an election at any moment, so
	// the table is checked against itself, not against an earlier leader.
	r := c.haven("status")
	require.Equal(t, 0, r.code, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 1+len(c.nodes), r)
	require.Regexp(t, `^ID\s+ADDRESS\s+HTTP\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+SESSIONS\s+WATCHES$`, lines[0])
	leaders := 0
	for i, nd := range c.nodes {
		require.Regexp(t, `^`+nd.id+`\s+`+nd.haven+`\s+`+nd.http+`\s+(leader|follower|candidate|pre-candidate|learner)\s+\d+\s+(n\d|-)\s+\d+\s+\d+\s+\d+\s+\d+$`, lines[1+i])
		if strings.Fields(lines[1+i])[3] == "leader" {
			leaders++
		}
	}
	require.LessOrEqual(t, leaders, 1, r.stdout)

	r = c.haven("-o", "json", "status")
	require.Equal(t, 0, r.code, r)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), "one line")
	var views []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &views))
	require.Len(t, views, 3)
	require.Equal(t, "n1", views[0]["id"])
	require.Equal(t, c.nodes[0].http, views[0]["http_address"])
	require.Contains(t, views[0]["status"], "commit")

	// --http is asked first; when it does not answer, the endpoints' HTTP
	// addresses are.
	r = c.haven("status", "--http", fmt.Sprintf("127.0.0.1:%d", freeBase(t)))
	require.Equal(t, 0, r.code, r)
	require.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), 1+len(c.nodes), r)

	r = c.haven("members")
	require.Equal(t, 0, r.code, r)
	for _, nd := range c.nodes {
		require.Regexp(t, nd.id+`\s+voter\s+`+nd.haven+`\s+`+nd.http, r.stdout)
	}
	// Asked through a follower, the match indices are still the leader's
	// (a follower knows none): after a write, a quorum's are above 0.
	r = c.haven("push", "/data/m", `"x"`, "--then-exit")
	require.Equal(t, 0, r.code, r)
	lead := c.leader()
	for _, nd := range c.nodes {
		if nd == lead {
			continue
		}
		r = c.haven("-o", "json", "members", "--http", nd.http)
		require.Equal(t, 0, r.code, r)
		var ms []client.MemberStatus
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &ms))
		above := 0
		for _, m := range ms {
			if m.Match > 0 {
				above++
			}
		}
		require.GreaterOrEqual(t, above, 2, "members through follower %s: %s", nd.id, r.stdout)
	}

	r = c.haven("discover", "location")
	require.Equal(t, 0, r.code, r)
	for _, nd := range c.nodes {
		require.Contains(t, r.stdout, nd.haven)
	}
	r = c.haven("-o", "json", "discover", "quorum", "/data/x")
	require.Equal(t, 0, r.code, r)
	require.Contains(t, c.endpoints(), decodeJSON(t, r.stdout)["location"].(string))
	r = c.haven("discover", "uuid", "n2")
	require.Equal(t, 0, r.code, r)
	require.Equal(t, c.nodes[1].haven+"\n", r.stdout)
	r = c.haven("discover", "elsewhere")
	require.Equal(t, 2, r.code, r)

	// Hand leadership to a follower; the nodes then name it.
	lead = c.leader()
	target := c.nodes[0]
	if target == lead {
		target = c.nodes[1]
	}
	r = c.haven("become", "leader", target.id)
	require.Equal(t, 0, r.code, r)
	require.Equal(t, "leadership transferred to "+target.id+"\n", r.stdout)
	require.Eventually(t, func() bool {
		st, err := fetchStatus(target.http)
		return err == nil && st.Role == "leader"
	}, 10*time.Second, 20*time.Millisecond)

	r = c.haven("become", "sideways", "n2")
	require.Equal(t, 2, r.code, r)
	r = c.haven("become", "learner", "n4")
	require.Equal(t, 2, r.code, r)
	require.Contains(t, r.stderr, "--address")
	r = c.haven("become", "leader", "n9")
	require.NotEqual(t, 0, r.code, "no such node: %s", r)
	require.Regexp(t, `Error: \w+:`, r.stderr)

	// With a node down, status still shows it, as unreachable.
	c.kill(c.nodes[2])
	r = c.haven("status")
	require.Equal(t, 0, r.code, r)
	require.Regexp(t, `n3\s+\S+\s+\S+\s+unreachable`, r.stdout)
}

// watch prints the list, then every change; it keeps streaming across a
// kill -9 of the node it is connected to: the client resumes its session on
// another node and registers the watch from the last version it printed.
func TestWatchAcrossNodeKill(t *testing.T) {
	c := startCluster(t, 3)
	w := c.background("-o", "json", "watch", "/data/w") // on n1, the first endpoint
	first := w.nextJSON(10 * time.Second)
	require.Equal(t, "/data/w", first["path"])
	require.Equal(t, []any{}, first["items"])

	var want []string
	push := func(v string) {
		r := c.haven("push", "/data/w", v, "--then-exit")
		require.Equal(t, 0, r.code, r)
		want = append(want, "push "+v, "delete "+v)
	}
	var got []string
	var lastVersion uint64
	read := func() {
		for len(got) < len(want) {
			ev := w.nextJSON(20 * time.Second)
			v := num(ev["version"])
			require.Greater(t, v, lastVersion, "events in log order, no duplicate")
			lastVersion = v
			data := ev["item"].(map[string]any)["data"]
			got = append(got, fmt.Sprintf("%s %v", ev["kind"], data))
		}
		require.Equal(t, want, got)
	}
	push("1")
	push("2")
	read()
	c.kill(c.nodes[0])
	push("3")
	push("4")
	read()
	// And once more, after the node it moved to dies too: n1 comes back,
	// and n2 and n3 take turns failing.
	c.restart(c.nodes[0])
	c.kill(c.nodes[1])
	push("5")
	read()

	r := c.haven("watch", "/data/w", "--since", "0", "--count", "2")
	require.Equal(t, 0, r.code, r)
	require.Regexp(t, `(?s)/data/w: version \d+, 0 items\n(push|reset)`, r.stdout)
	w.signal(syscall.SIGINT)
	require.Equal(t, 0, w.wait(10*time.Second))
}

// Two elect processes: one leads; kill it; the other takes over with a
// larger fencing token once the dead one's session expires.
func TestElectTakeover(t *testing.T) {
	c := startCluster(t, 1)
	a := c.background("--ttl", "1s", "-o", "json", "elect", "/data/e", "--name", "a")
	la := a.nextJSON(10 * time.Second)
	require.Equal(t, "leading", la["event"])
	require.Equal(t, "a", la["name"])
	tokA := num(la["token"])

	b := c.background("--ttl", "1s", "-o", "json", "elect", "/data/e", "--name", "b")
	wb := b.nextJSON(10 * time.Second)
	require.Equal(t, "waiting", wb["event"])
	require.Equal(t, tokA, num(wb["leader"]))
	require.Equal(t, "a", wb["leader_name"])

	a.signal(syscall.SIGKILL)
	a.wait(5 * time.Second)
	lb := b.nextJSON(20 * time.Second)
	require.Equal(t, "leading", lb["event"])
	require.Greater(t, num(lb["token"]), tokA)

	b.signal(syscall.SIGINT)
	require.Equal(t, "resigned", b.nextJSON(10 * time.Second)["event"])
	require.Equal(t, 0, b.wait(10*time.Second))
	r := c.haven("-o", "json", "get", "/data/e")
	require.Equal(t, []any{}, decodeJSON(t, r.stdout)["items"])
}

// lock runs its command only while holding the lock: two at once never
// overlap, and haven exits with the command's status.
func TestLockExcludes(t *testing.T) {
	c := startCluster(t, 1)
	log := filepath.Join(t.TempDir(), "log")
	script := fmt.Sprintf(`echo "start $HAVEN_LOCK_TOKEN" >> %s; sleep 0.5; echo "end $HAVEN_LOCK_TOKEN" >> %s`, log, log)
	p1 := c.background("lock", "/data/l", "--", "sh", "-c", script)
	p2 := c.background("lock", "/data/l", "--", "sh", "-c", script)
	require.Equal(t, 0, p1.wait(30*time.Second), p1.stderr.String())
	require.Equal(t, 0, p2.wait(30*time.Second), p2.stderr.String())
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 4)
	var t1, t2 string
	fmt.Sscanf(lines[0], "start %s", &t1)
	fmt.Sscanf(lines[2], "start %s", &t2)
	require.Equal(t, []string{"start " + t1, "end " + t1, "start " + t2, "end " + t2}, lines, "no overlap")
	require.NotEqual(t, t1, t2)
	require.Contains(t, p1.stderr.String()+p2.stderr.String(), "haven: locked /data/l (fencing token")

	r := c.haven("lock", "/data/l", "--", "sh", "-c", "echo inside; exit 3")
	require.Equal(t, 3, r.code, r)
	require.Equal(t, "inside\n", r.stdout)
	r = c.haven("lock", "/data/l")
	require.Equal(t, 2, r.code, r)

	// A command that cannot be run exits as env(1) and timeout(1) do:
	// 127 not found, 126 not executable; the lock is not taken.
	notExec := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	for _, tc := range []struct {
		cmd  string
		code int
	}{{"no-such-command-haven-test", 127}, {filepath.Join(t.TempDir(), "missing"), 127}, {notExec, 126}} {
		r = c.haven("lock", "/data/l", "--", tc.cmd)
		require.Equal(t, tc.code, r.code, r)
		require.Contains(t, r.stderr, "haven: cannot run "+tc.cmd)
		require.NotContains(t, r.stderr, "locked", "the lock was taken for a command that cannot run")
	}
}

// A held push outlives the death of its node: the session moves to another
// node within its ttl, and its item stays.
func TestPushHoldsAcrossNodeKill(t *testing.T) {
	c := startCluster(t, 3)
	p := c.background("--ttl", "1s", "-o", "json", "push", "/data/held", `"mine"`) // on n1
	pushed := p.nextJSON(10 * time.Second)
	item := num(pushed["item"].(map[string]any)["version"])
	c.kill(c.nodes[0])
	time.Sleep(3 * time.Second) // three ttls
	r := c.haven("-o", "json", "get", "/data/held")
	require.Equal(t, 0, r.code, r)
	items := decodeJSON(t, r.stdout)["items"].([]any)
	require.Len(t, items, 1, "the item survived: %s", p.stderr.String())
	require.Equal(t, item, num(items[0].(map[string]any)["version"]))
	require.Equal(t, pushed["session"], items[0].(map[string]any)["owner"])
	p.signal(syscall.SIGINT)
	require.Equal(t, "released", p.nextJSON(10 * time.Second)["event"])
	require.Equal(t, 0, p.wait(10*time.Second))
}

// If watch's session itself ends (here: the process is stopped for longer
// than its ttl), it carries on in a new session from the last version it
// printed, so the stream still has no gap.
func TestWatchOutlivesItsSession(t *testing.T) {
	c := startCluster(t, 1)
	w := c.background("--ttl", "1s", "-v", "-o", "json", "watch", "/data/long")
	w.nextJSON(10 * time.Second)
	r := c.haven("push", "/data/long", `"before"`, "--then-exit")
	require.Equal(t, 0, r.code, r)
	require.Equal(t, "before", w.nextJSON(10 * time.Second)["item"].(map[string]any)["data"])
	w.nextJSON(10 * time.Second) // its delete

	w.signal(syscall.SIGSTOP)
	time.Sleep(2500 * time.Millisecond) // the session expires
	r = c.haven("push", "/data/long", `"while stopped"`, "--then-exit")
	require.Equal(t, 0, r.code, r)
	w.signal(syscall.SIGCONT)
	ev := w.nextJSON(20 * time.Second)
	require.Equal(t, "push", ev["kind"], w.stderr.String())
	require.Equal(t, "while stopped", ev["item"].(map[string]any)["data"])
	require.Equal(t, "delete", w.nextJSON(10 * time.Second)["kind"])
	require.Contains(t, w.stderr.String(), "continuing after version")
	w.signal(syscall.SIGINT)
	require.Equal(t, 0, w.wait(10*time.Second))
}

// A lock whose session ends stops its command and exits SessionExpired.
func TestLockLostStopsTheCommand(t *testing.T) {
	c := startCluster(t, 1)
	p := c.background("--ttl", "1s", "lock", "/data/lost", "--", "sh", "-c", "echo running; exec sleep 30")
	require.Equal(t, "running", p.next(10*time.Second))
	p.signal(syscall.SIGSTOP)
	time.Sleep(2500 * time.Millisecond)
	p.signal(syscall.SIGCONT)
	require.Equal(t, 8, p.wait(20*time.Second), p.stderr.String())
	require.Contains(t, p.stderr.String(), "Error: SessionExpired: lock: lock lost")
}

// become: add a spare as a learner, promote it, then remove it.
func TestBecomeLearnerVoterRemoved(t *testing.T) {
	c := startClusterOf(t, 4, 3)
	n4 := c.nodes[3]
	c.start(n4)
	// havend checks at start that no member lists its id yet (a node that
	// lost its data must not come back under its old id), so add it only
	// once it listens.
	require.Eventually(t, func() bool {
		conn, err := net.DialTimeout("tcp", n4.http, 100*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "n4 starts:\n%s", n4.log.String())
	eventually := func(args ...string) result {
		t.Helper()
		var r result
		require.Eventually(t, func() bool { r = c.haven(args...); return r.code == 0 }, 20*time.Second, 200*time.Millisecond, "haven %v", args)
		return r
	}
	r := eventually("become", "learner", "n4", "--address", n4.haven)
	require.Equal(t, "n4 added as a learner at "+n4.haven+"\n", r.stdout)
	require.Eventually(t, func() bool {
		r := c.haven("members")
		return regexpMatch(`n4\s+learner\s+`+n4.haven, r.stdout)
	}, 20*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool {
		st, err := fetchStatus(n4.http)
		return err == nil && st.Applied > 0 && st.Leader != ""
	}, 20*time.Second, 100*time.Millisecond, "the learner catches up:\n%s", n4.log.String())
	r = eventually("become", "voter", "n4")
	require.Equal(t, "n4 promoted to voter\n", r.stdout)
	r = c.haven("-o", "json", "members")
	require.Equal(t, 0, r.code, r)
	var members []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &members))
	require.Len(t, members, 4)
	require.Contains(t, r.stdout, `"id":"n4","role":"voter"`)

	r = eventually("become", "removed", "n4")
	require.Equal(t, "n4 removed\n", r.stdout)
	require.Eventually(t, func() bool {
		r := c.haven("members")
		return r.code == 0 && !strings.Contains(r.stdout, "n4")
	}, 20*time.Second, 100*time.Millisecond)
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
