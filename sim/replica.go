package sim

import (
	"errors"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// A node host (node.go) runs one of two kinds of replica:
//
//   - raftReplica: the raft core with a Service above it, which the host
//     drives through raft's Ready contract (the key-value workload);
//   - coreReplica (core.go): the Haven service core, session.Core, which
//     owns its raft and applies committed entries itself as it makes its
//     Ready (the sessions workload).
//
// Both hand the host their Readys in the same shape, hostReady, and the host
// does the same with both, as havend does: it writes the durable part to
// the simulated disk, checks it against the committed log, sends a leader's
// early messages (its appends and heartbeats, raft's Ready.EarlyMessages,
// §10.2.1), waits for the fsync when it must, sends the other messages, and
// only then lets the replica carry out the rest. So persistence, the
// network, crashes, pauses and every raft check are shared; only what
// happens above raft differs.
type replica interface {
	// raftCore is the consensus core, for the invariant checks and status.
	raftCore() *raft.Raft
	// tick moves the node's clock on by one tick; nowMs is the node's own
	// (drifting) clock in milliseconds.
	tick(nowMs int64)
	// stepRaft and stepService hand over a message from a peer.
	stepRaft(m raft.Message) error
	stepService(m *session.PeerMessage) error
	// request hands over a client's request.
	request(client int, payload any)
	hasReady() bool
	// ready fills rd with the next Ready, in place: a hostReady is large,
	// and the host's one lives in the node (node.drive).
	ready(rd *hostReady)
	// observed runs once the host has persisted and observed a Ready. The
	// service core applies committed entries as it makes its Ready, so it
	// checks them here; raft with a Service applies them in complete.
	observed(rd *hostReady) error
	// complete carries out what is left of a Ready once its writes are
	// durable (if they had to be) and its messages have gone out: apply
	// (or answer from) the committed entries, and Advance.
	complete(rd *hostReady)
	// digest is a hash of the state machine, equal on two nodes exactly
	// when their states are equal.
	digest() uint64
}

// connOrdered is a client request that travels on a connection, whose
// order the node must keep when it handles what queued up during a pause.
type connOrdered interface{ ConnKey() uint64 }

// hostReady is one Ready of either kind of replica, as the host handles it.
type hostReady struct {
	soft     raft.SoftState
	hard     raft.HardState
	entries  []raft.Entry
	snapshot *raft.Snapshot
	mustSync bool
	// saved is a snapshot the replica took of its own state (a local
	// compaction, §7): the session core hands it out in a Ready; the
	// raft+Service host takes it itself after Advance.
	saved *raft.Snapshot
	// raftMsgs are raft's messages; serviceMsgs the service core's own
	// (forwarded writes, keepalives and their answers).
	raftMsgs    []raft.Message
	serviceMsgs []session.PeerMessage
	// early is how many of the first raftMsgs may leave before the fsync
	// (raft's Ready.EarlyMessages); sent is how many raftMsgs, from the
	// first, the host has sent so far (the early ones, then all).
	early, sent int

	// What only one kind needs: raft's Ready for raftReplica, the service
	// core's for coreReplica.
	raft raft.Ready
	core session.Ready
}

// raftReplica is raft with a Service above it; the host carries out raft's
// Ready contract (raft/ready.go) to the letter: write, send the early
// messages, fsync when MustSync, only then send the others, then apply,
// then Advance.
type raftReplica struct {
	n    *node
	raft *raft.Raft
	svc  Service
}

func newRaftReplica(n *node, cfg raft.Config, restored raft.RestoredState) (*raftReplica, error) {
	r, err := raft.New(cfg, restored)
	if err != nil {
		return nil, err
	}
	return &raftReplica{n: n, raft: r}, nil
}

// start makes the node's Service and restores it from the snapshot the node
// restarted from; it runs once the node host is ready to be its NodeHost.
func (a *raftReplica) start(restored raft.RestoredState) error {
	n := a.n
	a.svc = n.w.workload.NewService(n)
	if restored.Snapshot != nil {
		return a.svc.Restore(*restored.Snapshot)
	}
	return nil
}

func (a *raftReplica) raftCore() *raft.Raft { return a.raft }

func (a *raftReplica) tick(int64) { a.raft.Tick() }

func (a *raftReplica) stepRaft(m raft.Message) error { return a.raft.Step(m) }

func (a *raftReplica) stepService(*session.PeerMessage) error {
	return errors.New("a service message reached a node that runs raft with a Service")
}

func (a *raftReplica) request(client int, payload any) {
	a.svc.HandleRequest(client, payload)
}

func (a *raftReplica) hasReady() bool { return a.raft.HasReady() }

func (a *raftReplica) ready(out *hostReady) {
	out.raft = a.raft.Ready()
	rd := &out.raft
	out.soft, out.hard, out.entries, out.snapshot = rd.SoftState, rd.HardState, rd.Entries, rd.Snapshot
	out.mustSync, out.raftMsgs, out.early, out.sent = rd.MustSync, rd.Messages, rd.EarlyMessages, 0
	out.saved, out.serviceMsgs = nil, nil
	// out.core is never set on this kind of replica.
}

// observed checks the read states of the Ready at once: a read the leader
// answered in the very event that asked for it was served from its lease.
func (a *raftReplica) observed(rd *hostReady) error {
	n, w := a.n, a.n.w
	for _, rs := range rd.raft.ReadStates {
		key, ok := readKey(rs.Context)
		if !ok {
			continue
		}
		ask, ok := n.direct.readAsked[key]
		if !ok {
			continue
		}
		delete(n.direct.readAsked, key)
		if rd.soft.State == raft.StateLeader && w.params.LeaseReads && ask.event == w.stats.Events {
			w.stats.count(countLeaseRead)
			if err := w.check.leaseRead(n, rs.Index); err != nil {
				return err
			}
		}
		if err := w.check.readAfterNewLeader(n, n.term, ask.at, rs.Index); err != nil {
			return err
		}
		if !ask.remote && !w.params.LeaseReads {
			if err := w.check.readQuorumAfter(n, max(n.leaderTerm, n.direct.ledTerm), ask.at, rs.Index, n.id); err != nil {
				return err
			}
		}
	}
	return nil
}

// complete is step 3 and 4 of raft's Ready contract: install the snapshot,
// apply the committed entries, serve the read states, compact when it is
// time — from the apply step, through the entries this very Ready handed
// out, as the contract allows (raft/doc.go, step 3) — and Advance.
func (a *raftReplica) complete(rd *hostReady) {
	n, w := a.n, a.n.w
	if rd.snapshot != nil {
		meta := rd.snapshot.Meta
		if err := a.svc.Restore(*rd.snapshot); err != nil {
			w.Failf("node %d: restoring snapshot at %d: %v", n.id, meta.Index, err)
			return
		}
		if err := n.installed(meta.Index, a.svc.Digest()); err != nil {
			w.fail(err)
			return
		}
	}
	for i := range rd.raft.CommittedEntries {
		e := &rd.raft.CommittedEntries[i]
		if err := n.applying(e); err != nil {
			w.fail(err)
			return
		}
		a.svc.Apply(*e)
	}
	for _, rs := range rd.raft.ReadStates {
		a.svc.ReadIndexReady(rs)
	}
	a.maybeCompact()
	a.raft.Advance()
}

// maybeCompact snapshots the state machine every CompactEvery applied
// entries, so InstallSnapshot runs under faults too (§7).
func (a *raftReplica) maybeCompact() {
	n, w := a.n, a.n.w
	if n.applied < n.disk.written.snapIndex()+w.params.CompactEvery {
		return
	}
	if _, ok := n.disk.written.chainAt(n.applied); !ok {
		return
	}
	snap, err := a.raft.Compact(n.applied, a.svc.Snapshot())
	if err != nil {
		if !errors.Is(err, raft.ErrSnapshotTooOld) {
			w.Failf("node %d: compact at %d: %v", n.id, n.applied, err)
		}
		return
	}
	if err := n.compacted(&snap, a.svc.Digest()); err != nil {
		w.fail(err)
	}
}

func (a *raftReplica) digest() uint64 { return a.svc.Digest() }

// NodeHost, for the node's Service (raftReplica only).

func (n *node) ID() raft.NodeID { return n.id }

func (n *node) Propose(data []byte) (uint64, uint64, error) {
	return n.app.raftCore().Propose(data)
}

func (n *node) ReadIndex(ctx []byte) error {
	if err := n.app.raftCore().ReadIndex(ctx); err != nil {
		return err
	}
	if key, ok := readKey(ctx); ok {
		n.direct.readAsked[key] = readAsk{at: n.w.now, event: n.w.stats.Events}
	}
	return nil
}

func (n *node) Leader() raft.NodeID { return n.soft.Lead }

func (n *node) Incarnation() uint32 { return n.incarnation }

func (n *node) Now() time.Duration { return n.w.now }

func (n *node) Reply(client int, reply any) {
	w := n.w
	slot := w.rpcs.put(rpc{client: client, node: n.idx, payload: reply})
	w.queue.push(event{at: w.now + w.ClientDelay(), kind: evToClient, ref: slot})
}
