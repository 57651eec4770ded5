package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// "Path: /data followed by one or more /segment; a segment is 1–128 bytes
// of [A-Za-z0-9._~-], not . or ..; the whole path is at most 1024 bytes.
// Anything else is InvalidParameter."
func TestPathRules(t *testing.T) {
	c, _ := connect(t, 1, nil)
	long := "/data"
	for len(long) < 1000 {
		long += "/" + strings.Repeat("a", 100)
	}
	bad := []string{"", "/", "/data", "/data/", "/dat/a", "/datax/a", "data/a", "/data//a", "/data/a/", "/data/.", "/data/..",
		"/data/a/../b", "/data/a b", "/data/é", "/data/a*b", "/data/" + strings.Repeat("a", 129), long + "/" + strings.Repeat("b", 30)}
	for _, p := range bad {
		requireFail(t, c.call(M{"action": "query", "type": "read", "path": p}), "InvalidParameter", "read %q", p)
		requireFail(t, c.call(M{"action": "query", "type": "create", "path": p, "data": 1}), "InvalidParameter", "create %q", p)
		requireFail(t, c.call(M{"action": "query", "type": "watch", "path": p}), "InvalidParameter", "watch %q", p)
	}
	good := []string{"/data/a", "/data/A-z_0.9~", "/data/...", "/data/.a", "/data/" + strings.Repeat("a", 128)}
	exact := "/data"
	for len(exact)+129 <= 1024 {
		exact += "/" + strings.Repeat("c", 128)
	}
	exact += "/" + strings.Repeat("d", 1024-len(exact)-1)
	require.Len(t, exact, 1024)
	good = append(good, exact)
	for _, p := range good {
		requireOK(t, c.call(M{"action": "query", "type": "read", "path": p}), "read %q", p)
	}
	// A path never written is an empty list with list version 0.
	a := c.call(M{"action": "query", "type": "read", "path": path("never")})
	requireOK(t, a)
	require.Empty(t, a["items"])
	require.Equal(t, uint64(0), u(a["version"]))
}

// Items: {version, modified, owner, data}; list version = index of the
// last change; ordered by version ascending; any data kind.
func TestItemsAndListVersion(t *testing.T) {
	c, hello := connect(t, 2, nil)
	p := path("items")
	datas := []any{nil, true, int64(-3), 2.5, "s", []any{int64(1), "x"}, map[string]any{"k": map[string]any{"n": []any{true}}}}
	var last uint64
	for _, d := range datas {
		a := c.call(M{"action": "query", "type": "create", "path": p, "data": d})
		requireOK(t, a)
		it := a["item"].(map[string]any)
		require.True(t, isInt(it["version"]) && isInt(it["modified"]), "%v", it)
		require.Greater(t, u(it["version"]), last, "versions only grow")
		require.Equal(t, u(it["version"]), u(it["modified"]), "modified = version if never updated")
		require.Equal(t, hello["session"], it["owner"])
		require.Equal(t, d, normalize(it["data"]))
		require.Equal(t, u(it["version"]), u(a["version"]), "list version is the index of the last change")
		last = u(it["version"])
	}
	a := c.call(M{"action": "query", "type": "read", "path": p})
	items := a["items"].([]any)
	require.Len(t, items, len(datas))
	for i, it := range items {
		require.Equal(t, datas[i], normalize(it.(map[string]any)["data"]), "ordered by version ascending")
		if i > 0 {
			require.Less(t, u(items[i-1].(map[string]any)["version"]), u(it.(map[string]any)["version"]))
		}
	}
	require.Equal(t, last, u(a["version"]))

	// update: modified moves, version stays; the answer is {item, items, version}.
	first := items[0].(map[string]any)
	a = c.call(M{"action": "query", "type": "update", "path": p, "item": first["version"], "data": "new"})
	requireOK(t, a)
	it := a["item"].(map[string]any)
	require.Equal(t, u(first["version"]), u(it["version"]))
	require.Greater(t, u(it["modified"]), last)
	require.Equal(t, u(it["modified"]), u(a["version"]))
	require.Equal(t, "new", it["data"])
	require.Contains(t, a, "items")

	// delete: {result, items, version}; emptied list keeps its version.
	for _, x := range items {
		a = c.call(M{"action": "query", "type": "delete", "path": p, "item": x.(map[string]any)["version"]})
		requireOK(t, a)
		require.Contains(t, a, "items")
		require.Contains(t, a, "version")
	}
	v := u(a["version"])
	a = c.call(M{"action": "query", "type": "read", "path": p})
	require.Empty(t, a["items"])
	require.Equal(t, v, u(a["version"]), "an emptied list keeps its version")
	require.NotZero(t, v)

	// NotFound: no such item.
	requireFail(t, c.call(M{"action": "query", "type": "delete", "path": p, "item": first["version"]}), "NotFound")
	requireFail(t, c.call(M{"action": "query", "type": "update", "path": p, "item": first["version"], "data": 1}), "NotFound")
}

// normalize makes MessagePack integers int64 for comparisons.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		o := map[string]any{}
		for k, e := range x {
			o[k] = normalize(e)
		}
		return o
	case []any:
		o := make([]any, len(x))
		for i, e := range x {
			o[i] = normalize(e)
		}
		return o
	case float32:
		return float64(x)
	}
	if isInt(v) {
		switch x := v.(type) {
		case uint64:
			return int64(x)
		case uint8:
			return int64(x)
		case uint16:
			return int64(x)
		case uint32:
			return int64(x)
		case int8:
			return int64(x)
		case int16:
			return int64(x)
		case int32:
			return int64(x)
		}
	}
	return v
}

func TestTooLargeAndForbiddenAndConflict(t *testing.T) {
	c, _ := connect(t, 1, nil)
	p := path("limits")
	requireFail(t, c.call(M{"action": "query", "type": "create", "path": p, "data": strings.Repeat("x", 65*1024)}), "TooLarge")
	requireOK(t, c.call(M{"action": "query", "type": "create", "path": p, "data": strings.Repeat("x", 60*1024)}))
	a := c.call(M{"action": "query", "type": "create", "path": p, "data": "mine"})
	requireOK(t, a)
	mine := a["item"].(map[string]any)["version"]
	requireFail(t, c.call(M{"action": "query", "type": "update", "path": p, "item": mine, "data": strings.Repeat("x", 65*1024)}), "TooLarge")

	o, _ := connect(t, 3, nil)
	requireFail(t, o.call(M{"action": "query", "type": "update", "path": p, "item": mine, "data": "theirs"}), "Forbidden")
	requireFail(t, o.call(M{"action": "query", "type": "delete", "path": p, "item": mine}), "Forbidden")

	// if_version: Conflict unless the list's version still equals it.
	v := u(a["version"])
	requireFail(t, c.call(M{"action": "query", "type": "create", "path": p, "data": 1, "if_version": v - 1}), "Conflict")
	requireFail(t, c.call(M{"action": "query", "type": "update", "path": p, "item": mine, "data": 1, "if_version": v - 1}), "Conflict")
	requireFail(t, c.call(M{"action": "query", "type": "delete", "path": p, "item": mine, "if_version": v - 1}), "Conflict")
	a = c.call(M{"action": "query", "type": "create", "path": p, "data": 1, "if_version": v})
	requireOK(t, a)
	r := c.call(M{"action": "query", "type": "read", "path": p})
	require.Len(t, r["items"], 3, "a failed request leaves no partial change")
	requireOK(t, c.call(M{"action": "query", "type": "create", "path": path("fresh"), "data": 1, "if_version": 0}), "if_version 0 on a never-written list")
}

// "Every request may carry rid (any scalar); every answer echoes the request's rid."
func TestRidEchoAndPipelining(t *testing.T) {
	c, _ := connect(t, 2, M{"rid": "c0"})
	for _, rid := range []any{int64(7), "seven", 7.5, true, nil, uint64(1 << 40)} {
		a := c.call(M{"action": "query", "type": "read", "path": "/data/x", "rid": rid})
		requireOK(t, a)
		require.Equal(t, normalize(rid), normalize(a["rid"]), "rid %v", rid)
	}
	a := c.call(M{"action": "query", "type": "read", "path": "bad", "rid": "r-fail"})
	require.Equal(t, "r-fail", a["rid"], "a failed answer echoes rid")
	a = c.call(M{"action": "heartbeat", "type": "ping", "rid": int64(99)})
	require.Equal(t, int64(99), normalize(a["rid"]))
	a = c.call(M{"action": "query", "type": "read", "path": "/data/x", "credentials": M{"user": "u"}})
	requireOK(t, a, "credentials is accepted")

	// pipelined: send many, all answered once each.
	p := path("pipe")
	const n = 40
	var buf []byte
	for i := 0; i < n; i++ {
		var m M
		if i%2 == 0 {
			m = M{"action": "query", "type": "create", "path": p, "data": i, "rid": int64(i)}
		} else {
			m = M{"action": "query", "type": "read", "path": p, "rid": int64(i), "consistency": "stale"}
		}
		b, _ := msgpack.Marshal(m)
		buf = append(buf, b...)
	}
	_, err := c.nc.Write(buf)
	require.NoError(t, err)
	seen := map[int64]bool{}
	for i := 0; i < n; i++ {
		a, err := c.recv()
		require.NoError(t, err)
		requireOK(t, a)
		r := normalize(a["rid"]).(int64)
		require.False(t, seen[r])
		seen[r] = true
	}
	require.Len(t, seen, n)
}

func TestConnectFirstAndBadInput(t *testing.T) {
	big, _ := msgpack.Marshal(M{"action": "connect", "version": "1", "pad": strings.Repeat("p", 1<<20+10)})
	read, _ := msgpack.Marshal(M{"action": "query", "type": "read", "path": "/data/s", "rid": "first"})
	notMap, _ := msgpack.Marshal([]any{1, 2})
	for _, tc := range []struct {
		name, code string
		connect    bool
		in         []byte
	}{
		{"garbage", "InvalidParameter", false, []byte{0xc1, 0xc1, 0xff, 0xff}},
		{"garbage after connect", "InvalidParameter", true, []byte{0xc1, 0xff}},
		{"not a map", "InvalidParameter", true, notMap},
		{"oversized", "TooLarge", false, big},
		{"oversized after connect", "TooLarge", true, big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, 1)
			if tc.connect {
				requireOK(t, c.call(M{"action": "connect", "version": "1"}))
			}
			_, _ = c.nc.Write(tc.in)
			a, err := c.recv()
			require.NoError(t, err)
			requireFail(t, a, tc.code)
			_, err = c.recv()
			require.Error(t, err, "then the connection is closed")
		})
	}
	t.Run("first message must be connect", func(t *testing.T) {
		c := dial(t, 1)
		_, _ = c.nc.Write(read)
		a, err := c.recv()
		require.NoError(t, err)
		requireFail(t, a, "InvalidParameter")
		require.Equal(t, "first", a["rid"])
	})
	t.Run("unknown version", func(t *testing.T) {
		c := dial(t, 1)
		for _, v := range []any{"2", "0", "1.1"} {
			requireFail(t, c.call(M{"action": "connect", "version": v}), "Unsupported", "version %v", v)
		}
		// docs/decisions.md: "connect's version may be the string "1" ... or
		// the number 1; ... anything else is Unsupported", whatever width the
		// client's MessagePack library gives the number.
		for _, v := range []any{int64(2), uint16(7), int8(3)} {
			requireFail(t, c.call(M{"action": "connect", "version": v}), "Unsupported", "version %T %v", v, v)
		}
		for _, v := range []any{int8(1), int64(1), uint32(1)} {
			d := dial(t, 1)
			requireOK(t, d.call(M{"action": "connect", "version": v}), "version %T %v", v, v)
		}
	})
	t.Run("unknown action and type", func(t *testing.T) {
		c, _ := connect(t, 1, nil)
		requireFail(t, c.call(M{"action": "dance", "rid": "d"}), "Unsupported")
	})
}

// The connect answer: {result: true, session: id, token, ttl_ms, node: id, leader: address}.
func TestConnectAnswerAndTTL(t *testing.T) {
	st, _, err := getStatus(1)
	require.NoError(t, err)
	_, a := connect(t, 1, nil)
	require.IsType(t, "", a["session"])
	require.NotEmpty(t, a["session"])
	tok, _ := a["token"].(string)
	require.GreaterOrEqual(t, len(tok), 22, "128 random bits, hex or base64url")
	require.NotEqual(t, a["session"], a["token"], "the public id is not the secret")
	require.Equal(t, uint64(5000), u(a["ttl_ms"]), "default ttl 5000")
	require.Equal(t, "n1", a["node"])
	require.Equal(t, st.LeaderAddress, a["leader"], "leader: address")
	require.Contains(t, []string{havenAddr(1), havenAddr(2), havenAddr(3)}, a["leader"])
	for _, tc := range []struct{ ask, want uint64 }{{1, 500}, {499, 500}, {500, 500}, {1234, 1234}, {60000, 60000}, {600000, 60000}} {
		_, a := connect(t, 2, M{"ttl_ms": tc.ask})
		require.Equal(t, tc.want, u(a["ttl_ms"]), "ttl %d clamped", tc.ask)
	}
}

// Sessions: resume on another node; close ends at once and removes the items
// in one entry; expiry after ttl.
func TestSessionLifecycle(t *testing.T) {
	p := path("life")
	w, _ := connect(t, 3, nil)
	a := w.call(M{"action": "query", "type": "watch", "path": p})
	requireOK(t, a)
	require.Contains(t, a, "items")
	require.Equal(t, uint64(0), u(a["version"]))

	c, hello := connect(t, 1, M{"ttl_ms": 3000})
	for i := 0; i < 3; i++ {
		requireOK(t, c.call(M{"action": "query", "type": "create", "path": p, "data": i}))
	}
	c.nc.Close()
	// Resume on another node with the token: same id, items intact.
	r, a := connect(t, 2, M{"session": hello["token"]})
	require.Equal(t, hello["session"], a["session"])
	got := r.call(M{"action": "query", "type": "read", "path": p})
	require.Len(t, got["items"], 3)
	// close: {result: true}, then the connection is closed.
	a = r.call(M{"action": "close", "rid": "bye"})
	requireOK(t, a)
	require.Equal(t, "bye", a["rid"])
	_, err := r.recv()
	require.Error(t, err, "the server closes the connection")
	// Items removed at once, in one entry: watchers get deletes sharing one version.
	got = w.call(M{"action": "query", "type": "read", "path": p})
	require.Empty(t, got["items"], "close ends the session at once")
	evs := collect(t, w, 6)
	var kinds []string
	dv := map[uint64]bool{}
	for _, e := range evs {
		kinds = append(kinds, e["kind"].(string))
		require.Equal(t, p, e["path"])
		require.Contains(t, e, "item")
		if e["kind"] == "delete" {
			dv[u(e["version"])] = true
			require.Equal(t, hello["session"], e["item"].(map[string]any)["owner"], "for delete, the item as it was")
		}
	}
	require.Equal(t, []string{"push", "push", "push", "delete", "delete", "delete"}, kinds)
	require.Len(t, dv, 1, "all deletions of one session end share that index")
	require.Equal(t, u(got["version"]), u(evs[5]["version"]))
	// The token of a closed session is refused.
	d := dial(t, 1)
	a = d.call(M{"action": "connect", "version": "1", "session": hello["token"]})
	require.Equal(t, false, a["result"])
	require.Contains(t, []string{"SessionExpired", "Forbidden"}, code(a))

	// Expiry: a session not heard from for ttl_ms expires.
	e, eh := connect(t, 2, M{"ttl_ms": 500})
	requireOK(t, e.call(M{"action": "query", "type": "create", "path": p, "data": "ephemeral"}))
	requireOK(t, e.call(M{"action": "query", "type": "create", "path": p, "data": "ephemeral2"}))
	e.nc.Close()
	require.Eventually(t, func() bool {
		g := w.call(M{"action": "query", "type": "read", "path": p})
		return len(g["items"].([]any)) == 0
	}, 10*time.Second, 50*time.Millisecond, "removed when its owner's session expires")
	evs = collect(t, w, 4)
	require.Equal(t, []any{"push", "push", "delete", "delete"}, []any{evs[0]["kind"], evs[1]["kind"], evs[2]["kind"], evs[3]["kind"]})
	require.Equal(t, u(evs[2]["version"]), u(evs[3]["version"]), "an expiry's deletions share one index")
	d = dial(t, 3)
	a = d.call(M{"action": "connect", "version": "1", "session": eh["token"]})
	requireFail(t, a, "SessionExpired")
}

// collect pings until n events have arrived.
func collect(t *testing.T, c *conn, n int) []M {
	var evs []M
	end := time.Now().Add(10 * time.Second)
	for len(evs) < n && time.Now().Before(end) {
		a := c.call(M{"action": "heartbeat", "type": "ping", "wait_ms": 200})
		require.Equal(t, "heartbeat", a["action"], "%v", a)
		require.Equal(t, "pong", a["type"], "%v", a)
		list, ok := a["result"].([]any)
		require.True(t, ok, "an OK pong's result is the list of events: %v", a)
		for _, e := range list {
			evs = append(evs, e.(map[string]any))
		}
	}
	require.Len(t, evs, n)
	return evs
}

func TestWatchEventsAndSince(t *testing.T) {
	p := path("watch")
	w, _ := connect(t, 2, nil)
	c, _ := connect(t, 1, nil)
	a := c.call(M{"action": "query", "type": "create", "path": p, "data": "before"})
	requireOK(t, a)
	first := a["item"].(map[string]any)
	// A watch registers at the answering node's applied state (as a ZooKeeper
	// watch does; docs/decisions.md), so a linearizable read first brings n2 up to date.
	requireOK(t, w.call(M{"action": "query", "type": "read", "path": p}))
	a = w.call(M{"action": "query", "type": "watch", "path": p})
	requireOK(t, a)
	require.Len(t, a["items"], 1, "watch answers with the current items")
	require.Equal(t, u(first["version"]), u(a["version"]))
	var vs []uint64
	for i := 0; i < 10; i++ {
		a = c.call(M{"action": "query", "type": "create", "path": p, "data": i})
		vs = append(vs, u(a["version"]))
	}
	a = c.call(M{"action": "query", "type": "update", "path": p, "item": first["version"], "data": "after"})
	vs = append(vs, u(a["version"]))
	a = c.call(M{"action": "query", "type": "delete", "path": p, "item": first["version"]})
	vs = append(vs, u(a["version"]))
	evs := collect(t, w, 12)
	for i, e := range evs {
		require.Equal(t, vs[i], u(e["version"]), "in log order, no gaps, no duplicates")
		require.Equal(t, p, e["path"])
	}
	require.Equal(t, "update", evs[10]["kind"])
	require.Equal(t, "after", evs[10]["item"].(map[string]any)["data"], "item after the change")
	require.Equal(t, "delete", evs[11]["kind"])
	require.Equal(t, "after", evs[11]["item"].(map[string]any)["data"], "delete: item as it was")
	// a ping with nothing pending answers an empty list (long poll bounded by wait_ms).
	start := time.Now()
	a = w.call(M{"action": "heartbeat", "type": "ping", "wait_ms": 300})
	require.Empty(t, a["result"])
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "waits up to wait_ms for an event")
	// long poll wakes on an event
	go func() {
		time.Sleep(200 * time.Millisecond)
		c2, _ := connect(t, 3, nil)
		c2.call(M{"action": "query", "type": "create", "path": p, "data": "late"})
	}()
	a = w.call(M{"action": "heartbeat", "type": "ping", "wait_ms": 2000})
	require.Len(t, a["result"], 1)

	// unwatch: no more events
	requireOK(t, w.call(M{"action": "query", "type": "unwatch", "path": p}))
	requireOK(t, c.call(M{"action": "query", "type": "create", "path": p, "data": "unwatched"}))
	a = w.call(M{"action": "heartbeat", "type": "ping", "wait_ms": 300})
	require.Empty(t, a["result"])

	// since: replay of every event after since.
	r, _ := connect(t, 3, nil)
	a = r.call(M{"action": "query", "type": "watch", "path": p, "since": vs[5]})
	requireOK(t, a)
	require.NotEqual(t, true, a["reset"])
	replay := collect(t, r, 8) // vs[6..11] + late + unwatched
	require.Equal(t, vs[6], u(replay[0]["version"]))
	require.Equal(t, vs[11], u(replay[5]["version"]))
}

func TestDiscover(t *testing.T) {
	c, _ := connect(t, 1, nil)
	st, _, _ := getStatus(1)
	a := c.call(M{"action": "discover", "type": "quorum", "path": "/data/x"})
	requireOK(t, a)
	require.Equal(t, st.LeaderAddress, a["location"])
	for i := 1; i <= 3; i++ {
		a = c.call(M{"action": "discover", "type": "uuid", "uuid": "n" + string(rune('0'+i))})
		requireOK(t, a)
		require.Equal(t, havenAddr(i), a["location"])
	}
	requireFail(t, c.call(M{"action": "discover", "type": "uuid", "uuid": "n9"}), "NotFound")
	a = c.call(M{"action": "discover", "type": "location"})
	requireOK(t, a)
	require.Contains(t, []string{havenAddr(1), havenAddr(2), havenAddr(3)}, a["location"])
	require.ElementsMatch(t, []any{havenAddr(1), havenAddr(2), havenAddr(3)}, a["locations"])
}

func TestStaleReadsAndSeen(t *testing.T) {
	c, _ := connect(t, 1, nil)
	p := path("stale")
	a := c.call(M{"action": "query", "type": "create", "path": p, "data": 1})
	v := u(a["version"])
	for i := 1; i <= 3; i++ {
		r, _ := connect(t, i, M{"seen": v})
		a = r.call(M{"action": "query", "type": "read", "path": p, "consistency": "stale"})
		requireOK(t, a)
		require.Len(t, a["items"], 1, "never older than what this session has seen (seen on connect), node %d", i)
		a = r.call(M{"action": "query", "type": "read", "path": p})
		require.Len(t, a["items"], 1, "linearizable read on node %d", i)
	}
	requireFail(t, c.call(M{"action": "query", "type": "read", "path": p, "consistency": "weird"}), "InvalidParameter")
}

// Pipelined heartbeats from many goroutines are not needed; a ping with an
// ended session gets the failed pong shape.
func TestFailedPongShape(t *testing.T) {
	c, hello := connect(t, 1, M{"ttl_ms": 500})
	// end the session from another connection that resumes it and closes it.
	o, _ := connect(t, 2, M{"session": hello["token"]})
	requireOK(t, o.call(M{"action": "close"}))
	// Until this node has applied the close a ping may be Unavailable; then SessionExpired.
	var last M
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		c.send(M{"action": "heartbeat", "type": "ping", "rid": "p"})
		a, err := c.recv()
		require.NoError(t, err)
		if a["result"] == false {
			require.Equal(t, "heartbeat", a["action"], "%v", a)
			require.Equal(t, "pong", a["type"], "%v", a)
			require.Equal(t, "p", a["rid"])
			require.Contains(t, []string{"Unavailable", "SessionExpired"}, code(a))
			last = a
			if code(a) == "SessionExpired" {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NotNil(t, last)
	requireFail(t, last, "SessionExpired")
}
