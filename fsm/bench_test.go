package fsm

import (
	"fmt"
	"runtime"
	"testing"
)

// Timing goals live here, never in unit tests. Run with
//
//	go test ./fsm -run XXX -bench . -count 3
//
// Each benchmark reports its own rate (applies/s, closes/s) besides ns/op.

// benchSessions opens n sessions named s0, s1, ... and returns the next
// free index.
func benchSessions(b *testing.B, m *Machine, n int) uint64 {
	b.Helper()
	var index uint64
	for i := range n {
		index++
		id := fmt.Sprintf("s%d", i)
		result, _ := m.Apply(index, Encode(OpenSession{ID: id, TokenHash: hashOf(id), TTLms: 5000}))
		if result.Code != OK {
			b.Fatal(result.Message)
		}
	}
	return index
}

// benchData is a typical small item: a service's address and a weight.
func benchData(b *testing.B, i int) []byte {
	return mp(b, map[string]any{"address": fmt.Sprintf("10.0.%d.%d:7400", i/256%256, i%256), "weight": i % 10})
}

func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkApplyPush: pushes from 1,000 sessions into 1,000 lists. Every
// 65,536 pushes the machine is rebuilt (untimed) so the state, and so the
// cost of garbage collection, stays the size of a busy real one rather than
// growing with b.N.
func BenchmarkApplyPush(b *testing.B) {
	const sessions, lists, rebuildEvery = 1000, 1000, 1 << 16
	entries := make([][]byte, 4096)
	for i := range entries {
		entries[i] = Encode(Push{
			Session: fmt.Sprintf("s%d", i%sessions),
			Path:    fmt.Sprintf("/data/service/%d", i*7%lists),
			Data:    benchData(b, i),
		})
	}
	m := New(Options{})
	index := benchSessions(b, m, sessions)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%rebuildEvery == 0 {
			b.StopTimer()
			m = New(Options{})
			index = benchSessions(b, m, sessions)
			b.StartTimer()
		}
		index++
		if result, _ := m.Apply(index, entries[i%len(entries)]); result.Code != OK {
			b.Fatal(result.Message)
		}
	}
	reportRate(b, "applies/s")
}

// BenchmarkApplyUpdate: 1,000 sessions each own one item; 100 lists of 10
// items each; every update rewrites one item's data (and, copy-on-write,
// its list of 10).
func BenchmarkApplyUpdate(b *testing.B) {
	const sessions, lists = 1000, 100
	m := New(Options{})
	index := benchSessions(b, m, sessions)
	entries := make([][]byte, sessions)
	for i := range sessions {
		session, path := fmt.Sprintf("s%d", i), fmt.Sprintf("/data/service/%d", i%lists)
		index++
		result, _ := m.Apply(index, Encode(Push{Session: session, Path: path, Data: benchData(b, i)}))
		if result.Code != OK {
			b.Fatal(result.Message)
		}
		entries[i] = Encode(Update{Session: session, Path: path, Item: result.Item.Version, Data: benchData(b, i+1)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		index++
		if result, _ := m.Apply(index, entries[i%len(entries)]); result.Code != OK {
			b.Fatal(result.Message)
		}
	}
	reportRate(b, "applies/s")
}

// BenchmarkCloseSession ends sessions that own 100 items each. Sessions are
// built 100 at a time, untimed, then closed, timed.
//
//   - own-list: each session's 100 items are alone in its own list.
//   - shared-lists: the 100 sessions of a batch each hold one item in each
//     of the same 100 lists (lists of 100 items, shrinking as sessions
//     end), so a close also copies the surviving items of 100 lists.
func BenchmarkCloseSession(b *testing.B) {
	const batch, itemsPerSession = 100, 100
	for _, layout := range []string{"own-list", "shared-lists"} {
		b.Run(layout, func(b *testing.B) {
			data := benchData(b, 1)
			build := func() (*Machine, uint64, [][]byte) {
				m := New(Options{})
				index := benchSessions(b, m, batch)
				closes := make([][]byte, batch)
				for s := range batch {
					session := fmt.Sprintf("s%d", s)
					for k := range itemsPerSession {
						path := fmt.Sprintf("/data/own/%d", s)
						if layout == "shared-lists" {
							path = fmt.Sprintf("/data/shared/%d", k)
						}
						index++
						if result, _ := m.Apply(index, Encode(Push{Session: session, Path: path, Data: data})); result.Code != OK {
							b.Fatal(result.Message)
						}
					}
					closes[s] = Encode(CloseSession{ID: session, Expired: true})
				}
				return m, index, closes
			}
			b.StopTimer()
			m, index, closes := build()
			b.ReportAllocs()
			b.ResetTimer()
			b.StartTimer()
			for i := range b.N {
				if i > 0 && i%batch == 0 {
					b.StopTimer()
					m, index, closes = build()
					b.StartTimer()
				}
				index++
				result, events := m.Apply(index, closes[i%batch])
				if result.Code != OK || len(events) != itemsPerSession {
					b.Fatal(result.Message, len(events))
				}
			}
			reportRate(b, "closes/s")
			b.ReportMetric(float64(b.N*itemsPerSession)/b.Elapsed().Seconds(), "items-removed/s")
		})
	}
}

// heapAfterGC is the live heap, measured after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return stats.HeapAlloc
}

// BenchmarkMemoryPerSession measures the heap one session without items
// costs (ids like "s12345", so about 6 bytes of id).
func BenchmarkMemoryPerSession(b *testing.B) {
	const sessions = 100_000
	var perSession float64
	for range b.N {
		before := heapAfterGC()
		m := New(Options{})
		benchSessions(b, m, sessions)
		perSession = float64(heapAfterGC()-before) / sessions
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perSession, "bytes/session")
}

// BenchmarkMemoryPerItem measures the heap one item costs, with its share
// of its list and of its owner's index: 1,000 sessions push 100 items each
// into 1,000 lists. The data of each item (benchData) is about 34 bytes and
// is included; the sessions themselves are not.
func BenchmarkMemoryPerItem(b *testing.B) {
	const sessions, itemsPerSession, lists = 1000, 100, 1000
	var perItem float64
	for range b.N {
		m := New(Options{})
		index := benchSessions(b, m, sessions)
		entries := make([][]byte, 0, sessions*itemsPerSession)
		for i := range sessions * itemsPerSession {
			entries = append(entries, Encode(Push{
				Session: fmt.Sprintf("s%d", i%sessions),
				Path:    fmt.Sprintf("/data/service/%d", i*7%lists),
				Data:    benchData(b, i),
			}))
		}
		before := heapAfterGC()
		for _, entry := range entries {
			index++
			m.Apply(index, entry)
		}
		// entries stay alive until measured: freeing them in between
		// would be subtracted from what the items cost.
		perItem = float64(heapAfterGC()-before) / (sessions * itemsPerSession)
		runtime.KeepAlive(m)
		runtime.KeepAlive(entries)
	}
	b.ReportMetric(perItem, "bytes/item")
}

// BenchmarkSnapshot renders and restores a machine of 100,000 items.
func BenchmarkSnapshot(b *testing.B) {
	m := New(Options{})
	index := benchSessions(b, m, 1000)
	for i := range 100_000 {
		index++
		m.Apply(index, Encode(Push{Session: fmt.Sprintf("s%d", i%1000), Path: fmt.Sprintf("/data/service/%d", i%1000), Data: benchData(b, i)}))
	}
	b.Run("snapshot", func(b *testing.B) {
		for range b.N {
			_ = m.Snapshot()
		}
	})
	snapshot := m.Snapshot()
	b.Run("restore", func(b *testing.B) {
		for range b.N {
			if err := New(Options{}).Restore(snapshot); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(snapshot)), "snapshot-bytes")
	})
}
