package sim

import (
	"fmt"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// Checks of the host contract and of snapshot traffic (issue 7, items 6, 8
// and 9): what a core promises its host, seen from the host.
//
//   - Ready..Advance: while a Ready waits for its fsync, HasReady is false
//     whatever the node is fed meanwhile (raft/doc.go, session/doc.go): a
//     host that persists on another goroutine would otherwise take a second
//     Ready early.
//   - Reads go out at once: a linearizable read submitted to a leader that
//     has committed an entry of its term, and is not waiting for an fsync,
//     makes the node take a Ready in the same event — its heartbeat round,
//     its lease answer or its refusal — instead of waiting for the next
//     tick (HasReady counts queued reads; session/doc.go).
//   - Compact from the apply step: the kv host compacts through the entries
//     a Ready handed it before it Advances, which raft must accept (the
//     host fails the run on a refusal; sim/replica.go).
//   - Snapshot resends: a leader sends a follower a snapshot again in the
//     same term only once the first was acknowledged, or at least an
//     election timeout of the leader's own ticks after it was sent (§7;
//     raft/doc.go, Snapshots). The simulator's transport never reports a
//     send's outcome (raft.ReportSnapshot), so no early resend is excused
//     by a report.
//   - Snapshot tail: the service core compacts its log to a snapshot only
//     once it has applied SnapshotTail entries past it, so the log keeps
//     that tail for followers a little behind (session.Config.SnapshotTail).

// hostCheckState is what these checks keep per node incarnation.
type hostCheckState struct {
	// ticks counts the ticks given to this incarnation (raft's own tick
	// count); readyTick and prevReadyTick are its value when the current
	// Ready and the one before were taken: the messages of the current
	// Ready were made in between.
	ticks, readyTick, prevReadyTick uint64
	// readies counts the Readys this incarnation took.
	readies uint64
	// snapSent[slot] is the last snapshot this node, as leader, sent to
	// the slot's node, and what that node acknowledged since.
	snapSent []snapSend
}

type snapSend struct {
	to          raft.NodeID
	term, index uint64
	// earliest is the earliest tick of the leader at which it can have
	// made the message (the tick when the Ready before it was taken).
	earliest uint64
	// acked is the highest index the slot's node acknowledged to this
	// leader in ackTerm. An answer stepped after the leader made a
	// snapshot message but before its host sent it (the Ready waited for
	// an fsync) covers that snapshot too: the leader saw it.
	acked, ackTerm uint64
}

// unacked says a snapshot was sent (terms start at 1) and no answer of
// its term reached its index.
func (s *snapSend) unacked() bool {
	return s.term != 0 && (s.ackTerm != s.term || s.acked < s.index)
}

func (h *hostCheckState) reset(slots int) {
	*h = hostCheckState{snapSent: make([]snapSend, slots)}
}

// readyTaken records that node n has just taken a Ready.
func (n *node) readyTaken() {
	h := &n.hostChecks
	h.prevReadyTick, h.readyTick = h.readyTick, h.ticks
	h.readies++
}

// readMustGoOut says whether a client request node n is about to take is a
// linearizable read that must make the node take a Ready at once: the node
// runs the service core, leads, has committed an entry of its term (raft's
// step 1 of §6.4 holds reads until then) and waits for no fsync.
func (n *node) readMustGoOut(payload any) bool {
	p, ok := payload.(*ConnRequest)
	if !ok || p.HangUp || p.Req.Op != session.OpRead || p.Req.Stale || n.syncing {
		return false
	}
	c, ok := n.app.(*coreReplica)
	if !ok || (!p.First && !c.open[p.Conn]) {
		return false
	}
	st := n.app.raftCore().Status()
	if st.State != raft.StateLeader {
		return false
	}
	v := &n.disk.written
	if st.Commit <= v.snapIndex() || st.Commit > v.lastIndex() {
		return false
	}
	return v.entryAt(st.Commit).Term == st.Term
}

// readWentOut checks, after node n took a client request for which
// readMustGoOut held, that it took a Ready since (before: the count of
// Readys before the request).
func (c *checker) readWentOut(n *node, p any, before uint64) error {
	if !n.up || n.hostChecks.readies > before {
		return nil
	}
	r := p.(*ConnRequest)
	return c.w.Errorf("read held back: node %d, leader of term %d with an entry of its term committed, took the linearizable read %d of %s (connection %d) and took no Ready for it: its read index round waits for the next tick (HasReady must count queued reads)",
		n.id, n.app.raftCore().Term(), r.Req.ID, r.Req.Path, r.Conn)
}

// readyWhileSyncing checks the Ready..Advance contract: a node whose Ready
// waits for its fsync must report no other work, however it was fed since.
func (c *checker) readyWhileSyncing(n *node) error {
	if !n.up || !n.syncing || !n.app.hasReady() {
		return nil
	}
	return c.w.Errorf("host contract violated: node %d (term %d) reports HasReady while its Ready, taken at its tick %d, still waits for its fsync and has not been Advanced (now at tick %d): a host persisting on another goroutine would take a second Ready",
		n.id, n.term, n.hostChecks.readyTick, n.hostChecks.ticks)
}

// snapshotAcked records an answer node n, a leader, stepped: the highest
// index acknowledged in its term, which ends a snapshot sent through it.
func (c *checker) snapshotAcked(n *node, m *raft.Message) {
	if m.Type != raft.MsgAppResp || m.Reject {
		return
	}
	s := &n.hostChecks.snapSent[c.w.slotOf(m.From)]
	if s.to != m.From {
		// The slot's node came back under a new id: nothing of the
		// old one's counts.
		*s = snapSend{to: m.From}
	}
	if m.Term > s.ackTerm {
		s.ackTerm, s.acked = m.Term, 0
	}
	if m.Term == s.ackTerm {
		s.acked = max(s.acked, m.Index)
	}
}

// snapshotResend checks a snapshot node n is about to send: unless the
// previous one to that follower in this term was acknowledged, at least an
// election timeout of n's ticks must lie between the two. Any answer
// through its index that n stepped counts, even one stepped before the
// host sent it: n may make a snapshot message, learn from a late answer
// to an earlier append that the follower holds its index, and only then
// hand the message to its host (seed 13036 of the kv swarm).
func (c *checker) snapshotResend(n *node, m *raft.Message) error {
	if m.Type != raft.MsgSnap || m.Snapshot == nil {
		return nil
	}
	h := &n.hostChecks
	s := &h.snapSent[c.w.slotOf(m.To)]
	if s.to != m.To {
		*s = snapSend{to: m.To}
	}
	if s.unacked() && s.term == m.Term && h.readyTick-s.earliest < ElectionTicks {
		return c.w.Errorf("snapshot resend too early: node %d, leader of term %d, sends node %d the snapshot at %d again by its tick %d, though it sent it the snapshot at %d at its tick %d or later, unacknowledged, less than an election timeout (%d ticks) before (§7: a snapshot in flight is timed from its send)",
			n.id, m.Term, m.To, m.Snapshot.Meta.Index, h.readyTick, s.index, s.earliest, ElectionTicks)
	}
	s.term, s.index, s.earliest = m.Term, m.Snapshot.Meta.Index, h.prevReadyTick
	return nil
}

// snapshotTail checks a compaction the service core made of its own log: it
// must have applied tail entries past the snapshot's index.
func (c *checker) snapshotTail(n *node, snap *raft.Snapshot, tail uint64) error {
	if snap == nil || tail == 0 || n.applied >= snap.Meta.Index+tail {
		return nil
	}
	return fmt.Errorf("snapshot tail violated: in term %d it compacted its log to a snapshot at %d having applied only through %d: it keeps %d entries behind the snapshot, not the SnapshotTail of %d",
		n.term, snap.Meta.Index, n.applied, n.applied-min(n.applied, snap.Meta.Index), tail)
}
