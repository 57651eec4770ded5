package peer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// testNode is one transport served over real TLS on 127.0.0.1.
type testNode struct {
	t    testing.TB
	cred *Node
	tr   *Transport
	addr string
	srv  *http.Server
	ca   *CA
	mu   sync.Mutex
	got  []session.PeerMessage
	// conns counts TLS connections accepted; requests every request,
	// http1 those that did not come over HTTP/2.
	conns, requests, http1 int
	// hijacked are the connections that became streams.
	hijacked []net.Conn
	arrived  chan struct{}
}

type testCluster struct {
	ca    *CA
	nodes map[raft.NodeID]*testNode
	keys  map[raft.NodeID]ed25519.PublicKey
}

func newTestCluster(t testing.TB, ids ...raft.NodeID) *testCluster {
	ca, creds, err := DevCluster(ids...)
	require.NoError(t, err)
	c := &testCluster{ca: ca, nodes: map[raft.NodeID]*testNode{}, keys: map[raft.NodeID]ed25519.PublicKey{}}
	for id, cred := range creds {
		c.keys[id] = cred.Public()
	}
	for _, id := range ids {
		c.nodes[id] = c.start(t, creds[id], "127.0.0.1:0", nil)
	}
	for _, a := range c.nodes {
		for id, b := range c.nodes {
			a.tr.SetPeer(id, b.addr)
		}
	}
	return c
}

func (c *testCluster) start(t testing.TB, cred *Node, addr string, tweak func(*Config)) *testNode {
	n := &testNode{t: t, cred: cred, ca: c.ca, arrived: make(chan struct{}, 1)}
	cfg := Config{
		ID: cred.ID, Key: cred.Key, Keys: c.keys,
		ServerTLS: ServerTLSConfig(c.ca.Pool(), cred), ClientTLS: ClientTLSConfig(c.ca.Pool(), cred),
		Deliver: n.deliver,
		Logger:  testLogger(t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := New(cfg)
	require.NoError(t, err)
	n.tr = tr
	n.listen(addr)
	t.Cleanup(func() {
		_ = n.tr.Close()
		_ = n.srv.Close()
	})
	return n
}

func (n *testNode) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	require.NoError(n.t, err)
	n.addr = ln.Addr().String()
	h := n.tr.Handler()
	// A server of its own on each listen, and its own copy of the TLS
	// config, which http2 writes into: a stopped server's goroutine may
	// still be reading its own (the race detector saw both).
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.mu.Lock()
			n.requests++
			if r.ProtoMajor != 2 {
				n.http1++
			}
			n.mu.Unlock()
			h.ServeHTTP(w, r)
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			n.mu.Lock()
			switch s {
			case http.StateNew:
				n.conns++
			case http.StateHijacked:
				n.hijacked = append(n.hijacked, c)
			}
			n.mu.Unlock()
		},
		TLSConfig: n.tr.cfg.ServerTLS.Clone(), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	n.srv = srv
	go func() { _ = srv.ServeTLS(ln, "", "") }()
}

// stop closes the listener and every connection to it, streams included
// (which an http.Server does not track once hijacked): the node is gone,
// as if its process had died, until listen again.
func (n *testNode) stop() {
	require.NoError(n.t, n.srv.Close())
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.hijacked {
		c.Close()
	}
	n.hijacked = nil
}

func (n *testNode) deliver(msgs []session.PeerMessage) {
	n.mu.Lock()
	n.got = append(n.got, msgs...)
	n.mu.Unlock()
	select {
	case n.arrived <- struct{}{}:
	default:
	}
}

func (n *testNode) received() []session.PeerMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]session.PeerMessage(nil), n.got...)
}

// waitFor waits (up to 20 s: the machine is loaded) until cond holds of
// what n received.
func (n *testNode) waitFor(cond func([]session.PeerMessage) bool) []session.PeerMessage {
	deadline := time.After(20 * time.Second)
	for {
		if got := n.received(); cond(got) {
			return got
		}
		select {
		case <-n.arrived:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			n.t.Fatalf("node %d: condition not met in time; received %d messages", n.cred.ID, len(n.received()))
		}
	}
}

func heartbeat(group uint64, from, to raft.NodeID, term uint64) session.PeerMessage {
	return session.PeerMessage{Group: group, From: from, To: to, Raft: &raft.Message{Type: raft.MsgHeartbeat, From: from, To: to, Term: term, Commit: term}}
}

func TestDeliversBatchesBetweenThreeNodes(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	const perPeer = 2000
	for from, n := range c.nodes {
		var msgs []session.PeerMessage
		for i := uint64(1); i <= perPeer; i++ {
			for to := range c.nodes {
				if to != from {
					m := heartbeat(1, from, to, i)
					m.Raft.Type = raft.MsgApp
					m.Raft.Entries = []raft.Entry{{Term: 1, Index: i, Data: []byte("entry")}}
					msgs = append(msgs, m)
				}
			}
			if len(msgs) >= 100 {
				n.tr.Send(msgs)
				// The caller may reuse its buffers at once: Send encoded them.
				for j := range msgs {
					msgs[j].Raft.Entries[0].Data[0] = 'X'
				}
				msgs = msgs[:0]
			}
		}
		n.tr.Send(msgs)
	}
	for id, n := range c.nodes {
		got := n.waitFor(func(got []session.PeerMessage) bool { return len(got) >= 2*perPeer })
		require.Len(t, got, 2*perPeer, "node %d", id)
		next := map[raft.NodeID]uint64{}
		for _, m := range got {
			require.Equal(t, id, m.To)
			require.Equal(t, "entry", string(m.Raft.Entries[0].Data))
			// Each sender's messages arrive in the order sent.
			next[m.From]++
			require.Equal(t, next[m.From], m.Raft.Term)
		}
	}
	for id, n := range c.nodes {
		s := n.tr.Stats()
		require.Equal(t, uint64(2*perPeer), s.Sent, "node %d", id)
		require.Zero(t, s.Dropped)
		require.Less(t, s.Batches, uint64(2*perPeer/10), "node %d sent batches, not one request per message", id)
		n.mu.Lock()
		// One long-lived stream per peer (a second only if one was
		// lost), not one connection or request per batch.
		require.LessOrEqual(t, n.conns, 4, "node %d accepted connections", id)
		require.Positive(t, n.requests)
		require.LessOrEqual(t, n.requests, 4, "node %d: stream openings", id)
		require.Equal(t, n.requests, n.http1, "node %d: every stream upgrades HTTP/1.1", id)
		n.mu.Unlock()
	}
}

func TestGroupIDCrossesTheWire(t *testing.T) {
	c := newTestCluster(t, 1, 2)
	c.nodes[1].tr.Send([]session.PeerMessage{heartbeat(0, 1, 2, 1), heartbeat(7, 1, 2, 2), heartbeat(1<<40, 1, 2, 3)})
	got := c.nodes[2].waitFor(func(got []session.PeerMessage) bool { return len(got) == 3 })
	require.Equal(t, []uint64{0, 7, 1 << 40}, []uint64{got[0].Group, got[1].Group, got[2].Group})
}

// TestDeadPeerDoesNotBlockOthers: one peer accepts connections and never
// answers, another refuses them; Send never blocks and the live peer keeps
// getting its messages.
func TestDeadPeerDoesNotBlockOthers(t *testing.T) {
	c := newTestCluster(t, 1, 2)
	// A black hole: accepts, never reads or answers.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hole.Close()
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			conn, err := hole.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, conn)
			heldMu.Unlock()
		}
	}()
	defer func() {
		heldMu.Lock()
		for _, c := range held {
			c.Close()
		}
		heldMu.Unlock()
	}()
	// A closed port.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	closed.Close()

	sender := c.nodes[1].tr
	// The black hole holds a request for as long as the test runs: had Send
	// or the live peer's sender waited on it even once, the test would
	// hang instead of finishing.
	sender.cfg.RequestTimeout = time.Hour
	sender.SetPeer(3, hole.Addr().String())
	sender.SetPeer(4, closedAddr)

	const rounds = 6000 // more than a queue holds
	for i := uint64(1); i <= rounds; i++ {
		sender.Send([]session.PeerMessage{heartbeat(1, 1, 3, i), heartbeat(1, 1, 4, i), heartbeat(1, 1, 2, i)})
		if i%100 == 0 {
			// Let the live peer's sender drain; the dead ones fill up.
			c.nodes[2].waitFor(func(got []session.PeerMessage) bool { return len(got) > 0 && got[len(got)-1].Raft.Term == i })
		}
	}
	got := c.nodes[2].waitFor(func(got []session.PeerMessage) bool { return len(got) == rounds })
	require.Equal(t, uint64(rounds), got[rounds-1].Raft.Term)
	s := sender.Stats()
	// The dead peers' queues filled (bounded) and the rest was dropped.
	require.Greater(t, s.Dropped, uint64(0))
	require.Equal(t, uint64(3*rounds), s.Sent+s.Dropped)
	require.Less(t, s.Sent, uint64(3*rounds))
}

func TestReconnectsAfterPeerRestart(t *testing.T) {
	c := newTestCluster(t, 1, 2)
	a, b := c.nodes[1], c.nodes[2]
	a.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 1)})
	b.waitFor(func(got []session.PeerMessage) bool { return len(got) == 1 })

	// Node 2 goes away: sends fail, the sender backs off.
	// A frame written as the stream ends may be lost unnoticed (the
	// sender does not wait for the peer); the next is not.
	b.stop()
	deadline := time.Now().Add(20 * time.Second)
	for a.tr.Stats().Failed == 0 {
		a.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 2)})
		require.True(t, time.Now().Before(deadline), "no failure seen")
		time.Sleep(10 * time.Millisecond)
	}
	// It comes back on the same address; messages flow again.
	b.listen(b.addr)
	for i := uint64(3); ; i++ {
		a.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, i)})
		got := b.received()
		if len(got) > 1 && got[len(got)-1].Raft.Term > 2 {
			break
		}
		require.True(t, time.Now().Before(deadline.Add(10*time.Second)), "peer not reached again")
		time.Sleep(50 * time.Millisecond)
	}
}

// A peer that opens a stream to us is up: our sender to it stops its
// backoff and dials at once, so a restarted node is reachable again as soon
// as it speaks, not a backoff of up to 2.5 s later (the conformance suite's
// restarted leader waited 2.1 s for its new leader to reach it, and a
// session's 2 s ttl ran out meanwhile).
func TestPeerThatSpeaksIsRedialedAtOnce(t *testing.T) {
	c := newTestCluster(t, 1, 2)
	a, b := c.nodes[1], c.nodes[2]
	b.stop()
	deadline := time.Now().Add(20 * time.Second)
	// Six failures: the sender now sleeps 1.2 s to 2 s before its next try.
	for a.tr.Stats().Failed < 6 {
		a.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 1)})
		require.True(t, time.Now().Before(deadline), "not enough failures seen")
		time.Sleep(5 * time.Millisecond)
	}
	b.listen(b.addr)
	b.tr.Send([]session.PeerMessage{heartbeat(1, 2, 1, 1)})
	a.waitFor(func(got []session.PeerMessage) bool { return len(got) > 0 })
	spoke := time.Now()
	for len(b.received()) == 0 {
		a.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 2)})
		time.Sleep(5 * time.Millisecond)
		require.Less(t, time.Since(spoke), 800*time.Millisecond, "node 1 did not redial node 2 once node 2 spoke")
	}
}

func TestPeerOutsideTheCAIsRefusedByTLS(t *testing.T) {
	c := newTestCluster(t, 1, 2)
	other, err := NewCA("another CA")
	require.NoError(t, err)
	stranger, err := other.NewNode(1)
	require.NoError(t, err)
	// The stranger trusts our CA but shows a certificate of its own CA.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ClientTLSConfig(c.ca.Pool(), stranger)}}
	body := EncodeBatch([]session.PeerMessage{heartbeat(1, 1, 2, 1)})
	req, err := http.NewRequest(http.MethodPost, "https://"+c.nodes[2].addr+StreamPath, bytes.NewReader(body))
	require.NoError(t, err)
	m := httpMessage{method: req.Method, target: req.URL, header: req.Header}
	require.NoError(t, signRequest(&m, body, c.nodes[1].cred.Key, "1", "n1", time.Now()))
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	require.Empty(t, c.nodes[2].received())
	// And a node does not trust a server outside the CA either.
	require.Error(t, tlsDial(c.nodes[2].addr, ClientTLSConfig(other.Pool(), stranger)))
}

func tlsDial(addr string, cfg *tls.Config) error {
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	return conn.Close()
}

func TestSetPeerForgetAndClose(t *testing.T) {
	c := newTestCluster(t, 1, 2)
	a, b := c.nodes[1], c.nodes[2]
	a.tr.SetPeer(2, "")
	a.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 1)})
	require.Equal(t, uint64(1), a.tr.Stats().Dropped, "a forgotten peer gets nothing")
	a.tr.SetPeer(2, b.addr)
	a.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 2)})
	got := b.waitFor(func(got []session.PeerMessage) bool { return len(got) == 1 })
	require.Equal(t, uint64(2), got[0].Raft.Term)

	require.NoError(t, a.tr.Close())
	a.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 3)})
	require.Equal(t, uint64(2), a.tr.Stats().Dropped)
	require.NoError(t, a.tr.Close(), "Close twice is fine")
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	_, creds, err := DevCluster(1)
	require.NoError(t, err)
	good := Config{ID: 1, Key: creds[1].Key, ServerTLS: &tls.Config{}, ClientTLS: &tls.Config{}, Deliver: func([]session.PeerMessage) {}}
	_, err = New(good)
	require.NoError(t, err)
	for _, bad := range []func(*Config){
		func(c *Config) { c.ID = 0 },
		func(c *Config) { c.Key = nil },
		func(c *Config) { c.Deliver = nil },
		func(c *Config) { c.ServerTLS = nil },
		func(c *Config) { c.Keys = map[raft.NodeID]ed25519.PublicKey{2: {1, 2}} },
	} {
		cfg := good
		bad(&cfg)
		_, err := New(cfg)
		require.Error(t, err)
	}
}

// testLogger logs through t, so a failing test shows the transport's view.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestIdenticalBatchesInOneSecondAreDelivered: Raft may send the same
// message twice within a second (a repeated probe or answer); Ed25519 is
// deterministic, so without a nonce the second batch would carry the same
// signature and be refused as a replay.
func TestIdenticalBatchesInOneSecondAreDelivered(t *testing.T) {
	frozen := time.Now()
	c := newTestCluster(t)
	ca, creds, err := DevCluster(1, 2)
	require.NoError(t, err)
	c.ca = ca
	for id, cred := range creds {
		c.keys[id] = cred.Public()
	}
	clock := func(cfg *Config) { cfg.Now = func() time.Time { return frozen } }
	a := c.start(t, creds[1], "127.0.0.1:0", clock)
	b := c.start(t, creds[2], "127.0.0.1:0", clock)
	a.tr.SetPeer(2, b.addr)
	for i := 1; i <= 3; i++ {
		a.tr.Send([]session.PeerMessage{heartbeat(1, 1, 2, 5)})
		b.waitFor(func(got []session.PeerMessage) bool { return len(got) == i })
	}
	require.Zero(t, a.tr.Stats().Failed)
}

func TestSnapshotSentReportsHowSnapshotsEnded(t *testing.T) {
	type report struct {
		to raft.NodeID
		ok bool
	}
	reports := make(chan report, 16)
	c := newTestCluster(t)
	ca, creds, err := DevCluster(1, 2)
	require.NoError(t, err)
	c.ca = ca
	for id, cred := range creds {
		c.keys[id] = cred.Public()
	}
	a := c.start(t, creds[1], "127.0.0.1:0", func(cfg *Config) {
		cfg.SnapshotSent = func(to raft.NodeID, ok bool) { reports <- report{to, ok} }
	})
	b := c.start(t, creds[2], "127.0.0.1:0", nil)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := closed.Addr().String()
	closed.Close()
	a.tr.SetPeer(2, b.addr)
	a.tr.SetPeer(4, deadAddr)

	snap := func(to raft.NodeID) session.PeerMessage {
		return session.PeerMessage{Group: 1, From: 1, To: to, Raft: &raft.Message{Type: raft.MsgSnap, From: 1, To: to, Term: 2,
			Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 10, Term: 2, Conf: raft.ConfState{Voters: []raft.NodeID{1, 2}}}, Data: []byte("state")}}}
	}
	a.tr.Send([]session.PeerMessage{snap(2), heartbeat(1, 1, 2, 2)})
	a.tr.Send([]session.PeerMessage{snap(4)})
	got := map[raft.NodeID]bool{}
	for len(got) < 2 {
		select {
		case r := <-reports:
			got[r.to] = r.ok
		case <-time.After(20 * time.Second):
			t.Fatalf("reports so far: %v", got)
		}
	}
	require.Equal(t, map[raft.NodeID]bool{2: true, 4: false}, got)
	msgs := b.waitFor(func(got []session.PeerMessage) bool { return len(got) == 2 })
	require.Equal(t, []byte("state"), msgs[0].Raft.Snapshot.Data)
}

// TestSnapshotNotAckedInTimeIsReportedFailed: a peer that takes the stream
// and then goes silent (a stopped process) never acks the snapshot; the
// sender gives the stream up after RequestTimeout and reports the
// snapshot failed, so the leader does not wait on it forever.
func TestSnapshotNotAckedInTimeIsReportedFailed(t *testing.T) {
	ca, creds, err := DevCluster(1, 2)
	require.NoError(t, err)
	c := &testCluster{ca: ca, nodes: map[raft.NodeID]*testNode{}, keys: map[raft.NodeID]ed25519.PublicKey{}}
	for id, cred := range creds {
		c.keys[id] = cred.Public()
	}
	reports := make(chan bool, 4)
	a := c.start(t, creds[1], "127.0.0.1:0", func(cfg *Config) {
		cfg.RequestTimeout = 300 * time.Millisecond
		cfg.SnapshotSent = func(_ raft.NodeID, ok bool) { reports <- ok }
	})
	// The silent peer: answers the opening with 101, then reads nothing
	// and writes nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	held := make(chan net.Conn, 4)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + upgradeToken + "\r\n\r\n")
			_ = rw.Flush()
			held <- conn
		}),
		TLSConfig: ServerTLSConfig(ca.Pool(), creds[2]), ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		srv.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	})
	a.tr.SetPeer(2, ln.Addr().String())
	snap := session.PeerMessage{Group: 1, From: 1, To: 2, Raft: &raft.Message{Type: raft.MsgSnap, From: 1, To: 2, Term: 2,
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 10, Term: 2}, Data: []byte("state")}}}
	start := time.Now()
	a.tr.Send([]session.PeerMessage{snap})
	select {
	case ok := <-reports:
		require.False(t, ok)
		require.Less(t, time.Since(start), 10*time.Second)
	case <-time.After(20 * time.Second):
		t.Fatal("the unacked snapshot was never reported")
	}
}
