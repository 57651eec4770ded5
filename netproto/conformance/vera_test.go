package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

type ws struct {
	t    *testing.T
	c    *websocket.Conn
	resp *http.Response
	rid  int
	evs  []M
}

func wsDial(t *testing.T, node int, query string, cookie *http.Cookie, origin string) (*ws, *http.Response, error) {
	h := http.Header{}
	if cookie != nil {
		h.Set("Cookie", cookie.Name+"="+cookie.Value)
	}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+httpAddr(node)+"/ws"+query, h)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { c.Close() })
	return &ws{t: t, c: c, resp: resp}, resp, nil
}

func (w *ws) read() (M, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(15 * time.Second))
	var m M
	err := w.c.ReadJSON(&m)
	return m, err
}

// call sends one request and returns its answer, keeping notify events aside.
func (w *ws) call(m M) M {
	w.rid++
	rid := fmt.Sprintf("r%d", w.rid)
	m["rid"] = rid
	require.NoError(w.t, w.c.WriteJSON(m))
	for {
		a, err := w.read()
		require.NoError(w.t, err)
		if a["action"] == "notify" {
			require.NotContains(w.t, a, "rid", "events arrive without rid")
			w.evs = append(w.evs, a)
			continue
		}
		require.Equal(w.t, rid, a["rid"], "%v", a)
		require.IsType(w.t, "", a["code"])
		if a["code"] != "OK" {
			require.IsType(w.t, "", a["message"], "message when code is not OK")
		}
		return a
	}
}

func (w *ws) events(n int) []M {
	for len(w.evs) < n {
		a, err := w.read()
		require.NoError(w.t, err)
		require.Equal(w.t, "notify", a["action"], "%v", a)
		w.evs = append(w.evs, a)
	}
	e := w.evs[:n]
	w.evs = w.evs[n:]
	return e
}

func cookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "haven_session" {
			return c
		}
	}
	return nil
}

func TestVeraSessionAndHello(t *testing.T) {
	st, _, err := getStatus(1)
	require.NoError(t, err)
	w, resp, err := wsDial(t, 1, "?version=1", nil, "")
	require.NoError(t, err)
	ck := cookieOf(resp)
	require.NotNil(t, ck, "the cookie is set on the 101 response")
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	require.Equal(t, "/", ck.Path)
	require.False(t, ck.Secure, "Secure only under TLS")
	hello, err := w.read()
	require.NoError(t, err)
	require.Equal(t, "hello", hello["action"])
	require.IsType(t, "", hello["session"])
	require.Equal(t, float64(5000), hello["ttl_ms"])
	require.Equal(t, "n1", hello["node"])
	require.Equal(t, st.LeaderAddress, hello["leader"])
	require.Equal(t, false, hello["resumed"])
	p := path("vera")
	a := w.call(M{"action": "push", "path": p, "data": M{"a": []any{1.0, "b"}}})
	require.Equal(t, "OK", a["code"])
	require.Contains(t, a, "item")
	require.Contains(t, a, "items")
	require.Contains(t, a, "version")

	// resume with the cookie on another node: same session, resumed true.
	w2, _, err := wsDial(t, 2, "", ck, "")
	require.NoError(t, err)
	h2, err := w2.read()
	require.NoError(t, err)
	require.Equal(t, hello["session"], h2["session"])
	require.Equal(t, true, h2["resumed"])
	g := w2.call(M{"action": "get", "path": p})
	require.Len(t, g["items"], 1)

	// close: answered, then the socket is closed; the session is ended.
	a = w2.call(M{"action": "close"})
	require.Equal(t, "OK", a["code"])
	_, err = w2.read()
	require.Error(t, err)

	// cookie of an ended session: a new session, resumed false.
	w3, resp, err := wsDial(t, 3, "", ck, "")
	require.NoError(t, err)
	h3, err := w3.read()
	require.NoError(t, err)
	require.Equal(t, false, h3["resumed"])
	require.NotEqual(t, hello["session"], h3["session"])
	require.NotNil(t, cookieOf(resp), "a new session sets a new cookie")
}

func TestVeraActionsAndNotify(t *testing.T) {
	w, _, err := wsDial(t, 2, "", nil, "")
	require.NoError(t, err)
	hello, _ := w.read()
	o, _, err := wsDial(t, 3, "", nil, "")
	require.NoError(t, err)
	_, _ = o.read()
	p := path("notify")
	a := w.call(M{"action": "watch", "path": p})
	require.Equal(t, "OK", a["code"])
	require.Equal(t, float64(0), a["version"])
	require.Contains(t, a, "items")
	a = o.call(M{"action": "push", "path": p, "data": "x"})
	require.Equal(t, "OK", a["code"])
	it := a["item"].(map[string]any)
	a = o.call(M{"action": "update", "path": p, "item": it["version"], "data": "y"})
	require.Equal(t, "OK", a["code"])
	require.Equal(t, "y", a["item"].(map[string]any)["data"])
	requireCode := func(a M, c string) { t.Helper(); require.Equal(t, c, a["code"], "%v", a) }
	requireCode(w.call(M{"action": "update", "path": p, "item": it["version"], "data": "z"}), "Forbidden")
	requireCode(w.call(M{"action": "delete", "path": p, "item": it["version"]}), "Forbidden")
	requireCode(o.call(M{"action": "push", "path": p, "data": 1, "if_version": 1}), "Conflict")
	requireCode(o.call(M{"action": "push", "path": "/nope", "data": 1}), "InvalidParameter")
	requireCode(o.call(M{"action": "push", "path": p, "data": strings.Repeat("x", 70000)}), "TooLarge")
	requireCode(o.call(M{"action": "dance"}), "Unsupported")
	a = o.call(M{"action": "delete", "path": p, "item": it["version"]})
	requireCode(a, "OK")
	require.Contains(t, a, "items")
	require.Contains(t, a, "version")
	requireCode(o.call(M{"action": "ping"}), "OK")
	g := o.call(M{"action": "get", "path": p, "consistency": "stale"})
	requireCode(g, "OK")
	evs := w.events(3)
	for i, k := range []string{"push", "update", "delete"} {
		require.Equal(t, k, evs[i]["kind"])
		require.Equal(t, p, evs[i]["path"])
		require.Contains(t, evs[i], "version")
		require.Contains(t, evs[i], "item")
	}
	require.Equal(t, g["version"], evs[2]["version"])
	// since: replay
	a = o.call(M{"action": "watch", "path": p, "since": evs[0]["version"]})
	requireCode(a, "OK")
	require.NotEqual(t, true, a["reset"])
	require.Len(t, o.events(2), 2)
	requireCode(w.call(M{"action": "unwatch", "path": p}), "OK")
	_ = hello
}

func TestVeraInvalidCookie(t *testing.T) {
	w, resp, err := wsDial(t, 2, "", &http.Cookie{Name: "haven_session", Value: "not-a-token"}, "")
	require.NoError(t, err)
	require.NotNil(t, cookieOf(resp), "an upgrade without a valid cookie sets one")
	h, err := w.read()
	require.NoError(t, err)
	require.Equal(t, false, h["resumed"])
}

func TestVeraOrigin(t *testing.T) {
	_, resp, err := wsDial(t, 1, "", nil, "http://evil.example")
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, 403, resp.StatusCode)
	w, _, err := wsDial(t, 1, "", nil, "http://"+httpAddr(1))
	require.NoError(t, err, "the server's own origin")
	h, err := w.read()
	require.NoError(t, err)
	require.Equal(t, "hello", h["action"])
	_, resp, err = wsDial(t, 1, "?version=2", nil, "")
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, 400, resp.StatusCode)
}

func TestHTTPRead(t *testing.T) {
	c, _ := connect(t, 1, nil)
	p := path("http")
	a := c.call(M{"action": "query", "type": "create", "path": p, "data": M{"n": 1}})
	requireOK(t, a)
	v := u(a["version"])
	hc := http.Client{Timeout: 5 * time.Second}
	for _, q := range []string{"", "?version=1", "?consistency=stale"} {
		resp, err := hc.Get("http://" + httpAddr(2) + p + q)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "%s %s", q, body)
		var got struct {
			Items   []M    `json:"items"`
			Version uint64 `json:"version"`
		}
		require.NoError(t, json.Unmarshal(body, &got))
		require.Len(t, got.Items, 1)
		require.Equal(t, v, got.Version)
		require.Contains(t, []string{fmt.Sprintf("%d", v), fmt.Sprintf("%q", fmt.Sprint(v)), fmt.Sprintf("W/%q", fmt.Sprint(v))}, resp.Header.Get("ETag"), "an ETag of the list version")
		for _, k := range []string{"version", "modified", "owner", "data"} {
			require.Contains(t, got.Items[0], k)
		}
		req, _ := http.NewRequest("GET", "http://"+httpAddr(2)+p+q, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		r2, err := hc.Do(req)
		require.NoError(t, err)
		r2.Body.Close()
		require.Equal(t, 304, r2.StatusCode)
	}
	resp, err := hc.Get("http://" + httpAddr(2) + "/data/never-" + fmt.Sprint(uniq))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.JSONEq(t, `{"items":[],"version":0}`, string(body), "a path never written is an empty list with list version 0")
	for _, bad := range []string{"/data/a%20b", "/data/a/..x/%2e%2e", "/data/" + strings.Repeat("a", 129)} {
		resp, err := hc.Get("http://" + httpAddr(2) + bad)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 400, resp.StatusCode, "%s: %s", bad, body)
		var e M
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, "InvalidParameter", e["code"])
		require.IsType(t, "", e["message"])
	}
}

func TestStatus(t *testing.T) {
	// "Version: ?version=1 on the upgrade or on HTTP requests; none means the latest."
	for q, want := range map[string]int{"?version=1": 200, "?version=2": 400} {
		resp, err := http.Get("http://" + httpAddr(1) + "/v1/status" + q)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, "%s: %s", q, body)
		if want == 400 {
			var e M
			require.NoError(t, json.Unmarshal(body, &e))
			require.Equal(t, "Unsupported", e["code"])
			require.IsType(t, "", e["message"])
		}
	}
	for i := 1; i <= 3; i++ {
		resp, err := http.Get("http://" + httpAddr(i) + "/v1/status")
		require.NoError(t, err)
		require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
		resp.Body.Close()
		st, raw, err := getStatus(i)
		require.NoError(t, err)
		for _, k := range []string{"node", "role", "term", "leader", "leader_address", "commit", "applied", "group", "sessions", "watches", "haven_address", "http_address", "members"} {
			require.Contains(t, raw, k)
		}
		require.Equal(t, fmt.Sprintf("n%d", i), st.Node)
		require.Equal(t, havenAddr(i), st.HavenAddress)
		require.Equal(t, httpAddr(i), st.HTTPAddress)
		require.Len(t, raw["members"], 3)
		for _, m := range raw["members"].([]any) {
			for _, k := range []string{"id", "role", "address", "http_address", "match"} {
				require.Contains(t, m, k)
			}
		}
	}
}

// "the cookie haven_session holds the token" and "Whoever presents the token
// is that session": a Vera session resumes over Haven with the cookie's value.
func TestVeraCookieIsTheToken(t *testing.T) {
	w, resp, err := wsDial(t, 1, "", nil, "")
	require.NoError(t, err)
	h, err := w.read()
	require.NoError(t, err)
	p := path("cookie")
	require.Equal(t, "OK", w.call(M{"action": "push", "path": p, "data": "v"})["code"])
	ck := cookieOf(resp)
	require.NotNil(t, ck)
	c, a := connect(t, 3, M{"session": ck.Value})
	require.Equal(t, h["session"], a["session"])
	r := c.call(M{"action": "query", "type": "read", "path": p})
	require.Equal(t, h["session"], r["items"].([]any)[0].(map[string]any)["owner"])

	// If-None-Match that does not match: 200.
	req, _ := http.NewRequest("GET", "http://"+httpAddr(1)+p, nil)
	req.Header.Set("If-None-Match", `"1"`)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
}

// A dropped socket does not end the session at once; not heard from for
// its ttl, it expires and its items go, and a watcher is notified.
func TestVeraSessionExpiry(t *testing.T) {
	p := path("veraexp")
	watcher, _, err := wsDial(t, 1, "", nil, "")
	require.NoError(t, err)
	_, _ = watcher.read()
	require.Equal(t, "OK", watcher.call(M{"action": "watch", "path": p})["code"])
	w, _, err := wsDial(t, 2, "?ttl_ms=500", nil, "")
	require.NoError(t, err)
	h, _ := w.read()
	require.Equal(t, float64(500), h["ttl_ms"])
	require.Equal(t, "OK", w.call(M{"action": "push", "path": p, "data": 1})["code"])
	require.NoError(t, w.c.UnderlyingConn().Close())
	evs := watcher.events(2)
	require.Equal(t, "push", evs[0]["kind"])
	require.Equal(t, "delete", evs[1]["kind"])
	require.Equal(t, h["session"], evs[1]["item"].(map[string]any)["owner"])
}
