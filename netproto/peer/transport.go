package peer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// Defaults for the Config fields left zero.
const (
	DefaultReplayWindow     = 30 * time.Second
	DefaultMaxQueueMessages = 4096
	DefaultMaxQueueBytes    = 16 << 20
	DefaultMaxBodyBytes     = 256 << 20
	DefaultRequestTimeout   = 5 * time.Second
)

// Config configures a Transport. ID, Key, Keys, ServerTLS, ClientTLS and
// Deliver are required.
type Config struct {
	ID   raft.NodeID
	Key  ed25519.PrivateKey                // this node's signing key (keyid = node id)
	Keys map[raft.NodeID]ed25519.PublicKey // the cluster's key list
	// ServerTLS is for the listener havend serves Handler on (see
	// ServerTLSConfig); ClientTLS for connections to peers (ClientTLSConfig).
	ServerTLS, ClientTLS *tls.Config
	// Deliver is called on receipt, from transport goroutines (one frame
	// at a time per sending peer, in the order sent); it must not block
	// long: it holds up that peer's stream. The slice and what it points
	// to are the callee's (byte slices alias the frame, which nothing else
	// uses).
	Deliver      func(msgs []session.PeerMessage)
	ReplayWindow time.Duration // default 30s
	Now          func() time.Time
	Logger       *slog.Logger

	// MaxQueueMessages and MaxQueueBytes bound each peer's queue of
	// messages waiting to be sent; past them Send drops (Raft retries).
	// A single message larger than MaxQueueBytes (a snapshot) is still
	// queued when the queue is empty.
	MaxQueueMessages int
	MaxQueueBytes    int
	// MaxBodyBytes caps a received frame (413 beyond).
	MaxBodyBytes int64
	// RequestTimeout bounds opening a stream, writing one frame, and a
	// snapshot's wait for the peer's ack (each plus a second per MiB).
	RequestTimeout time.Duration

	// SnapshotSent, if set, is told how each MsgSnap's frame ended: ok
	// once the peer acked it (decoded, checked and delivered), not ok if
	// the frame or its stream failed first (the host passes this to
	// raft's ReportSnapshot, so the leader retries without waiting for an
	// election timeout). Called from the peer's sender goroutine, never
	// from Send; it must not block long.
	SnapshotSent func(to raft.NodeID, ok bool)
}

// Stats counts what a Transport did, for metrics and tests.
type Stats struct {
	Sent     uint64 // messages handed to a peer's queue
	Dropped  uint64 // messages dropped: queue full, unknown peer, or closed
	Batches  uint64 // frames written onto a peer's stream
	Failed   uint64 // streams that could not be opened, or broke on a write
	Received uint64 // messages delivered to Deliver
	Refused  uint64 // stream openings and frames refused (401 and other errors)
}

// Transport carries PeerMessages between havend nodes: frames of batches
// over one long-lived stream per peer, each stream one signed request
// bound to its TLS connection (doc.go).
type Transport struct {
	cfg      Config
	keyid    string
	verifier verifier
	replay   *replayCache

	mu     sync.RWMutex
	peers  map[raft.NodeID]*peer
	closed bool
	wg     sync.WaitGroup
	// signers are the receiving side's streams, by sending node.
	signers map[raft.NodeID]*signer

	// nonces are noncePrefix (random, per Transport: a restarted node
	// does not repeat its predecessor's) and a counter.
	noncePrefix string
	nonceSeq    atomic.Uint64

	sent, dropped, batches, failed, received, refused atomic.Uint64
	lastRefusalLog                                    atomic.Int64
}

// New makes a Transport. It starts no goroutine until SetPeer.
func New(cfg Config) (*Transport, error) {
	switch {
	case cfg.ID == raft.None:
		return nil, errors.New("peer: Config.ID is required")
	case len(cfg.Key) != ed25519.PrivateKeySize:
		return nil, errors.New("peer: Config.Key must be an Ed25519 private key")
	case cfg.Deliver == nil:
		return nil, errors.New("peer: Config.Deliver is required")
	case cfg.ServerTLS == nil || cfg.ClientTLS == nil:
		return nil, errors.New("peer: Config.ServerTLS and ClientTLS are required")
	}
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = DefaultReplayWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxQueueMessages <= 0 {
		cfg.MaxQueueMessages = DefaultMaxQueueMessages
	}
	if cfg.MaxQueueBytes <= 0 {
		cfg.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	keys := make(map[string]ed25519.PublicKey, len(cfg.Keys))
	for id, k := range cfg.Keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("peer: key of node %d is not an Ed25519 public key", id)
		}
		keys[keyID(id)] = k
	}
	var prefix [8]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, err
	}
	return &Transport{
		noncePrefix: base64.RawURLEncoding.EncodeToString(prefix[:]) + ".",
		cfg:         cfg,
		keyid:       keyID(cfg.ID),
		verifier:    verifier{keys: keys, window: cfg.ReplayWindow, required: streamComponents},
		replay:      newReplayCache(cfg.ReplayWindow, maxReplayEntries),
		peers:       make(map[raft.NodeID]*peer),
		signers:     make(map[raft.NodeID]*signer),
	}, nil
}

// nonce is a value no other request of this node carries.
func (t *Transport) nonce() string {
	return t.noncePrefix + strconv.FormatUint(t.nonceSeq.Add(1), 36)
}

// keyID is a node's keyid: its id in decimal.
func keyID(id raft.NodeID) string { return strconv.FormatUint(uint64(id), 10) }

// Stats returns the counters so far.
func (t *Transport) Stats() Stats {
	return Stats{
		Sent: t.sent.Load(), Dropped: t.dropped.Load(), Batches: t.batches.Load(),
		Failed: t.failed.Load(), Received: t.received.Load(), Refused: t.refused.Load(),
	}
}

// SetPeer tells the transport where peer id listens (host:port); "" forgets
// it and stops its sender. Setting this node's own id is ignored.
func (t *Transport) SetPeer(id raft.NodeID, address string) {
	if id == t.cfg.ID || id == raft.None {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	p := t.peers[id]
	if address == "" {
		if p != nil {
			delete(t.peers, id)
			p.stop()
		}
		return
	}
	if p == nil {
		p = newPeer(t, id, address)
		t.peers[id] = p
		t.wg.Add(1)
		go p.run()
		return
	}
	p.setAddress(address)
}

// Send queues each message for its To. It encodes before returning, so the
// caller may reuse msgs at once; it never blocks on the network: a peer's
// queue that is full drops the message (Raft tolerates loss), and a
// message for a peer not set is dropped.
func (t *Transport) Send(msgs []session.PeerMessage) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	// The senders are woken once all is queued, so that one Send's
	// messages to a peer leave in one frame.
	var last *peer
	var woken []*peer
	for i := range msgs {
		p := t.peers[msgs[i].To]
		if p == nil || t.closed || !p.enqueue(&msgs[i]) {
			t.dropped.Add(1)
			continue
		}
		t.sent.Add(1)
		if p != last && !slices.Contains(woken, p) {
			woken = append(woken, p)
		}
		last = p
	}
	for _, p := range woken {
		p.signal()
	}
}

// Close stops every sender and waits for them, and ends the streams
// peers opened to it; the handler then answers 503.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	for id, p := range t.peers {
		delete(t.peers, id)
		p.stop()
	}
	for _, s := range t.signers {
		if s.current != nil {
			_ = s.current.conn.Close()
		}
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

func (t *Transport) isClosed() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.closed
}
