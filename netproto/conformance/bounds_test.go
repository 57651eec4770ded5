package conformance

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// padTo returns a read request whose encoding is exactly n bytes.
func padTo(t *testing.T, n int) []byte {
	for pad := n - 100; pad < n; pad++ {
		b, err := msgpack.Marshal(M{"action": "query", "type": "read", "path": "/data/pad", "pad": strings.Repeat("p", pad)})
		require.NoError(t, err)
		if len(b) == n {
			return b
		}
	}
	t.Fatalf("cannot pad to %d", n)
	return nil
}

// "A message over max_message_bytes (default 1 MiB) ... get an error answer
// if possible, then the connection is closed."
func TestMessageSizeBoundary(t *testing.T) {
	c, _ := connect(t, 1, nil)
	_, err := c.nc.Write(padTo(t, 1<<20))
	require.NoError(t, err)
	a, err := c.recv()
	require.NoError(t, err)
	requireOK(t, a, "a message of exactly max_message_bytes is not over it")
	_, err = c.nc.Write(padTo(t, 1<<20+1))
	require.NoError(t, err)
	a, err = c.recv()
	require.NoError(t, err)
	requireFail(t, a, "TooLarge")
	_, err = c.recv()
	require.Error(t, err)
}

// "encoded size at most max_item_bytes (default 64 KiB), else TooLarge."
func TestItemSizeBoundary(t *testing.T) {
	c, _ := connect(t, 2, nil)
	p := path("itemsize")
	// a str16 of L bytes encodes in 3+L bytes
	requireOK(t, c.call(M{"action": "query", "type": "create", "path": p, "data": strings.Repeat("x", 65536-3)}), "exactly 64 KiB encoded")
	requireFail(t, c.call(M{"action": "query", "type": "create", "path": p, "data": strings.Repeat("x", 65536-2)}), "TooLarge")
}

func TestDiscoverLocationAndHTTPPages(t *testing.T) {
	for i := 1; i <= 3; i++ {
		c, _ := connect(t, i, nil)
		a := c.call(M{"action": "discover", "type": "location"})
		st, _, err := getStatus(i)
		require.NoError(t, err)
		// docs/decisions.md: location is the leader's Haven address while there is one.
		require.Equal(t, st.LeaderAddress, a["location"])
		require.ElementsMatch(t, []any{havenAddr(1), havenAddr(2), havenAddr(3)}, a["locations"])
	}
	for _, p := range []string{"/", "/metrics", "/healthz"} {
		resp, err := http.Get("http://" + httpAddr(1) + p)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, p)
	}
}
