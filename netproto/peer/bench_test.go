package peer

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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
	cpu0 := cpuTime()
	for b.Loop() {
		buf = buf[:0]
		for i := range msgs {
			buf = AppendMessage(buf, &msgs[i])
		}
	}
	b.ReportMetric(float64(len(buf))/64, "bytes/msg")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*64), "cpu-ns/msg")
}

func BenchmarkDecodeBatch(b *testing.B) {
	body := EncodeBatch(appBatch(64, 1, 2))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := DecodeBatch(body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*64), "cpu-ns/msg")
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
			u, _ := url.Parse("https://127.0.0.1:7502" + StreamPath)
			v := verifier{keys: map[string]ed25519.PublicKey{"1": nodes[1].Public()}, window: time.Minute, required: coveredComponents}
			cache := newReplayCache(time.Minute, maxReplayEntries)
			now := time.Now()
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				// Each batch differs, as real ones do (else the replay
				// cache refuses the second).
				body[0], body[1], body[2] = byte(i), byte(i>>8), byte(i>>16)
				m := httpMessage{method: http.MethodPost, target: u, header: http.Header{}}
				if err := signRequest(&m, body, nodes[1].Key, "1", "n"+strconv.Itoa(i), now); err != nil {
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
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/batch")
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
// (sender and receiver both: the pair's cost) and messages per frame.
func BenchmarkTransport(b *testing.B) {
	b.Run("stream", func(b *testing.B) {
		c := newTestCluster(b, 1, 2)
		var received, requests atomic.Int64
		recv := c.nodes[2].tr
		recv.cfg.Deliver = func(msgs []session.PeerMessage) {
			received.Add(int64(len(msgs)))
			requests.Add(1)
		}
		send := c.nodes[1].tr
		msgs := appBatch(64, 1, 2)
		// Warm up the connection.
		send.Send(msgs[:1])
		for received.Load() < 1 {
			time.Sleep(time.Millisecond)
		}
		received.Store(0)
		requests.Store(0)
		before := send.Stats()
		cpu0, t0 := cpuTime(), time.Now()
		b.ResetTimer()
		// Keep at most 2048 messages in flight (half a queue), so that
		// the figure is of delivered messages, not of drops. A failed
		// batch's messages are written off.
		var queued, written int64
		lastFailed := before.Failed
		for queued < int64(b.N) {
			send.Send(msgs)
			queued += int64(len(msgs))
			for {
				s := send.Stats()
				sent := int64(s.Sent - before.Sent)
				if s.Failed != lastFailed {
					lastFailed, written = s.Failed, sent-received.Load()
				}
				if sent-received.Load()-written <= 2048 {
					break
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
		after := send.Stats()
		want := int64(after.Sent - before.Sent)
		// A batch that failed (the machine is loaded; a timeout) is
		// lost, as Raft would see it: wait until the rest is in.
		last, lastAt := received.Load(), time.Now()
		for received.Load() < want && time.Since(lastAt) < 2*time.Second {
			time.Sleep(50 * time.Microsecond)
			if r := received.Load(); r != last {
				last, lastAt = r, time.Now()
			}
		}
		b.StopTimer()
		elapsed, cpu := time.Since(t0), cpuTime()-cpu0
		n := float64(received.Load())
		b.ReportMetric(n/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/msg")
		b.ReportMetric(n/float64(requests.Load()), "msgs/frame")
		b.ReportMetric(float64(after.Dropped-before.Dropped)+float64(want)-n, "lost")
		b.ReportMetric(float64(after.Failed-before.Failed), "failures")
	})
}

// BenchmarkTransportPingPong sends one heartbeat at a time and waits for
// it: a frame of one message each, the idle cluster's regime, where a
// frame's system calls and hand-offs are not shared by many messages.
func BenchmarkTransportPingPong(b *testing.B) {
	b.Run("stream", func(b *testing.B) {
		c := newTestCluster(b, 1, 2)
		got := make(chan struct{}, 1)
		c.nodes[2].tr.cfg.Deliver = func([]session.PeerMessage) { got <- struct{}{} }
		send := c.nodes[1].tr
		msg := []session.PeerMessage{heartbeat(1, 1, 2, 1)}
		send.Send(msg)
		<-got
		cpu0, t0 := cpuTime(), time.Now()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			msg[0].Raft.Term = uint64(i)
			send.Send(msg)
			<-got
		}
		b.StopTimer()
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/batch")
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "batches/s")
	})
}
