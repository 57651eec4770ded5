package browsertest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	client := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// The Vera edge as havend mounts it: the node's own paths beside websvc's,
// and websvc's paths unaltered by the host's router.
func TestRealServerHTTP(t *testing.T) {
	c := startCluster(t, 3)
	base := c.procs[2].url()

	resp, body := get(t, base+"/v1/status")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	var st struct {
		Node          string `json:"node"`
		LeaderAddress string `json:"leader_address"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, "n3", st.Node)

	for _, path := range []string{"/data//x", "/data/a/../b", "/data/./a", "/data"} {
		resp, body = get(t, base+path)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", path, body)
		require.Contains(t, body, `"code":"InvalidParameter"`, path)
	}
	resp, body = get(t, base+"/data/real/list")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"items":[],"version":0}`, body)
	require.Equal(t, `"0"`, resp.Header.Get("ETag"))

	for _, path := range []string{"/", "/client.js", "/client.d.ts", "/examples/election.html", "/metrics", "/healthz"} {
		resp, _ = get(t, base+path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}

	// A WebSocket from another member's page is allowed; from elsewhere not.
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", http.Header{"Origin": {c.procs[0].url()}})
	require.NoError(t, err)
	var hello map[string]any
	require.NoError(t, ws.ReadJSON(&hello))
	require.Equal(t, "hello", hello["action"])
	require.Equal(t, "n3", hello["node"])
	require.Contains(t, []string{c.procs[0].haven, c.procs[1].haven, c.procs[2].haven}, hello["leader"], "the leader's Haven address")
	require.NotEmpty(t, resp.Header.Get("Set-Cookie"))
	ws.Close()
	_, resp, err = d.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", http.Header{"Origin": {"http://evil.example"}})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}
