package websvc

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/session"
)

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	return nil
}

// PROTOCOL.md: "An upgrade without a valid cookie starts a new session and
// sets the cookie on the 101 response (HttpOnly, SameSite=Strict, Path=/,
// Secure under TLS)." and the hello message's fields.
func TestUpgradeStartsSessionAndSetsCookie(t *testing.T) {
	tc := newTestCluster(t, 1, Config{}, nil)
	tc.waitLeader()
	c := mustDial(t, tc.servers[0].URL, newJar(t))

	require.Equal(t, http.StatusSwitchingProtocols, c.resp.StatusCode)
	cookie := sessionCookie(c.resp)
	require.NotNil(t, cookie, "the 101 response sets %s", SessionCookie)
	require.Len(t, cookie.Value, 32, "128 random bits in hex")
	require.True(t, cookie.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	require.Equal(t, "/", cookie.Path)
	require.False(t, cookie.Secure, "plain HTTP: no Secure flag")

	require.Equal(t, "hello", c.hello["action"])
	require.NotEmpty(t, c.hello["session"])
	require.Equal(t, float64(5000), c.hello["ttl_ms"])
	require.Equal(t, "n1", c.hello["node"])
	require.Equal(t, "127.0.0.1:n1", c.hello["leader"], "the leader's address from the node's status")
	require.Equal(t, false, c.hello["resumed"])
	require.Len(t, c.hello, 6, "hello has exactly PROTOCOL.md's fields: %v", c.hello)
}

func TestSecureCookieUnderTLS(t *testing.T) {
	tc := newTestCluster(t, 1, Config{TLS: true}, nil)
	tc.waitLeader()
	c := mustDial(t, tc.servers[0].URL, newJar(t))
	require.True(t, sessionCookie(c.resp).Secure)
}

func TestCookieResumesSession(t *testing.T) {
	tc := newTestCluster(t, 1, Config{}, nil)
	tc.waitLeader()
	jar := newJar(t)
	first := mustDial(t, tc.servers[0].URL, jar)
	pushed := first.ok(msg{"action": "push", "path": "/data/r", "data": "mine"})
	require.NoError(t, first.conn.Close())

	again := mustDial(t, tc.servers[0].URL, jar)
	require.Equal(t, true, again.hello["resumed"])
	require.Equal(t, first.hello["session"], again.hello["session"])
	require.Nil(t, sessionCookie(again.resp), "a resumed session keeps its cookie")
	// The item is untouched and still ours.
	item := pushed["item"].(map[string]any)
	again.ok(msg{"action": "update", "path": "/data/r", "item": item["version"], "data": "still mine"})
}

// PROTOCOL.md: "An upgrade whose cookie names an expired session gets a new
// session and the first message says so ("resumed": false)."
func TestExpiredCookieGetsNewSession(t *testing.T) {
	tc := newTestCluster(t, 1, Config{}, nil)
	tc.waitLeader()
	jar := newJar(t)
	first := mustDial(t, tc.servers[0].URL, jar)
	first.ok(msg{"action": "close"})
	require.Error(t, first.closeError())

	again := mustDial(t, tc.servers[0].URL, jar)
	require.Equal(t, false, again.hello["resumed"])
	require.NotEqual(t, first.hello["session"], again.hello["session"])
	cookie := sessionCookie(again.resp)
	require.NotNil(t, cookie, "the new session's cookie replaces the old")
	require.NotEqual(t, sessionCookie(first.resp).Value, cookie.Value)
}

func TestCookieResumeOnAnotherNode(t *testing.T) {
	tc := newTestCluster(t, 3, Config{AllowedOrigins: []string{"*"}}, nil)
	tc.waitLeader()
	jar := newJar(t)
	on1 := mustDial(t, tc.servers[0].URL, jar)
	pushed := on1.ok(msg{"action": "push", "path": "/data/moving", "data": 1})
	require.NoError(t, on1.conn.Close())

	// Cookies belong to the host, not the port: node 2's URL gets it too.
	on2 := mustDial(t, tc.servers[1].URL, jar)
	require.Equal(t, true, on2.hello["resumed"])
	require.Equal(t, on1.hello["session"], on2.hello["session"])
	require.Equal(t, "n2", on2.hello["node"])
	item := pushed["item"].(map[string]any)
	got := on2.ok(msg{"action": "get", "path": "/data/moving"})
	require.Equal(t, []msg{item}, items(got))
	on2.ok(msg{"action": "update", "path": "/data/moving", "item": item["version"], "data": 2})
}

func TestVersionParameter(t *testing.T) {
	tc := newTestCluster(t, 1, Config{}, nil)
	tc.waitLeader()
	_, err := dial(t, tc.servers[0].URL, newJar(t), nil, "version=1")
	require.NoError(t, err)
	c, err := dial(t, tc.servers[0].URL, newJar(t), nil, "version=7")
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Equal(t, http.StatusBadRequest, c.resp.StatusCode)
	require.Contains(t, readBody(t, c.resp), `"code":"Unsupported"`)
}

// PROTOCOL.md: "Upgrades whose Origin is not the server's own or on the
// configured allow list are refused with 403."
func TestOriginCheck(t *testing.T) {
	tc := newTestCluster(t, 1, Config{AllowedOrigins: []string{"https://app.example.com"}}, nil)
	tc.waitLeader()
	srv := tc.servers[0].URL
	u, _ := url.Parse(srv)
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{srv, true},                       // the server's own
		{"https://app.example.com", true}, // on the allow list
		{"http://evil.example", false},    // neither
		{"https://" + u.Host, false},      // own host, other scheme
		{"http://app.example.com", false}, // allowed host, other scheme
		{"http://127.0.0.1:1", false},     // other port
		{"null", false},                   // sandboxed page
	} {
		c, err := dial(t, srv, newJar(t), http.Header{"Origin": {tt.origin}}, "")
		if tt.ok {
			require.NoError(t, err, tt.origin)
			continue
		}
		require.ErrorIs(t, err, websocket.ErrBadHandshake, tt.origin)
		require.Equal(t, http.StatusForbidden, c.resp.StatusCode, tt.origin)
		require.Nil(t, sessionCookie(c.resp), "a refused upgrade opens no session")
	}
}

func TestActionsAndCodes(t *testing.T) {
	tc := newTestCluster(t, 1, Config{}, nil)
	tc.waitLeader()
	a := mustDial(t, tc.servers[0].URL, newJar(t))
	b := mustDial(t, tc.servers[0].URL, newJar(t))

	empty := a.ok(msg{"action": "get", "path": "/data/list"})
	require.Equal(t, float64(0), empty["version"])
	require.Empty(t, items(empty))

	data := map[string]any{"name": "a", "n": float64(3), "tags": []any{"x", true, nil}}
	p1 := a.ok(msg{"action": "push", "path": "/data/list", "data": data})
	it1 := p1["item"].(map[string]any)
	require.Equal(t, data, it1["data"])
	require.Equal(t, a.hello["session"], it1["owner"])
	require.Equal(t, it1["version"], it1["modified"])
	require.Equal(t, it1["version"], p1["version"])
	require.Equal(t, []msg{it1}, items(p1))

	p2 := b.ok(msg{"action": "push", "path": "/data/list", "data": "b's"})
	it2 := p2["item"].(map[string]any)
	require.Greater(t, num(it2["version"]), num(it1["version"]))

	got := a.ok(msg{"action": "get", "path": "/data/list", "consistency": "stale"})
	require.Equal(t, []msg{it1, it2}, items(got))

	up := a.ok(msg{"action": "update", "path": "/data/list", "item": it1["version"], "data": 42, "if_version": p2["version"]})
	require.Equal(t, float64(42), up["item"].(map[string]any)["data"])
	require.Equal(t, it1["version"], up["item"].(map[string]any)["version"])
	require.Greater(t, num(up["item"].(map[string]any)["modified"]), num(it1["modified"]))

	del := b.ok(msg{"action": "delete", "path": "/data/list", "item": it2["version"]})
	require.Len(t, items(del), 1)
	require.Nil(t, del["item"], "delete answers items and version only")

	a.ok(msg{"action": "ping"})
	w := a.ok(msg{"action": "watch", "path": "/data/list"})
	require.Equal(t, del["version"], w["version"])
	a.ok(msg{"action": "unwatch", "path": "/data/list"})

	for _, tt := range []struct {
		req  msg
		code string
	}{
		{msg{"action": "get", "path": "/nope"}, "InvalidParameter"},
		{msg{"action": "get", "path": "/data/a/../b"}, "InvalidParameter"},
		{msg{"action": "get", "path": "/data/x", "consistency": "eventual"}, "InvalidParameter"},
		{msg{"action": "push", "path": "/data/list", "data": 1, "if_version": -1}, "InvalidParameter"},
		{msg{"action": "update", "path": "/data/list", "data": 1}, "InvalidParameter"},
		{msg{"action": "push", "path": "/data/list"}, "InvalidParameter"}, // data is not optional; null is data
		{msg{"action": "update", "path": "/data/list", "item": it1["version"]}, "InvalidParameter"},
		{msg{"action": "frobnicate", "path": "/data/list"}, "Unsupported"},
		{msg{"path": "/data/list"}, "InvalidParameter"},
		{msg{"action": "update", "path": "/data/list", "item": 999999, "data": 1}, "NotFound"},
		{msg{"action": "delete", "path": "/data/list", "item": it1["version"]}, "Forbidden"}, // b is not the owner
		{msg{"action": "push", "path": "/data/list", "data": 1, "if_version": 1}, "Conflict"},
		{msg{"action": "push", "path": "/data/list", "data": strings.Repeat("x", 70000)}, "TooLarge"},
	} {
		ans := b.do(tt.req)
		require.Equal(t, tt.code, ans["code"], "%v → %v", tt.req, ans)
		require.NotEmpty(t, ans["message"], "a failure says why")
		require.NotNil(t, ans["rid"])
	}
	// A message that is not JSON still gets an answer.
	require.NoError(t, b.conn.WriteMessage(websocket.TextMessage, []byte("{not json")))
	ans := b.wait("")
	require.Equal(t, "InvalidParameter", ans["code"])

	// close answers, then the server closes the socket; the session is
	// over: a second socket of it hears SessionExpired and is closed.
	jar := newJar(t)
	c1 := mustDial(t, tc.servers[0].URL, jar)
	c2 := mustDial(t, tc.servers[0].URL, jar)
	require.Equal(t, true, c2.hello["resumed"])
	c1.ok(msg{"action": "close"})
	var ce *websocket.CloseError
	require.ErrorAs(t, c1.closeError(), &ce)
	require.Equal(t, websocket.CloseNormalClosure, ce.Code)
	expired := c2.do(msg{"action": "get", "path": "/data/list"})
	require.Equal(t, "SessionExpired", expired["code"])
	require.ErrorAs(t, c2.closeError(), &ce)
	require.Equal(t, CloseSessionExpired, ce.Code)
}

// Without a quorum a write cannot commit: after the node's request timeout
// it is answered Unavailable, with a message, and the socket stays usable.
func TestUnavailableWithoutQuorum(t *testing.T) {
	tc := newTestCluster(t, 3, Config{}, func(c *session.Config) { c.RequestTimeoutMs = 500 })
	leader := tc.waitLeader()
	var survivor *testNode
	for _, n := range tc.nodes {
		if n != leader {
			survivor = n
		}
	}
	var srv string
	for i, n := range tc.nodes {
		if n == survivor {
			srv = tc.servers[i].URL
		}
	}
	c := mustDial(t, srv, newJar(t))
	c.ok(msg{"action": "push", "path": "/data/q", "data": 1})
	for _, n := range tc.nodes {
		if n != survivor {
			n.crash()
		}
	}
	a := c.do(msg{"action": "push", "path": "/data/q", "data": 2})
	require.Equal(t, "Unavailable", a["code"])
	require.NotEmpty(t, a["message"])
	stale := c.ok(msg{"action": "get", "path": "/data/q", "consistency": "stale"})
	require.Len(t, items(stale), 1, "a stale read is served from the node's own state")
}

func TestOrigins(t *testing.T) {
	require.Equal(t, []string{
		"http://127.0.0.1:7481", "http://localhost:7481", "http://[::1]:7481", "http://10.0.0.5:7482",
	}, Origins([]string{"127.0.0.1:7481", "10.0.0.5:7482", "not an address"}, false))
	require.Equal(t, []string{"https://h.example:443"}, Origins([]string{"h.example:443"}, true))
}

func TestNumberRIDEchoed(t *testing.T) {
	tc := newTestCluster(t, 1, Config{}, nil)
	tc.waitLeader()
	c := mustDial(t, tc.servers[0].URL, newJar(t))
	c.mu.Lock()
	c.answer["7"] = make(chan msg, 1)
	c.mu.Unlock()
	require.NoError(t, c.conn.WriteMessage(websocket.TextMessage, []byte(`{"rid":"7","action":"ping"}`)))
	require.Equal(t, "OK", c.wait("7")["code"])
}

// PROTOCOL.md: events arrive "in log order, with no gaps and no duplicates".
func TestNotifyOrder(t *testing.T) {
	tc := newTestCluster(t, 3, Config{AllowedOrigins: []string{"*"}}, nil)
	tc.waitLeader()
	watcher := mustDial(t, tc.servers[2].URL, newJar(t))
	w := watcher.ok(msg{"action": "watch", "path": "/data/order"})
	require.Equal(t, float64(0), w["version"])

	writer := mustDial(t, tc.servers[1].URL, newJar(t))
	var want []string
	var rids []string
	for i := range 40 {
		rids = append(rids, writer.send(msg{"action": "push", "path": "/data/order", "data": i}))
	}
	for _, rid := range rids {
		a := writer.wait(rid)
		require.Equal(t, "OK", a["code"])
		want = append(want, "push "+toJSON(a["version"]))
	}
	first := writer.ok(msg{"action": "get", "path": "/data/order"})
	its := items(first)
	up := writer.ok(msg{"action": "update", "path": "/data/order", "item": its[3]["version"], "data": "changed"})
	want = append(want, "update "+toJSON(up["version"]))
	del := writer.ok(msg{"action": "delete", "path": "/data/order", "item": its[5]["version"]})
	want = append(want, "delete "+toJSON(del["version"]))

	var got []string
	for range want {
		n := watcher.nextNotify()
		require.Equal(t, "/data/order", n["path"])
		got = append(got, n["kind"].(string)+" "+toJSON(n["version"]))
	}
	require.Equal(t, want, got)
	watcher.noNotify(100 * time.Millisecond)

	// The writer's session ends: its 39 remaining items go in one entry,
	// every event with that entry's index.
	writer.ok(msg{"action": "close"})
	var ends []uint64
	for range 39 {
		n := watcher.nextNotify()
		require.Equal(t, "delete", n["kind"])
		ends = append(ends, num(n["version"]))
	}
	for _, v := range ends {
		require.Equal(t, ends[0], v)
	}
	require.Greater(t, ends[0], num(del["version"]))

	// A watch again with since = a version seen gets what came after.
	late := mustDial(t, tc.servers[0].URL, newJar(t))
	again := late.ok(msg{"action": "watch", "path": "/data/order", "since": del["version"]})
	require.Nil(t, again["reset"])
	for range 39 {
		require.Equal(t, float64(ends[0]), late.nextNotify()["version"])
	}
	late.noNotify(100 * time.Millisecond)
}

// PROTOCOL.md: ttl_ms is "clamped to the server's [min_ttl_ms,
// max_ttl_ms]"; 0 asks for less than the minimum, absent is the default.
func TestUpgradeTTLIsClamped(t *testing.T) {
	tc := newTestCluster(t, 1, Config{}, nil)
	tc.waitLeader()
	for query, want := range map[string]float64{"ttl_ms=0": 500, "ttl_ms=100": 500, "ttl_ms=60001": 60000, "ttl_ms=2000": 2000, "": 5000} {
		c, err := dial(t, tc.servers[0].URL, newJar(t), nil, query)
		require.NoError(t, err, query)
		require.Equal(t, want, c.hello["ttl_ms"], query)
	}
}

// The edge keeps the session alive while the socket is open: the client
// here sends nothing for several ttls (gorilla answers the edge's pings).
func TestOpenSocketKeepsSessionAlive(t *testing.T) {
	tc := newTestCluster(t, 1, Config{TTLms: 1500}, nil)
	tc.waitLeader()
	c := mustDial(t, tc.servers[0].URL, newJar(t))
	require.Equal(t, float64(1500), c.hello["ttl_ms"])
	c.ok(msg{"action": "push", "path": "/data/alive", "data": 1})
	time.Sleep(4500 * time.Millisecond) // three ttls
	got := c.ok(msg{"action": "get", "path": "/data/alive"})
	require.Len(t, items(got), 1)

	// Once the socket is gone, the session expires within its ttl and its
	// item goes with it.
	watcher := mustDial(t, tc.servers[0].URL, newJar(t))
	watcher.ok(msg{"action": "watch", "path": "/data/alive"})
	require.NoError(t, c.conn.Close())
	n := watcher.nextNotify()
	require.Equal(t, "delete", n["kind"])
}

// PROTOCOL.md: "Any message from the client keeps its session alive" —
// also one refused here, which never reaches the node. A client that sends
// only such messages, more often than the socket's pings come, keeps its
// session (the edge pings it at the next pong instead).
func TestRefusedMessagesKeepTheSessionAlive(t *testing.T) {
	tc := newTestCluster(t, 1, Config{TTLms: 600}, nil)
	tc.waitLeader()
	c := mustDial(t, tc.servers[0].URL, newJar(t))
	c.ok(msg{"action": "push", "path": "/data/talk", "data": 1})
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		ans := c.do(msg{"action": "frobnicate"})
		require.Equal(t, "Unsupported", ans["code"])
		time.Sleep(50 * time.Millisecond)
	}
	got := c.ok(msg{"action": "get", "path": "/data/talk"})
	require.Len(t, items(got), 1, "the session and its item outlived three ttls of refused messages")
}

// A client that does not answer the server's pings (a script, not a
// browser) keeps its session with whatever it sends: PROTOCOL.md's "Any
// message from the client keeps its session alive" covers messages the
// edge refuses itself and WebSocket ping frames as much as requests. One
// that sends nothing loses it after its ttl, which shows that the pongs,
// not the pings, kept the others alive.
func TestEveryMessageOfAClientThatIgnoresPingsKeepsItsSession(t *testing.T) {
	tc := newTestCluster(t, 1, Config{TTLms: 600}, nil)
	tc.waitLeader()
	reader := mustDial(t, tc.servers[0].URL, newJar(t))
	for _, tt := range []struct {
		name  string
		speak func(c *wsClient)
		alive bool
	}{
		{"refused requests", func(c *wsClient) { require.Equal(t, "Unsupported", c.do(msg{"action": "frobnicate"})["code"]) }, true},
		{"bad JSON", func(c *wsClient) {
			require.NoError(t, c.conn.WriteMessage(websocket.TextMessage, []byte("{bad")))
		}, true},
		{"ping frames", func(c *wsClient) {
			require.NoError(t, c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)))
		}, true},
		{"nothing", func(*wsClient) {}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dialWith(t, tc.servers[0].URL, newJar(t), nil, "", func(conn *websocket.Conn) {
				conn.SetPingHandler(func(string) error { return nil }) // no pong
			})
			require.NoError(t, err)
			path := "/data/ignores-pings-" + strings.ReplaceAll(tt.name, " ", "-")
			c.ok(msg{"action": "push", "path": path, "data": 1})
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
				tt.speak(c)
				time.Sleep(50 * time.Millisecond)
			}
			got := reader.ok(msg{"action": "get", "path": path})
			if tt.alive {
				require.Len(t, items(got), 1, "the session and its item outlived three ttls")
			} else {
				require.Empty(t, items(got), "a client silent for three ttls kept its session")
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Run("message size", func(t *testing.T) {
		tc := newTestCluster(t, 1, Config{MaxMessageBytes: 1000}, nil)
		tc.waitLeader()
		c := mustDial(t, tc.servers[0].URL, newJar(t))
		c.ok(msg{"action": "push", "path": "/data/s", "data": strings.Repeat("x", 800)})
		c.send(msg{"action": "push", "path": "/data/s", "data": strings.Repeat("x", 2000)})
		ans := c.wait("")
		require.Equal(t, "TooLarge", ans["code"])
		var ce *websocket.CloseError
		require.ErrorAs(t, c.closeError(), &ce)
		require.Equal(t, websocket.CloseMessageTooBig, ce.Code)
		require.Contains(t, ce.Text, "1000 bytes")
	})
	t.Run("requests per second", func(t *testing.T) {
		tc := newTestCluster(t, 1, Config{RequestsPerSecond: 1, Burst: 5}, nil)
		tc.waitLeader()
		c := mustDial(t, tc.servers[0].URL, newJar(t))
		var rids []string
		for range 20 {
			rids = append(rids, c.send(msg{"action": "ping"}))
		}
		codes := map[string]int{}
		for _, rid := range rids {
			a := c.wait(rid)
			codes[a["code"].(string)]++
			if a["code"] == "Unavailable" {
				require.Contains(t, a["message"], "requests per second")
			}
		}
		require.Equal(t, map[string]int{"OK": 5, "Unavailable": 15}, codes)
		time.Sleep(1100 * time.Millisecond)
		c.ok(msg{"action": "ping"}) // the connection carries on
	})
	t.Run("connections per node", func(t *testing.T) {
		tc := newTestCluster(t, 1, Config{MaxConnections: 2}, nil)
		tc.waitLeader()
		mustDial(t, tc.servers[0].URL, newJar(t))
		second := mustDial(t, tc.servers[0].URL, newJar(t))
		c, err := dial(t, tc.servers[0].URL, newJar(t), nil, "")
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.Equal(t, http.StatusServiceUnavailable, c.resp.StatusCode)
		require.Contains(t, readBody(t, c.resp), `"code":"Unavailable"`)
		require.NoError(t, second.conn.Close())
		require.Eventually(t, func() bool {
			_, err := dial(t, tc.servers[0].URL, newJar(t), nil, "")
			return err == nil
		}, 5*time.Second, 50*time.Millisecond, "a closed connection frees its slot")
	})
	t.Run("node intake full", func(t *testing.T) {
		tc := newTestCluster(t, 1, Config{}, nil)
		tc.waitLeader()
		c := mustDial(t, tc.servers[0].URL, newJar(t))
		tc.nodes[0].intake.Store(0) // Submit now says the loop is full
		a := c.do(msg{"action": "ping"})
		require.Equal(t, "Unavailable", a["code"])
		require.Contains(t, a["message"], "overloaded")
	})
	t.Run("slow reader", func(t *testing.T) {
		tc := newTestCluster(t, 1, Config{MaxQueuedMessages: 20, WriteTimeout: time.Second}, nil)
		tc.waitLeader()
		// A raw gorilla connection that never reads.
		d := websocket.Dialer{Jar: newJar(t)}
		slow, _, err := d.Dial(wsURL(tc.servers[0].URL, ""), nil)
		require.NoError(t, err)
		defer slow.Close()
		var paths []string
		for i := range 10 {
			paths = append(paths, "/data/flood"+string(rune('a'+i)))
			require.NoError(t, slow.WriteJSON(msg{"rid": "w", "action": "watch", "path": paths[i]}))
		}

		// Rounds of a 60 KB push to each path, then their deletes: 400
		// events of 60 KB for the reader that never reads, small answers
		// for the writer.
		writer := mustDial(t, tc.servers[0].URL, newJar(t))
		big := strings.Repeat("y", 60000)
		for range 20 {
			var rids []string
			for _, p := range paths {
				rids = append(rids, writer.send(msg{"action": "push", "path": p, "data": big}))
			}
			var dels []string
			for i, rid := range rids {
				a := writer.wait(rid)
				require.Equal(t, "OK", a["code"])
				dels = append(dels, writer.send(msg{"action": "delete", "path": paths[i], "item": a["item"].(map[string]any)["version"]}))
			}
			for _, rid := range dels {
				require.Equal(t, "OK", writer.wait(rid)["code"])
			}
		}
		// The node keeps serving others, and the slow connection is closed:
		// reading it now ends in a close (with its reason) or a reset.
		writer.ok(msg{"action": "get", "path": "/data/other"})
		_ = slow.SetReadDeadline(time.Now().Add(30 * time.Second))
		var readErr error
		for readErr == nil {
			_, _, readErr = slow.ReadMessage()
		}
		var ce *websocket.CloseError
		if errors.As(readErr, &ce) {
			// With room in the socket the close says why; with none, the
			// server can only drop the connection (1006, no close frame).
			require.Contains(t, []int{CloseSlowReader, websocket.CloseAbnormalClosure}, ce.Code)
			if ce.Code == CloseSlowReader {
				require.Contains(t, ce.Text, "slow reader")
			}
		} else {
			var ne interface{ Timeout() bool }
			require.False(t, errors.As(readErr, &ne) && ne.Timeout(), "the server closed the connection: %v", readErr)
		}
	})
}
