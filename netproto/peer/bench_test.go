package peer

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// appBatch is n MsgApps of one 64-byte entry each: the shape of a busy
// leader's traffic.
func appBatch(n int, from, to raft.NodeID) []session.PeerMessage {
	msgs := make([]session.PeerMessage, n)
	for i := range msgs {
		msgs[i] = session.PeerMessage{Group: 1, From: from, To: to, Raft: &raft.Message{
			Type: raft.MsgApp, From: from, To: to, Term: 3, LogTerm: 3, Index: uint64(1000 + i), Commit: uint64(999 + i),
			Entries: []raft.Entry{{Term: 3, Index: uint64(1001 + i), Data: make([]byte, 64)}},
		}}
	}
	return msgs
}

func BenchmarkEncodeBatch(b *testing.B) {
	msgs := appBatch(64, 1, 2)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := range msgs {
			buf = AppendMessage(buf, &msgs[i])
		}
	}
	b.ReportMetric(float64(len(buf))/64, "bytes/msg")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/msg")
}

func BenchmarkDecodeBatch(b *testing.B) {
	body := EncodeBatch(appBatch(64, 1, 2))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeBatch(body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/msg")
}

// BenchmarkSignVerify is the signature's cost per batch: sign on one side,
// verify and admit to the replay cache on the other.
func BenchmarkSignVerify(b *testing.B) {
	_, nodes, err := DevCluster(1)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("body=%dKiB", size>>10), func(b *testing.B) {
			body := make([]byte, size)
			u, _ := url.Parse("https://127.0.0.1:7502" + BatchPath)
			v := verifier{keys: map[string]ed25519.PublicKey{"1": nodes[1].Public()}, window: time.Minute, required: coveredComponents}
			cache := newReplayCache(time.Minute, maxReplayEntries)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				m := httpMessage{method: http.MethodPost, target: u, header: http.Header{}}
				if err := signRequest(&m, body, nodes[1].Key, "1", now); err != nil {
					b.Fatal(err)
				}
				got, err := v.verify(&m, body, now)
				if err != nil {
					b.Fatal(err)
				}
				if !cache.admit(got.signature, got.created.Unix(), now) {
					b.Fatal("replay?")
				}
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTransport pushes MsgApps from node 1 to node 2 through the real
// transport over TLS on loopback, in Sends of 64, keeping at most 8192 in
// flight. It reports messages per second, the process's CPU per message
// (sender and receiver both: the pair's cost) and messages per request.
func BenchmarkTransport(b *testing.B) {
	for _, proto := range []string{"h2", "http1"} {
		b.Run(proto, func(b *testing.B) {
			c := newTestCluster(b, 1, 2)
			if proto == "http1" {
				c.nodes[1].tr.SetPeer(2, "")
				c.nodes[1].tr.http1 = true
				c.nodes[1].tr.SetPeer(2, c.nodes[2].addr)
			}
			var received atomic.Int64
			recv := c.nodes[2].tr
			recv.cfg.Deliver = func(msgs []session.PeerMessage) { received.Add(int64(len(msgs))) }
			send := c.nodes[1].tr
			msgs := appBatch(64, 1, 2)
			// Warm up the connection.
			send.Send(msgs[:1])
			for received.Load() < 1 {
				time.Sleep(time.Millisecond)
			}
			received.Store(0)
			before := send.Stats()
			cpu0, t0 := cpuTime(), time.Now()
			b.ResetTimer()
			var queued int64
			for queued < int64(b.N) {
				send.Send(msgs)
				queued += int64(len(msgs))
				for queued-received.Load() > 8192 {
					time.Sleep(20 * time.Microsecond)
				}
			}
			after := send.Stats()
			want := int64(after.Sent - before.Sent)
			for received.Load() < want {
				time.Sleep(50 * time.Microsecond)
			}
			b.StopTimer()
			elapsed, cpu := time.Since(t0), cpuTime()-cpu0
			n := float64(received.Load())
			b.ReportMetric(n/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/msg")
			b.ReportMetric(n/float64(after.Batches-before.Batches), "msgs/batch")
			b.ReportMetric(float64(after.Dropped-before.Dropped), "dropped")
		})
	}
}
