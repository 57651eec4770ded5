package conformance

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// "data: any MessagePack/JSON value (nil, bool, number, string, array, map
// with string keys)": what is outside that list (and what JSON cannot
// carry to a Vera reader) is InvalidParameter, and bad input never crashes a node.
func TestDataKinds(t *testing.T) {
	c, _ := connect(t, 1, nil)
	p := path("kinds")
	for name, d := range map[string]any{
		"bin": []byte{1, 2}, "nan": math.NaN(), "inf": math.Inf(-1), "timestamp": time.Unix(1, 0),
		"ext": &msgpack.RawMessage{0xd4, 0x01, 0x02}, "int keys": map[int]any{1: 2}, "nested int keys": M{"a": map[int]any{1: 2}},
	} {
		requireFail(t, c.call(M{"action": "query", "type": "create", "path": p, "data": d}), "InvalidParameter", name)
	}
	// Absurdly deep nesting within max_item_bytes.
	head, _ := msgpack.Marshal(M{"action": "query", "type": "create", "path": p})
	head[0] = 0x84 // one more key: data
	key, _ := msgpack.Marshal("data")
	_, err := c.nc.Write(append(append(head, key...), append(bytes.Repeat([]byte{0x91}, 60000), 0xc0)...))
	require.NoError(t, err)
	a, err := c.recv()
	require.NoError(t, err)
	require.Equal(t, false, a["result"])
	requireOK(t, c.call(M{"action": "query", "type": "read", "path": p}), "the node keeps serving")
	read := c.call(M{"action": "query", "type": "read", "path": p})
	require.Empty(t, read["items"], "nothing was written")

	// A large integer reads back exactly over HTTP JSON.
	requireOK(t, c.call(M{"action": "query", "type": "create", "path": p, "data": uint64(1<<63 + 1)}))
	resp, err := http.Get("http://" + httpAddr(1) + p)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), `"data":9223372036854775809`)
}

func keys(m M) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// The answer tables: exactly the fields named (rid echoed).
func TestAnswerFields(t *testing.T) {
	c, _ := connect(t, 2, nil)
	p := path("fields")
	a := c.call(M{"action": "query", "type": "create", "path": p, "data": 1, "rid": "x"})
	require.Subset(t, keys(a), []string{"item", "items", "result", "rid", "version"})
	v := a["item"].(map[string]any)["version"]
	require.ElementsMatch(t, []string{"data", "modified", "owner", "version"}, keys(a["item"].(map[string]any)))
	a = c.call(M{"action": "query", "type": "watch", "path": p, "rid": "x"})
	require.Subset(t, keys(a), []string{"items", "result", "rid", "version"})
	a = c.call(M{"action": "query", "type": "unwatch", "path": p, "rid": "x"})
	require.Equal(t, []string{"result", "rid"}, keys(a))
	a = c.call(M{"action": "query", "type": "delete", "path": p, "item": v, "rid": "x"})
	require.Subset(t, keys(a), []string{"items", "result", "rid", "version"})
	require.NotContains(t, a, "item")

	w, _, err := wsDial(t, 3, "", nil, "")
	require.NoError(t, err)
	h, err := w.read()
	require.NoError(t, err)
	require.Subset(t, keys(h), []string{"action", "leader", "node", "resumed", "session", "ttl_ms"})
	require.NotContains(t, h, "token", "the token stays in the HttpOnly cookie")
	for _, act := range []string{"ping", "unwatch"} {
		m := M{"action": act}
		if act == "unwatch" {
			m["path"] = p
		}
		a := w.call(m)
		require.Equal(t, []string{"code", "rid"}, keys(a), act)
	}
	a = w.call(M{"action": "get", "path": p})
	require.Equal(t, []string{"code", "items", "rid", "version"}, keys(a))
	raw, _ := json.Marshal(a["items"])
	require.Equal(t, "[]", string(raw))
}
