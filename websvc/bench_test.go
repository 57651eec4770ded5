package websvc

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

var benchData = []byte(`{"name":"worker-17","addr":"10.0.0.17:8080","tags":["a","b","c"],"load":0.75,"since":1733000000,"meta":{"zone":"eu-1","rack":4}}`)

func BenchmarkJSONToMsgpack(b *testing.B) {
	b.SetBytes(int64(len(benchData)))
	for b.Loop() {
		if _, err := jsonToMsgpack(benchData); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMsgpackToJSON(b *testing.B) {
	packed, err := jsonToMsgpack(benchData)
	require.NoError(b, err)
	b.SetBytes(int64(len(packed)))
	for b.Loop() {
		if _, err := msgpackToJSON(packed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	msg := []byte(fmt.Sprintf(`{"rid":"r1","action":"push","path":"/data/services/web","data":%s}`, benchData))
	for b.Loop() {
		if _, err := decodeRequest(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPushOverWebSocket: pushes one at a time (each waits for its
// answer) over a WebSocket to a one-node in-memory cluster with 10 ms
// ticks: the edge's and the core's cost per write, not a disk's.
func BenchmarkPushOverWebSocket(b *testing.B) {
	tc := newTestCluster(b, 1, Config{RequestsPerSecond: 1e9, Burst: 1 << 30}, nil)
	tc.waitLeader()
	c := mustDial(b, tc.servers[0].URL, newJar(b))
	for b.Loop() {
		a := c.do(msg{"action": "push", "path": "/data/bench", "data": "x"})
		if a["code"] != "OK" {
			b.Fatal(a)
		}
		c.do(msg{"action": "delete", "path": "/data/bench", "item": a["item"].(map[string]any)["version"]})
	}
}
