package websvc

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	if resp == nil || resp.Body == nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func httpDo(t testing.TB, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp, readBody(t, resp)
}

// PROTOCOL.md: "GET /data/foo/bar answers 200 with {"items": [...],
// "version": n}, an ETag of the list version, and 304 to a matching
// If-None-Match; ?consistency=stale as above. An invalid path is 400 with
// {"code": "InvalidParameter", "message": ...}."
func TestHTTPRead(t *testing.T) {
	tc := newTestCluster(t, 3, Config{AllowedOrigins: []string{"http://app.example"}}, nil)
	tc.waitLeader()
	base := tc.servers[1].URL // a follower or the leader: any node reads
	c := mustDial(t, tc.servers[0].URL, newJar(t))
	pushed := c.ok(msg{"action": "push", "path": "/data/h/list", "data": map[string]any{"k": []any{1.5, "v"}}})

	resp, body := httpDo(t, "GET", base+"/data/h/list", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var got struct {
		Items   []map[string]any `json:"items"`
		Version uint64           `json:"version"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.Equal(t, num(pushed["version"]), got.Version)
	require.Equal(t, []map[string]any{pushed["item"].(map[string]any)}, got.Items)
	etag := resp.Header.Get("ETag")
	require.Equal(t, `"`+strconv.FormatUint(got.Version, 10)+`"`, etag)
	require.Contains(t, body, `"data":{"k":[1.5,"v"]}`)

	resp, body = httpDo(t, "GET", base+"/data/h/list", http.Header{"If-None-Match": {etag}})
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
	require.Empty(t, body)
	require.Equal(t, etag, resp.Header.Get("ETag"))

	resp, _ = httpDo(t, "GET", base+"/data/h/list", http.Header{"If-None-Match": {`"1"`}})
	require.Equal(t, http.StatusOK, resp.StatusCode, "a stale etag gets the list")

	resp, body = httpDo(t, "HEAD", base+"/data/h/list", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, body)
	require.Equal(t, etag, resp.Header.Get("ETag"))
	require.NotEmpty(t, resp.Header.Get("Content-Length"))

	resp, _ = httpDo(t, "GET", base+"/data/h/list", http.Header{"Origin": {"http://app.example"}})
	require.Equal(t, "http://app.example", resp.Header.Get("Access-Control-Allow-Origin"), "an allowed origin may read")
	resp, _ = httpDo(t, "GET", base+"/data/h/list", http.Header{"Origin": {"http://evil.example"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "another origin's page may not read the answer")

	resp, body = httpDo(t, "GET", base+"/data/h/list?consistency=stale", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `"items":[`)

	resp, body = httpDo(t, "GET", base+"/data/never/written", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"items":[],"version":0}`, body)

	for _, bad := range []string{"/data", "/data/", "/data//x", "/data/a/../b", "/data/a%2Fb", "/data/" + strings.Repeat("x", 129), "/data/sp%20ace"} {
		resp, body = httpDo(t, "GET", base+bad, nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, bad)
		var e map[string]string
		require.NoError(t, json.Unmarshal([]byte(body), &e), bad)
		require.Equal(t, "InvalidParameter", e["code"], bad)
		require.NotEmpty(t, e["message"], bad)
	}
	resp, body = httpDo(t, "GET", base+"/data/h/list?consistency=maybe", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "InvalidParameter")
	// PROTOCOL.md: "?version=1 on the upgrade or on HTTP requests": an
	// unknown one is refused on every path, the dashboard's included.
	for _, p := range []string{"/data/h/list", "/", "/ws"} {
		resp, body = httpDo(t, "GET", base+p+"?version=2", nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, p)
		require.Contains(t, body, `"code":"Unsupported"`, p)
	}
	resp, _ = httpDo(t, "GET", base+"/data/h/list?version=1", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = httpDo(t, "POST", base+"/data/h/list", nil)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

type sseEvent struct {
	id   string
	data map[string]any
}

func readSSE(t testing.TB, r *bufio.Reader, events chan<- sseEvent) {
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			close(events)
			return
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.data != nil {
				events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			require.NoError(t, json.Unmarshal([]byte(line[6:]), &ev.data))
		}
	}
}

func openSSE(t testing.TB, url string, header http.Header) (*http.Response, chan sseEvent) {
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := make(chan sseEvent, 100)
	go readSSE(t, bufio.NewReader(resp.Body), events)
	t.Cleanup(func() { resp.Body.Close() })
	return resp, events
}

func nextEvent(t testing.TB, events chan sseEvent) sseEvent {
	select {
	case ev, ok := <-events:
		require.True(t, ok, "the stream ended")
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return sseEvent{}
}

func TestSSEWatchAndResume(t *testing.T) {
	tc := newTestCluster(t, 1, Config{}, nil)
	tc.waitLeader()
	base := tc.servers[0].URL
	c := mustDial(t, base, newJar(t))
	first := c.ok(msg{"action": "push", "path": "/data/sse", "data": "one"})

	resp, events := openSSE(t, base+"/data/sse?watch=1", nil)
	state := nextEvent(t, events)
	require.Equal(t, "state", state.data["action"])
	require.Equal(t, toJSON(first["version"]), state.id)
	require.Len(t, state.data["items"], 1)

	second := c.ok(msg{"action": "push", "path": "/data/sse", "data": "two"})
	ev := nextEvent(t, events)
	require.Equal(t, "notify", ev.data["action"])
	require.Equal(t, "push", ev.data["kind"])
	require.Equal(t, toJSON(second["version"]), ev.id)
	require.Equal(t, "two", ev.data["item"].(map[string]any)["data"])
	lastSeen := ev.id
	resp.Body.Close()

	// While the client is away, two more changes; it comes back with
	// Last-Event-ID and gets exactly those, in order.
	third := c.ok(msg{"action": "push", "path": "/data/sse", "data": "three"})
	del := c.ok(msg{"action": "delete", "path": "/data/sse", "item": first["item"].(map[string]any)["version"]})
	_, events = openSSE(t, base+"/data/sse?watch=1", http.Header{"Last-Event-ID": {lastSeen}})
	ev = nextEvent(t, events)
	require.Equal(t, "notify", ev.data["action"], "no state event on a resume that has every event")
	require.Equal(t, toJSON(third["version"]), ev.id)
	ev = nextEvent(t, events)
	require.Equal(t, "delete", ev.data["kind"])
	require.Equal(t, toJSON(del["version"]), ev.id)

	// Each stream had a session of its own, closed when it ended: only
	// the WebSocket's session and the open stream's remain.
	require.Eventually(t, func() bool { return tc.nodes[0].Status().Sessions == 2 }, 5*time.Second, 20*time.Millisecond)

	head, _ := httpDo(t, "HEAD", base+"/data/sse?watch=1", nil)
	require.Equal(t, http.StatusOK, head.StatusCode)
	require.Equal(t, "application/json", head.Header.Get("Content-Type"), "HEAD of a watch is the read's headers")
	require.Equal(t, `"`+toJSON(del["version"])+`"`, head.Header.Get("ETag"))

	resp, body := httpDo(t, "GET", base+"/data/sse?watch=1", http.Header{"Last-Event-ID": {"abc"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "InvalidParameter")
}

func TestAssets(t *testing.T) {
	tc := newTestCluster(t, 1, Config{}, nil)
	base := tc.servers[0].URL
	for path, want := range map[string]string{
		"/":                       "text/html",
		"/client.js":              "text/javascript",
		"/client.d.ts":            "text/plain",
		"/examples/election.html": "text/html",
	} {
		resp, body := httpDo(t, "GET", base+path, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, resp.Header.Get("Content-Type"), want, path)
		require.NotEmpty(t, body, path)
	}
	resp, _ := httpDo(t, "GET", base+"/nothing-here", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
