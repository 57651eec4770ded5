package main

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// freeBase finds a loopback port free right now, with the four after it
// and the same five at +80 and +100: up to four nodes at base+1 on.
func freeBase(t testing.TB) int {
	for try := 0; try < 50; try++ {
		// Below 32768, where Linux's ephemeral range starts: no outgoing
		// connection or port-0 listener can take a node's port. 18000-20999
		// is this package's own range among the repository's harnesses,
		// which go test runs in parallel.
		base := 18000 + rand.IntN(3000-105)
		free := true
		for _, off := range []int{0, 1, 2, 3, 4, 80, 81, 82, 83, 84, 100, 101, 102, 103, 104} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// startInProc runs a three-node cluster in this test process over the
// in-memory hub, with fsync off (the loop, not the disk, is under test).
func startInProc(t testing.TB) []*server {
	base := freeBase(t)
	dir := t.TempDir()
	var peers []PeerConfig
	for i := 1; i <= 3; i++ {
		peers = append(peers, PeerConfig{ID: fmt.Sprintf("n%d", i), Haven: fmt.Sprintf("127.0.0.1:%d", base+i)})
	}
	transports := memTransports()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var servers []*server
	for _, p := range peers {
		cfg := defaultConfig()
		cfg.ID, cfg.Haven, cfg.DataDir, cfg.Peers, cfg.NoFsync = p.ID, p.Haven, filepath.Join(dir, p.ID), peers, true
		require.NoError(t, cfg.resolve())
		s, err := startServer(&cfg, logger, transports(p.ID))
		require.NoError(t, err)
		servers = append(servers, s)
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.shutdown(time.Second)
		}
	})
	return servers
}

func TestInProcessClusterServesHaven(t *testing.T) {
	servers := startInProc(t)
	c := dialHaven(t, servers[1].cfg.Haven)
	var a M
	require.Eventually(t, func() bool {
		a = c.mustCall(M{"action": "connect", "version": "1"})
		return ok(a)
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, "n2", a["node"])
	a = c.mustCall(M{"action": "query", "type": "create", "path": "/data/x", "data": "hello"})
	require.True(t, ok(a), "%v", a)

	d := dialHaven(t, servers[2].cfg.Haven)
	require.True(t, ok(d.mustCall(M{"action": "connect", "version": "1"})))
	a = d.mustCall(M{"action": "query", "type": "read", "path": "/data/x"})
	require.True(t, ok(a), "%v", a)
	require.Len(t, a["items"], 1)
}
