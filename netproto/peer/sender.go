package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// Backoff between failed batches to one peer: doubling from the first to
// the last, with jitter, so a dead peer costs a dial now and then and a
// restarted one is back within a couple of seconds.
const (
	backoffFirst = 50 * time.Millisecond
	backoffMax   = 2 * time.Second
)

// peer is one destination: a queue that Send appends encoded messages to,
// and one goroutine that ships the queue as it stands, one batch in flight
// at a time (which keeps the peer's messages in order and batches whatever
// arrives during a round trip).
type peer struct {
	t      *Transport
	id     raft.NodeID
	client *http.Client
	http   *http.Transport

	mu      sync.Mutex
	address string
	// pending is the body of the next batch: messages encoded back to back.
	pending []byte
	count   int
	// snapshots counts the MsgSnaps in pending.
	snapshots int
	// lastBatch sizes the next pending buffer.
	lastBatch int

	wake chan struct{} // capacity 1: "pending is not empty"
	ctx  context.Context
	stop context.CancelFunc
}

func newPeer(t *Transport, id raft.NodeID, address string) *peer {
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 15 * time.Second}
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     t.cfg.ClientTLS.Clone(),
		TLSHandshakeTimeout: 3 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     2 * time.Minute,
		// A connection that went quiet is probed, and dropped if the peer
		// does not answer, rather than waited on until the request times
		// out.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 5 * time.Second, PingTimeout: 3 * time.Second},
	}
	if t.http1 {
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	p := &peer{
		t: t, id: id, address: address, http: tr,
		client: &http.Client{Transport: tr},
		wake:   make(chan struct{}, 1),
	}
	p.ctx, p.stop = context.WithCancel(context.Background())
	return p
}

func (p *peer) setAddress(address string) {
	p.mu.Lock()
	changed := p.address != address
	p.address = address
	p.mu.Unlock()
	if changed {
		p.http.CloseIdleConnections()
	}
}

// enqueue appends m to the pending batch unless the queue is full.
func (p *peer) enqueue(m *session.PeerMessage) bool {
	cfg := &p.t.cfg
	p.mu.Lock()
	if p.count >= cfg.MaxQueueMessages || (p.count > 0 && len(p.pending) >= cfg.MaxQueueBytes) {
		p.mu.Unlock()
		return false
	}
	if p.pending == nil {
		p.pending = make([]byte, 0, max(p.lastBatch, 512))
	}
	before := len(p.pending)
	p.pending = AppendMessage(p.pending, m)
	if p.count > 0 && len(p.pending) > cfg.MaxQueueBytes {
		p.pending = p.pending[:before]
		p.mu.Unlock()
		return false
	}
	p.count++
	if m.Raft != nil && m.Raft.Type == raft.MsgSnap {
		p.snapshots++
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// take removes the pending batch.
func (p *peer) take() (body []byte, count, snapshots int, address string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	body, count, snapshots, address = p.pending, p.count, p.snapshots, p.address
	// The body now belongs to the request (the HTTP client may read it
	// after the round trip returns), so the next batch gets a new buffer.
	p.pending, p.count, p.snapshots = nil, 0, 0
	if count > 0 {
		p.lastBatch = min(len(body), 1<<20)
	}
	return body, count, snapshots, address
}

// reportSnapshots tells the host how a batch's snapshots ended.
func (p *peer) reportSnapshots(snapshots int, ok bool) {
	if hook := p.t.cfg.SnapshotSent; hook != nil {
		for range snapshots {
			hook(p.id, ok)
		}
	}
}

func (p *peer) run() {
	defer p.t.wg.Done()
	defer p.http.CloseIdleConnections()
	backoff := time.Duration(0)
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		}
		for {
			body, count, snapshots, address := p.take()
			if count == 0 {
				break
			}
			err := p.post(address, body)
			p.reportSnapshots(snapshots, err == nil)
			if err != nil {
				p.t.failed.Add(1)
				if backoff == 0 {
					p.t.cfg.Logger.Warn("peer unreachable; retrying with backoff", "peer", p.id, "address", address, "err", err)
				}
				backoff = min(max(2*backoff, backoffFirst), backoffMax)
				// Jitter in [¾, 5/4) of the backoff, so that peers that
				// failed together do not retry together.
				sleep := backoff*3/4 + rand.N(backoff/2)
				select {
				case <-p.ctx.Done():
					return
				case <-time.After(sleep):
				}
				continue
			}
			if backoff != 0 {
				p.t.cfg.Logger.Info("peer reachable again", "peer", p.id, "address", address)
				backoff = 0
			}
			p.t.batches.Add(1)
		}
	}
}

// post sends one signed batch and waits for the answer.
func (p *peer) post(address string, body []byte) error {
	timeout := p.t.cfg.RequestTimeout + time.Duration(len(body)>>20)*time.Second
	// Derived from the peer's life, so that stopping it abandons a request
	// in flight.
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+address+BatchPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	m := httpMessage{method: req.Method, target: req.URL, header: req.Header}
	if err := signRequest(&m, body, p.t.cfg.Key, p.t.keyid, p.t.nonce(), p.t.cfg.Now()); err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("peer %d answered %s: %s", p.id, resp.Status, bytes.TrimSpace(msg))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return nil
}
