package main

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	h := newInProc(t, 3)
	var servers []*server
	for _, p := range h.founders {
		servers = append(servers, h.start(p, nil))
	}
	return servers
}

// inProc is an in-process cluster over one in-memory hub: its founders,
// and the node ids of up to four nodes in all (freeBase).
type inProc struct {
	t          testing.TB
	dir        string
	peers      []PeerConfig
	founders   []PeerConfig
	transports func(id string) func(*node) (transport, error)
}

func newInProc(t testing.TB, founders int) *inProc {
	base := freeBase(t)
	h := &inProc{t: t, dir: t.TempDir(), transports: memTransports()}
	for i := 1; i <= 4; i++ {
		h.peers = append(h.peers, PeerConfig{ID: fmt.Sprintf("n%d", i), Haven: fmt.Sprintf("127.0.0.1:%d", base+i)})
	}
	h.founders = h.peers[:founders]
	return h
}

// start runs node p, logging to logger (nil: nowhere); a node that is no
// founder starts as one to be added (initial_cluster_state: existing).
func (h *inProc) start(p PeerConfig, logger *slog.Logger) *server {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := defaultConfig()
	cfg.ID, cfg.Haven, cfg.DataDir, cfg.Peers, cfg.NoFsync = p.ID, p.Haven, filepath.Join(h.dir, p.ID), h.founders, true
	if !slices.Contains(h.founders, p) {
		cfg.InitialClusterState = "existing"
	}
	require.NoError(h.t, cfg.resolve())
	s, err := startServer(&cfg, logger, h.transports(p.ID))
	require.NoError(h.t, err)
	h.t.Cleanup(func() { s.shutdown(time.Second) })
	return s
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

// lockedBuffer is a log sink the test reads while a node writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// withCaughtUpLearner starts the founders and n4 (logging to logger),
// adds n4 as a learner through n1 and waits for it to catch up. become
// asks n1 for another change of n4 ("removed", ...).
func (h *inProc) withCaughtUpLearner(logger *slog.Logger) (learner *server, become func(typ string)) {
	t := h.t
	for _, p := range h.founders {
		h.start(p, nil)
	}
	learner = h.start(h.peers[3], logger)
	adm := dialHaven(t, h.peers[0].Haven)
	require.Eventually(t, func() bool { return ok(adm.mustCall(M{"action": "connect", "version": "1"})) }, 10*time.Second, 50*time.Millisecond)
	become = func(typ string) {
		require.Eventually(t, func() bool {
			return ok(adm.mustCall(M{"action": "become", "type": typ, "node": "n4", "address": h.peers[3].Haven}))
		}, 10*time.Second, 50*time.Millisecond, "become %s", typ)
	}
	become("learner")
	require.Eventually(t, func() bool {
		st := learner.node.status.Load()
		return st != nil && st.Leader != "" && st.Applied > 0
	}, 10*time.Second, 20*time.Millisecond, "the learner catches up")
	return learner, become
}

// A removed learner hears of its removal only when it next sends the
// members something: it never campaigns, and the leader stops replicating
// to it once the change is in its log. A client's connect through it is
// such a thing (a forwarded write): it is answered at once, Unavailable,
// saying why, and the node logs its removal at WARN, though its role in
// raft, a follower, does not change. Found on a real cluster: `haven get`
// through a removed learner waited for its request timeout, and nothing
// was logged.
func TestRemovedLearnerSaysSo(t *testing.T) {
	h := newInProc(t, 3)
	peers := h.peers
	var log4 lockedBuffer
	learner, become := h.withCaughtUpLearner(slog.New(slog.NewTextHandler(&log4, nil)))
	become("removed")

	c := dialHaven(t, peers[3].Haven)
	began := time.Now()
	a := c.mustCall(M{"action": "connect", "version": "1"})
	took := time.Since(began)
	require.False(t, ok(a), "%v", a)
	require.Equal(t, "Unavailable", a["error"].(M)["code"], "%v", a)
	require.Contains(t, a["error"].(M)["message"], "this node was removed from the cluster")
	require.Less(t, took, 2*time.Second, "answered at once, not at the request timeout (%v)", defaultConfig().RequestTimeoutMs)
	require.Eventually(t, func() bool {
		return strings.Contains(log4.String(), "level=WARN msg=\"this node was removed from the cluster: a member says")
	}, 5*time.Second, 20*time.Millisecond, "n4's log:\n%s", log4.String())
	require.Eventually(t, func() bool { return learner.node.status.Load().Role == "removed" }, 5*time.Second, 20*time.Millisecond)
}

// A removed learner that restarts knows no leader: the leader no longer
// sends it anything, and it never campaigns. Once an election timeout
// passes without a leader it asks the voters whether it is still a member
// (raft's MsgMemberQuery) and is told, though no client asks anything of
// it. Before, it showed a follower for ever and its clients waited for
// their request timeouts.
func TestRestartedRemovedLearnerIsTold(t *testing.T) {
	h := newInProc(t, 3)
	peers := h.peers
	learner, become := h.withCaughtUpLearner(nil)
	require.NoError(t, learner.shutdown(time.Second))
	become("removed")

	var log4 lockedBuffer
	learner = h.start(peers[3], slog.New(slog.NewTextHandler(&log4, nil)))
	require.Eventually(t, func() bool { return learner.node.status.Load().Role == "removed" }, 5*time.Second, 20*time.Millisecond,
		"n4's log:\n%s", log4.String())
	require.Contains(t, log4.String(), "restarting from the data dir")
	require.Eventually(t, func() bool {
		return strings.Contains(log4.String(), "level=WARN msg=\"this node was removed from the cluster: a member says")
	}, 5*time.Second, 20*time.Millisecond, "n4's log:\n%s", log4.String())
}
