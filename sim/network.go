package sim

import (
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// network is the simulated network between nodes: a matrix of directed
// links, each of which can be blocked (a partition drops what crosses it)
// or clogged (what crosses it waits until the clog clears). Loss,
// duplication, delay and reordering are drawn per message from the run's
// parameters. Clients reach their node over a separate, reliable path: a
// client shares its node's side of any partition, so a cut-off leader keeps
// serving the clients that can still reach it — the situation in which
// stale reads show.
type network struct {
	n       int
	blocked []bool    // n*n, [from*n+to]: messages are dropped
	clogs   []uint16  // n*n: number of clogs on the link; > 0 holds messages
	parked  [][]int32 // n*n: message slots held by a clog, in arrival order
	// partitionGen names the partition in force, so that the end of an
	// older one does not heal a newer one.
	partitionGen uint32
}

func newNetwork(n int) network {
	return network{
		n:       n,
		blocked: make([]bool, n*n),
		clogs:   make([]uint16, n*n),
		parked:  make([][]int32, n*n),
	}
}

func (nw *network) link(from, to int) int { return from*nw.n + to }

// setPartition installs a partition: blocked(from, to) says which directed
// links drop messages. It replaces any partition in force.
func (nw *network) setPartition(blocked func(from, to int) bool) uint32 {
	for from := range nw.n {
		for to := range nw.n {
			nw.blocked[nw.link(from, to)] = from != to && blocked(from, to)
		}
	}
	nw.partitionGen++
	return nw.partitionGen
}

func (nw *network) clearPartition() {
	clear(nw.blocked)
	nw.partitionGen++
}

// wireMessage is a message between nodes: raft's, or (on nodes that run the
// service core) one of the service's own, whose From and To are copied into
// Message so that the network routes both alike.
type wireMessage struct {
	raft.Message
	// service is the service core's message (forwarded write, keepalive,
	// or an answer to one); nil for a raft message.
	service *session.PeerMessage
}

// slab holds things in flight (messages, client RPCs); events name them by
// slot, so the event queue stays small and free of pointers, and slots are
// reused.
type slab[T any] struct {
	items []T
	free  []int32
}

func (s *slab[T]) put(v T) int32 {
	if n := len(s.free); n > 0 {
		slot := s.free[n-1]
		s.free = s.free[:n-1]
		s.items[slot] = v
		return slot
	}
	s.items = append(s.items, v)
	return int32(len(s.items) - 1)
}

func (s *slab[T]) take(slot int32) T {
	v := s.items[slot]
	var zero T
	s.items[slot] = zero
	s.free = append(s.free, slot)
	return v
}

// entryArena copies the entries of messages in flight. A real network
// serializes a message when it is sent; the simulator must copy instead,
// because raft's log may later overwrite the array a message's entries point
// into (a follower truncating a conflicting suffix). Copies are carved out of
// large chunks, so a copy costs no allocation of its own.
type entryArena struct{ chunk []raft.Entry }

func (a *entryArena) clone(ents []raft.Entry) []raft.Entry {
	if len(ents) == 0 {
		return nil
	}
	if len(ents) > cap(a.chunk)-len(a.chunk) {
		a.chunk = make([]raft.Entry, 0, max(4096, len(ents)))
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, ents...)
	return a.chunk[start:len(a.chunk):len(a.chunk)]
}

// rpc is a client request or reply in flight.
type rpc struct {
	client  int
	node    int
	payload any
}

// messageDelay draws one message's one-way delay.
func (w *World) messageDelay() time.Duration {
	p := &w.params
	if p.TailChance > 0 && w.rng.Chance(p.TailChance) {
		w.stats.count(countTail)
		return p.LatencyMin + w.rng.Pareto(p.TailScale, p.TailAlpha, p.TailLimit)
	}
	d := p.LatencyMin + w.rng.Exp(p.LatencyMean)
	if p.Reorder > 0 && w.rng.Chance(p.Reorder) {
		// Held back long enough to arrive after messages sent later.
		w.stats.count(countReorder)
		d += w.rng.Duration(time.Millisecond, 20*time.Millisecond)
	}
	return d
}

// ClientDelay draws the delay between a client and its node.
func (w *World) ClientDelay() time.Duration {
	return w.params.LatencyMin + w.rng.Exp(w.params.LatencyMean)
}

// sendMessage puts a message on the network.
func (w *World) sendMessage(m wireMessage) {
	from, to := w.slotOf(m.From), w.slotOf(m.To)
	w.stats.Messages++
	w.countSend(from)
	if w.net.blocked[w.net.link(from, to)] {
		w.stats.count(countBlocked)
		return
	}
	if w.params.Loss > 0 && w.rng.Chance(w.params.Loss) {
		w.stats.count(countLoss)
		return
	}
	m.Entries = w.arena.clone(m.Entries)
	if w.holdForReplay(to, m) {
		return
	}
	copies := 1
	// Every message may be duplicated, forwarded writes included: the
	// leader answers a repeated forward from memory instead of proposing
	// it again.
	if w.params.Duplicate > 0 && w.rng.Chance(w.params.Duplicate) {
		w.stats.count(countDuplicate)
		copies = 2
	}
	for range copies {
		slot := w.msgs.put(m)
		at := w.now + w.messageDelay()
		if m.Type == raft.MsgTimeoutNow && m.service == nil && w.params.TransferEvery > 0 && w.rng.Chance(lateTimeoutNowChance) {
			// Arrives one to three election timeouts late: after the
			// leader gave the transfer up (§3.10) and took requests again,
			// or after another leader took over. A target that obeys it
			// then campaigns with the mark voters grant inside a lease.
			w.stats.count(countLateTimeoutNow)
			at += w.rng.Duration(ElectionTicks*TickInterval, 3*ElectionTicks*TickInterval)
		}
		if w.holdUntil > w.now && w.rng.Chance(w.holdShare) {
			// Held for seconds, across whatever leader changes happen
			// meanwhile, then delivered (FaultHoldBack).
			w.stats.count(countHeldBack)
			at = w.holdUntil + w.rng.Duration(0, 500*time.Millisecond)
			w.heldLast = max(w.heldLast, at)
		}
		w.queue.push(event{at: at, kind: evDeliver, node: uint8(to), ref: slot})
	}
}

// lateTimeoutNowChance is the share of TimeoutNow messages that arrive
// elections late in a run with leadership transfers.
const lateTimeoutNowChance = 0.3

// stormWindow and stormPerPeer bound how many messages one node may send
// to the others within a stretch of virtual time: stormPerPeer for each
// other node, plus one for each other node and each tick the node made up
// in the window (a resumed node makes up the ticks of its pause at once,
// and a leader sends at most one heartbeat a tick). A healthy node's sends are
// paced by its ticks, its proposals and the answers it gets, under the
// in-flight caps: over 1,540 seeds of every profile (5 and 16 nodes) the
// busiest window of any node held at most about 1,250 messages a peer, a
// leader making up 936 ticks after a pause of 9 s (kv swarm seed 194); over
// a campaign of 20,000 seeds, 14,461 to 4 peers, a leader making up 2,335
// ticks of a 23 s pause (kv seed 15975), so about 1,300 a peer beyond its
// made-up heartbeats. A
// bug that answers an answer with more than one message (a reject that
// never backs off, resent for each of its duplicates and heartbeats)
// multiplies them instead: virtual time all but stops while memory runs
// out, and without the check such a seed never ends. Past the bound the
// run fails as a message storm.
const (
	stormWindow  = 100 * time.Millisecond
	stormPerPeer = 10_000
)

// countSend counts a message sent by the node in slot from towards the
// message-storm check.
func (w *World) countSend(from int) {
	w.stormRoll()
	w.stormSent[from]++
	n := w.stormSent[from]
	w.stats.PeakSends = max(w.stats.PeakSends, n)
	peers := uint64(len(w.nodes) - 1)
	if limit := (stormPerPeer + w.stormTicks[from]) * peers; n > limit && w.failure == nil {
		w.fail(w.Errorf("message storm: n%d sent more than %d messages to the other %d nodes within %v of virtual time (from %v)%s",
			w.nodes[from].id, limit, peers, stormWindow, w.stormWin*stormWindow, w.describeNodes()))
	}
}

// stormRoll starts a new window of the message-storm check when the
// clock has left the one it counts.
func (w *World) stormRoll() {
	if win := w.now / stormWindow; win != w.stormWin {
		w.stormWin = win
		clear(w.stormSent)
		clear(w.stormTicks)
	}
}

// clog adds a clog to a link; unclog removes one and, when the link is
// clear, releases what it held in the order it arrived, each after a short
// delay (so released messages also interleave with new ones).
func (w *World) clog(from, to int) {
	w.net.clogs[w.net.link(from, to)]++
}

func (w *World) unclog(from, to int) {
	l := w.net.link(from, to)
	if w.net.clogs[l] == 0 {
		return
	}
	w.net.clogs[l]--
	if w.net.clogs[l] > 0 {
		return
	}
	at := w.now
	for _, slot := range w.net.parked[l] {
		at += w.rng.Duration(0, 200*time.Microsecond)
		w.queue.push(event{at: at, kind: evDeliver, node: uint8(to), ref: slot})
	}
	w.net.parked[l] = w.net.parked[l][:0]
}

// deliver handles a message's arrival.
func (w *World) deliver(ev event) {
	m := &w.msgs.items[ev.ref]
	from, to := w.slotOf(m.From), w.slotOf(m.To)
	l := w.net.link(from, to)
	if w.net.blocked[l] {
		// A partition also drops what was already on the wire.
		w.stats.count(countBlocked)
		w.msgs.take(ev.ref)
		return
	}
	if w.net.clogs[l] > 0 {
		w.stats.count(countClogged)
		w.net.parked[l] = append(w.net.parked[l], ev.ref)
		return
	}
	n := w.nodes[to]
	if !n.up || n.id != m.To {
		// Down, or the slot's server has since left and come back under
		// another id: nobody listens at that address any more.
		w.msgs.take(ev.ref)
		return
	}
	if n.paused {
		n.parked = append(n.parked, ev)
		return
	}
	msg := w.msgs.take(ev.ref)
	var err error
	var stale bool
	var before staleBefore
	if msg.service != nil {
		err = n.app.stepService(msg.service)
	} else {
		r := n.app.raftCore()
		if msg.Message.Type == raft.MsgVote {
			// The vote it held before, for the vote-promise check: a vote
			// granted again to the same candidate in the same term is no
			// new vote.
			n.direct.voteBefore, n.direct.voteTermBefore = r.Vote(), r.Term()
		}
		// Forwarded requests (read index, transfer) carry no term: they
		// are not Figure 2's RPCs.
		stale = msg.Message.Term != 0 && msg.Message.Term < r.Term()
		if stale {
			before = beforeStale(r)
		}
		if msg.Message.Type == raft.MsgRemoved && r.SoftState().State == raft.StateCandidate {
			// Told, a candidate turns follower in its term, perhaps
			// before any Ready showed it campaign (preVoteTerm).
			n.direct.toldCandidateTerm = r.Term()
		}
		err = n.app.stepRaft(msg.Message)
	}
	if err != nil {
		w.Failf("node %d refused a message: %v", n.id, err)
		return
	}
	if s := msg.service; s != nil && (s.Forward != nil || s.KeepAlive != nil) {
		what := "forwarded write"
		if s.KeepAlive != nil {
			what = "keepalive"
		}
		w.check.owesNotice(n, s.From, what)
	}
	if msg.service == nil {
		if stale {
			if err := w.check.staleInert(n, &msg.Message, before); err != nil {
				w.fail(err)
				return
			}
		}
		w.check.stepped(n, &msg.Message)
		if msg.Message.Type == raft.MsgRemoved {
			if w.toldRemoved(n, &msg.Message); w.failure != nil {
				return
			}
		}
		if err := w.check.steppedDirect(n, &msg.Message); err != nil {
			w.fail(err)
			return
		}
		w.check.snapshotAcked(n, &msg.Message)
	}
	n.drive()
}

// MaxMessageDelay bounds how long a message between nodes can take with
// the run's parameters: the slow tail, if any, or far out in the
// exponential, plus the hold-back of reordering. (Healing stops the tail
// for new messages; the sessions workload keeps the bound from before.)
func (w *World) MaxMessageDelay() time.Duration {
	p := &w.params
	d := 50 * p.LatencyMean
	if p.TailChance > 0 {
		d = max(d, p.TailLimit)
	}
	return p.LatencyMin + d + 20*time.Millisecond
}
