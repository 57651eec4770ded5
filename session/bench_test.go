package session

import (
	"runtime"
	"testing"

	"github.com/havenproject/haven/fsm"
)

// BenchmarkCoreWrites measures session-core write requests per second
// through an in-memory 3-node cluster (no disk, no network cost): 64
// clients spread over the three nodes, each updating its own item (a small
// session-owned write), one request per client per round, each answered
// once applied on the node the client is connected to.
func BenchmarkCoreWrites(b *testing.B) {
	tc := newTestCluster(b, 3, nil)
	tc.leader()
	const clients = 64
	nodes := tc.ids
	items := make([]uint64, clients)
	paths := make([]string, clients)
	for i := range clients {
		tc.connect(nodes[i%3], ConnID(i+1), 60000)
		paths[i] = "/data/bench/" + itoa(i)
		r := tc.do(nodes[i%3], Request{Conn: ConnID(i + 1), Op: OpCreate, Path: paths[i], Data: mustPack("v")})
		items[i] = r.Item.Version
	}
	data := mustPack("value")
	b.ResetTimer()
	done := 0
	for done < b.N {
		for i := range clients {
			tc.reqID++
			tc.nodes[nodes[i%3]].core.Submit(Request{Conn: ConnID(i + 1), ID: tc.reqID, Op: OpUpdate, Path: paths[i], Item: items[i], Data: data})
		}
		tc.settle()
		for _, id := range nodes {
			for conn, rs := range tc.nodes[id].replies {
				for _, r := range rs {
					if r.Code != fsm.OK {
						b.Fatalf("write failed: %s %s", r.Code, r.Message)
					}
				}
				done += len(rs)
				delete(tc.nodes[id].replies, conn)
			}
		}
	}
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkMemoryPerSessionAndWatch measures the heap a session and a watch
// cost on one node (sessions opened through the log, watches registered on
// distinct paths). bytes/session includes the session's OpenSession entry
// in the uncompacted Raft log and the connection record.
func BenchmarkMemoryPerSessionAndWatch(b *testing.B) {
	for range b.N {
		// No compaction during the measurement: it would free log memory.
		tc := newTestCluster(b, 1, func(c *Config) { c.SnapshotEvery = 1 << 40 })
		l := tc.leader()
		const n = 20000
		var before, mid, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			tc.connect(l, ConnID(i+1), 60000)
		}
		tc.tick(1) // let finished requests be dropped
		runtime.GC()
		runtime.ReadMemStats(&mid)
		for i := range n {
			tc.do(l, Request{Conn: ConnID(i + 1), Op: OpWatch, Path: "/data/w/" + string(rune('a'+i%26)) + "x" + itoa(i)})
		}
		tc.tick(1)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(tc) // else the GC may free the whole cluster first
		b.ReportMetric(float64(int64(mid.HeapAlloc)-int64(before.HeapAlloc))/n, "bytes/session")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(mid.HeapAlloc))/n, "bytes/watch")
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var buf []byte
	for i > 0 {
		buf = append([]byte{byte('0' + i%10)}, buf...)
		i /= 10
	}
	return string(buf)
}
