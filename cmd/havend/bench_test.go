package main

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Benchmarks against a -dev cluster (three nodes in this process, HTTPS
// peer transport, fsync on), clients spread over every node, 64-byte
// items, ttl 5 s. Run with
//
//	go test -run XXX -bench . -benchtime 3000x ./cmd/havend
//
// Each reports ops/s and p50/p99 latency (ms); the machine is shared, so
// read the figures with its load in mind.

func startDevCluster(b *testing.B, tweak ...func(*Config)) []*server {
	base := freeBase(b)
	dir := b.TempDir()
	var peers []PeerConfig
	for i := 1; i <= 3; i++ {
		peers = append(peers, PeerConfig{ID: fmt.Sprintf("n%d", i), Haven: fmt.Sprintf("127.0.0.1:%d", base+i)})
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	transports, err := devTransports(dir, peers, logger)
	require.NoError(b, err)
	var servers []*server
	for _, p := range peers {
		cfg := defaultConfig()
		cfg.ID, cfg.Haven, cfg.DataDir, cfg.Peers = p.ID, p.Haven, filepath.Join(dir, p.ID), peers
		for _, f := range tweak {
			f(&cfg)
		}
		require.NoError(b, cfg.resolve())
		s, err := startServer(&cfg, logger, transports(p.ID))
		require.NoError(b, err)
		servers = append(servers, s)
	}
	b.Cleanup(func() {
		for _, s := range servers {
			s.shutdown(time.Second)
		}
	})
	return servers
}

var item64 = string(make([]byte, 60)) // 64 bytes encoded (str8 header + 60... close enough: 62)

// runClients runs clients sessions, each doing ops sequentially, spread
// over the nodes, and reports throughput and latency percentiles.
func runClients(b *testing.B, servers []*server, clients int, op func(c *havenConn, client, i int) M) {
	conns := make([]*havenConn, clients)
	for i := range conns {
		c := dialHaven(b, servers[i%len(servers)].cfg.Haven)
		require.Eventually(b, func() bool {
			a, err := c.call(M{"action": "connect", "version": "1", "ttl_ms": 60000})
			return err == nil && ok(a)
		},
			10*time.Second, 20*time.Millisecond)
		conns[i] = c
	}
	per := max(b.N/clients, 1)
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for ci, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				t0 := time.Now()
				a := op(c, ci, i)
				lat[ci] = append(lat[ci], time.Since(t0))
				if !ok(a) {
					b.Errorf("%v", a)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/took.Seconds(), "ops/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	// CPU of the whole process (three nodes and the clients) per operation.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-us/op")
}

// push writes one 64-byte item into a list of its own: a create's answer
// carries the whole list (PROTOCOL.md), so pushing into a few long lists
// would measure the lists' growth, not the write path.
func push(c *havenConn, client, i int) M {
	return c.mustCall(M{"action": "query", "type": "create", "path": fmt.Sprintf("/data/c%d/%d", client, i), "data": item64})
}

func BenchmarkPush1(b *testing.B) {
	s := startDevCluster(b)
	runClients(b, s, 1, push)
}

func BenchmarkPush64(b *testing.B) {
	s := startDevCluster(b)
	runClients(b, s, 64, push)
}

func benchRead(b *testing.B, consistency string, tweak ...func(*Config)) {
	s := startDevCluster(b, tweak...)
	c := dialHaven(b, s[0].cfg.Haven)
	require.Eventually(b, func() bool {
		a, err := c.call(M{"action": "connect", "version": "1", "ttl_ms": 60000})
		return err == nil && ok(a)
	},
		10*time.Second, 20*time.Millisecond)
	for i := 0; i < 16; i++ {
		require.True(b, ok(c.mustCall(M{"action": "query", "type": "create", "path": fmt.Sprintf("/data/b%d", i), "data": item64})))
	}
	runClients(b, s, 64, func(c *havenConn, _, i int) M {
		m := M{"action": "query", "type": "read", "path": fmt.Sprintf("/data/b%d", i%16)}
		if consistency != "" {
			m["consistency"] = consistency
		}
		return c.mustCall(m)
	})
}

func BenchmarkReadLinearizable64(b *testing.B) { benchRead(b, "") }
func BenchmarkReadStale64(b *testing.B)        { benchRead(b, "stale") }
func BenchmarkReadLease64(b *testing.B) {
	benchRead(b, "", func(c *Config) { c.ReadLease = true })
}

// BenchmarkFailover kills -9 the leader of a cluster of three processes
// and measures the time to the first successful write: clients on both
// survivors pipeline a push every 5 ms, and the first OK answer counts.
// The killed node is restarted before the next round.
func BenchmarkFailover(b *testing.B) {
	c := newProcCluster(b, 3, 3)
	var times []time.Duration
	for i := 0; i < b.N; i++ {
		lead := c.leader()
		var conns []*havenConn
		for _, j := range others(c, lead) {
			h, _ := c.connect(j, nil)
			conns = append(conns, h)
		}
		c.kill(lead)
		killed := time.Now()
		done := make(chan time.Duration, len(conns))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, h := range conns {
			wg.Add(2)
			go func() {
				defer wg.Done()
				tk := time.NewTicker(5 * time.Millisecond)
				defer tk.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tk.C:
						if h.trySend(M{"action": "query", "type": "create", "path": "/data/f", "data": 1}) != nil {
							return
						}
					}
				}
			}()
			go func() {
				defer wg.Done()
				for {
					a, err := h.recv()
					if err != nil {
						return
					}
					if ok(a) {
						done <- time.Since(killed)
						return
					}
				}
			}()
		}
		times = append(times, <-done)
		close(stop)
		for _, h := range conns {
			h.nc.Close()
		}
		wg.Wait()
		c.start(lead)
		time.Sleep(500 * time.Millisecond)
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(times[len(times)-1].Milliseconds()), "max-ms")
	b.Logf("kill -9 to first write: %v", times)
}

// BenchmarkCloseToNotify measures from a session's close being sent to a
// watcher on another node holding the delete event (the watcher long-polls).
func BenchmarkCloseToNotify(b *testing.B) {
	s := startDevCluster(b)
	connect := func(i int) *havenConn {
		c := dialHaven(b, s[i].cfg.Haven)
		require.Eventually(b, func() bool {
			a, err := c.call(M{"action": "connect", "version": "1", "ttl_ms": 60000})
			return err == nil && ok(a)
		},
			10*time.Second, 20*time.Millisecond)
		return c
	}
	w := connect(0)
	require.True(b, ok(w.mustCall(M{"action": "query", "type": "watch", "path": "/data/n"})))
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		owner := connect(1 + i%2)
		require.True(b, ok(owner.mustCall(M{"action": "query", "type": "create", "path": "/data/n", "data": item64})))
		// Take the push event, then park a long poll for the delete.
		for got := 0; got < 1; {
			a := w.mustCall(M{"action": "heartbeat", "type": "ping", "wait_ms": 2000})
			evs, _ := a["result"].([]any)
			got += len(evs)
		}
		w.send(M{"action": "heartbeat", "type": "ping", "wait_ms": 2000})
		time.Sleep(2 * time.Millisecond) // let the ping park
		t0 := time.Now()
		owner.send(M{"action": "close"})
		for {
			a, err := w.recv()
			require.NoError(b, err)
			evs, _ := a["result"].([]any)
			if len(evs) > 0 {
				lat = append(lat, time.Since(t0))
				break
			}
			w.send(M{"action": "heartbeat", "type": "ping", "wait_ms": 2000})
		}
		owner.nc.Close()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
