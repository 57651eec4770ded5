package peer

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// Backoff between failed attempts to reach one peer: doubling from the
// first to the last, with jitter, so a dead peer costs a dial now and then;
// a restarted one is dialed again as soon as it opens a stream to us.
const (
	backoffFirst = 50 * time.Millisecond
	backoffMax   = 2 * time.Second
)

// peer is one destination: a queue that Send appends encoded messages to,
// and one goroutine that writes the queue as it stands onto the peer's
// stream as one frame, and at once goes back for more: it never waits for
// the peer, so what arrives during a write rides in the next frame, and
// frames leave in the order queued.
type peer struct {
	t  *Transport
	id raft.NodeID

	mu      sync.Mutex
	address string
	// pending is the next frame: frameHeaderRoom bytes for its header,
	// then messages encoded back to back.
	pending []byte
	count   int
	// snapshots counts the MsgSnaps in pending.
	snapshots int
	// spare is the buffer of the frame last written, for reuse.
	spare []byte

	wake chan struct{} // capacity 1: "pending is not empty"
	// retry (capacity 1) cuts a backoff short: the peer opened a stream to
	// us, so it is up.
	retry chan struct{}
	ctx   context.Context
	stop  context.CancelFunc
}

func newPeer(t *Transport, id raft.NodeID, address string) *peer {
	p := &peer{t: t, id: id, address: address, wake: make(chan struct{}, 1), retry: make(chan struct{}, 1)}
	p.ctx, p.stop = context.WithCancel(context.Background())
	return p
}

func (p *peer) setAddress(address string) {
	p.mu.Lock()
	changed := p.address != address
	p.address = address
	p.mu.Unlock()
	if changed {
		p.signal() // the sender notices and reopens its stream there
	}
}

// heard tells the sender that the peer is up: a backoff in progress ends.
func (p *peer) heard() {
	select {
	case p.retry <- struct{}{}:
	default:
	}
}

func (p *peer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// enqueue appends m to the pending frame unless the queue is full. The
// caller signals the sender.
func (p *peer) enqueue(m *session.PeerMessage) bool {
	cfg := &p.t.cfg
	p.mu.Lock()
	defer p.mu.Unlock()
	used := len(p.pending) - frameHeaderRoom
	if p.count >= cfg.MaxQueueMessages || (p.count > 0 && used >= cfg.MaxQueueBytes) {
		return false
	}
	if p.pending == nil {
		p.pending, p.spare = p.spare, nil
		if p.pending == nil {
			p.pending = make([]byte, frameHeaderRoom, 4096)
		}
		p.pending = p.pending[:frameHeaderRoom]
	}
	before := len(p.pending)
	p.pending = AppendMessage(p.pending, m)
	if p.count > 0 && len(p.pending)-frameHeaderRoom > cfg.MaxQueueBytes {
		p.pending = p.pending[:before]
		return false
	}
	p.count++
	if m.Raft != nil && m.Raft.Type == raft.MsgSnap {
		p.snapshots++
	}
	return true
}

// take removes the pending frame.
func (p *peer) take() (buf []byte, count, snapshots int, address string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	buf, count, snapshots, address = p.pending, p.count, p.snapshots, p.address
	p.pending, p.count, p.snapshots = nil, 0, 0
	return buf, count, snapshots, address
}

// recycle gives back a written frame's buffer (the write copied it out).
// A very large one (a snapshot) is let go.
func (p *peer) recycle(buf []byte) {
	if cap(buf) > 4<<20 {
		return
	}
	p.mu.Lock()
	p.spare = buf
	p.mu.Unlock()
}

// reportSnapshots tells the host how a frame's snapshots ended.
func (p *peer) reportSnapshots(snapshots int, ok bool) {
	if hook := p.t.cfg.SnapshotSent; hook != nil {
		for range snapshots {
			hook(p.id, ok)
		}
	}
}

func (p *peer) run() {
	defer p.t.wg.Done()
	var s *stream
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	backoff := time.Duration(0)
	fail := func(address string, err error) bool {
		p.t.failed.Add(1)
		if backoff == 0 {
			p.t.cfg.Logger.Warn("peer unreachable; retrying with backoff", "peer", p.id, "address", address, "err", err)
		}
		backoff = min(max(2*backoff, backoffFirst), backoffMax)
		// Jitter in [¾, 5/4) of the backoff, so that peers that failed
		// together do not retry together.
		sleep := backoff*3/4 + rand.N(backoff/2)
		select {
		case <-p.ctx.Done():
			return false
		case <-time.After(sleep):
			return true
		case <-p.retry:
			return true
		}
	}
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		}
		for {
			buf, count, snapshots, address := p.take()
			if count == 0 {
				break
			}
			if s != nil && (s.address != address || !s.alive()) {
				// The peer moved, or the stream ended (the peer closed
				// it, restarted, or refused a frame): open another.
				s.close()
				s = nil
			}
			if s == nil {
				var err error
				if s, err = p.open(address); err != nil {
					// The frame is dropped (Raft resends what matters).
					s = nil
					p.reportSnapshots(snapshots, false)
					if !fail(address, err) {
						return
					}
					continue
				}
				if backoff != 0 {
					p.t.cfg.Logger.Info("peer reachable again", "peer", p.id, "address", address)
					backoff = 0
				}
			}
			if err := s.write(buf, snapshots); err != nil {
				// write reported the frame's snapshots failed.
				s.close()
				s = nil
				if !fail(address, err) {
					return
				}
				continue
			}
			p.recycle(buf)
			p.t.batches.Add(1)
		}
	}
}
