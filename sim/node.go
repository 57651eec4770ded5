package sim

import (
	"errors"
	"time"

	"github.com/havenproject/haven/raft"
)

// node is the simulator's host for one raft core: what cmd/havend does with
// sockets, timers and files, done with the simulated network, clock and
// disk. It follows the Ready contract to the letter (raft/ready.go): persist,
// fsync when MustSync, only then send, then apply, then Advance.
type node struct {
	w   *World
	id  raft.NodeID
	idx int

	raft *raft.Raft
	svc  Service
	disk disk

	up     bool
	paused bool
	// incarnation counts restarts; events of an older incarnation (its
	// ticks, its fsyncs) are dropped when they come due.
	incarnation uint32
	pauseGen    uint32
	// tickEvery is this node's tick period: its clock drifts.
	tickEvery time.Duration
	ticking   bool
	// nextTick is when the node's clock ticks next; a tick missed during a
	// pause is made up on resume.
	nextTick time.Duration
	// syncing is set while a Ready waits for its fsync; ready holds it.
	syncing bool
	ready   raft.Ready
	// parked holds the events that reached the node while it was paused.
	parked []event
	// readied is set when the node carried out a Ready: a tick that gave
	// raft nothing to do changed nothing its invariants look at.
	readied bool

	// What this incarnation has reported through its Readys.
	soft       raft.SoftState
	term       uint64
	commit     uint64
	applied    uint64
	leaderTerm uint64 // the last term in which this node was seen leading
	// truthChecked is the highest index compared with the committed log.
	truthChecked uint64
}

// NodeHost, for the node's Service.

func (n *node) ID() raft.NodeID { return n.id }

func (n *node) Propose(data []byte) (uint64, uint64, error) { return n.raft.Propose(data) }

func (n *node) ReadIndex(ctx []byte) error { return n.raft.ReadIndex(ctx) }

func (n *node) Leader() raft.NodeID { return n.soft.Lead }

func (n *node) Incarnation() uint32 { return n.incarnation }

func (n *node) Now() time.Duration { return n.w.now }

func (n *node) Reply(client int, reply any) {
	w := n.w
	slot := w.rpcs.put(rpc{client: client, node: n.idx, payload: reply})
	w.queue.push(event{at: w.now + w.clientDelay(), kind: evToClient, ref: slot})
}

// raftConfig is the configuration every node runs with: PreVote and
// CheckQuorum on, as the issue asks, and the run's batching caps.
func (w *World) raftConfig(id raft.NodeID) raft.Config {
	cfg := raft.Config{
		ID: id, Voters: w.voters,
		ElectionTicks: ElectionTicks, HeartbeatTicks: HeartbeatTicks,
		Rand:    w.rng,
		PreVote: true, CheckQuorum: true,
		MaxMsgBytes: w.params.MaxMsgBytes, MaxInflightMsgs: w.params.MaxInflight,
	}
	if w.params.LeaseReads {
		cfg.ReadMode = raft.ReadLease
		cfg.CheckQuorum = !w.params.LeaseWithoutCheckQuorum
	}
	return cfg
}

// start brings up a new incarnation of the node from its durable store.
func (n *node) start() error {
	w := n.w
	restored := n.disk.restored()
	cfg := w.raftConfig(n.id)
	r, err := raft.New(cfg, restored)
	if err != nil && cfg.ReadMode == raft.ReadLease && !cfg.CheckQuorum {
		// Lease reads are only safe with CheckQuorum (§6.4.1), and raft
		// must refuse the combination; this run then reads by lease with
		// CheckQuorum on.
		w.stats.count(countConfigRefused)
		cfg.CheckQuorum = true
		r, err = raft.New(cfg, restored)
	}
	if err != nil {
		return err
	}
	if cfg.ReadMode == raft.ReadLease && !cfg.CheckQuorum {
		// A lease is only as good as the followers' promise not to vote
		// for anyone else while they hear from the leader (§4.2.3), and
		// only CheckQuorum makes them keep it. A raft that accepts this
		// would serve stale reads whenever a follower cut off from the
		// leader alone wins an election.
		return errors.New("raft accepted lease reads without CheckQuorum (§6.4.1 needs CheckQuorum's promise)")
	}
	n.raft = r
	n.incarnation++
	n.up, n.paused, n.syncing = true, false, false
	n.ready = raft.Ready{}
	n.svc = w.workload.NewService(n)
	n.soft = raft.SoftState{}
	n.term = restored.HardState.Term
	n.applied, n.leaderTerm = 0, 0
	if restored.Snapshot != nil {
		if err := n.svc.Restore(*restored.Snapshot); err != nil {
			return err
		}
		n.applied = restored.Snapshot.Meta.Index
	}
	n.commit = max(n.applied, restored.HardState.Commit)
	// What survived on disk up to the restored commit index must be the
	// committed log.
	n.truthChecked = n.applied
	if err := w.check.committed(n, n.commit); err != nil {
		return err
	}
	n.startTicking()
	n.drive()
	return nil
}

func (n *node) startTicking() {
	if n.ticking {
		return
	}
	n.ticking = true
	w := n.w
	n.nextTick = w.now + w.rng.Duration(0, n.tickEvery)
	w.queue.push(event{at: n.nextTick, kind: evTick, node: uint8(n.idx), gen: n.incarnation})
}

func (n *node) tick(ev event) {
	if !n.up || ev.gen != n.incarnation {
		return
	}
	if n.paused {
		// A paused process's timer does not fire; it starts again on resume.
		n.ticking = false
		return
	}
	n.readied = false
	n.raft.Tick()
	n.drive()
	w := n.w
	n.nextTick = w.now + n.tickEvery
	w.queue.push(event{at: n.nextTick, kind: evTick, node: uint8(n.idx), gen: n.incarnation})
}

// drive carries out the node's Readys until raft has nothing more to do or
// a Ready waits for its fsync.
func (n *node) drive() {
	w := n.w
	for n.up && !n.syncing && w.failure == nil && n.raft.HasReady() {
		rd := n.raft.Ready()
		n.readied = true
		if err := n.persist(&rd); err != nil {
			w.failf("node %d: %v", n.id, err)
			return
		}
		if err := n.observe(&rd); err != nil {
			w.fail(err)
			return
		}
		if rd.MustSync {
			// Figure 2: persistent state is "updated on stable storage
			// before responding to RPCs"; the messages wait for the fsync.
			n.syncing, n.ready = true, rd
			w.queue.push(event{at: w.now + w.params.FsyncMin + w.rng.Exp(w.params.FsyncMean),
				kind: evFsync, node: uint8(n.idx), gen: n.incarnation})
			return
		}
		n.finish(&rd)
	}
}

// persist writes a Ready's durable state to the disk (not yet synced).
func (n *node) persist(rd *raft.Ready) error {
	w := n.w
	var g writeGroup
	hs := rd.HardState
	if !hs.IsEmpty() {
		if hs.Term != n.disk.written.hard.Term || hs.Vote != n.disk.written.hard.Vote {
			g.hasTermVote, g.term, g.vote = true, hs.Term, hs.Vote
		}
		if hs.Commit != n.disk.written.hard.Commit {
			g.hasCommit, g.commit = true, hs.Commit
		}
	}
	if rd.Snapshot != nil {
		snap := *rd.Snapshot
		chain, ok := w.check.chainOf(snap.Meta.Index, snap.Meta.Term)
		if !ok && snap.Meta.Index > 0 {
			return errors.New("received a snapshot of an entry no node ever wrote")
		}
		g.snap, g.snapChain = &snap, chain
	}
	if len(rd.Entries) > 0 {
		first := rd.Entries[0].Index
		prev, ok := n.prevChain(g, first)
		if !ok {
			return errors.New("Ready entries leave a gap in the log")
		}
		g.entries = make([]storedEntry, len(rd.Entries))
		for i := range rd.Entries {
			e := rd.Entries[i]
			prev = chainHash(prev, &e)
			g.entries[i] = storedEntry{Entry: e, chain: prev}
			if err := w.check.entryWritten(n, &g.entries[i]); err != nil {
				return err
			}
		}
	}
	return n.disk.write(g)
}

// prevChain is the chain hash just before index first, in the written view
// as it will be once g's snapshot (if any) is in.
func (n *node) prevChain(g writeGroup, first uint64) (uint64, bool) {
	if g.snap != nil {
		if first == g.snap.Meta.Index+1 {
			return g.snapChain, true
		}
		return 0, false
	}
	return n.disk.written.chainAt(first - 1)
}

// observe checks what a Ready reveals about the node's state.
func (n *node) observe(rd *raft.Ready) error {
	w := n.w
	n.soft = rd.SoftState
	if hs := rd.HardState; !hs.IsEmpty() {
		if hs.Term < n.term {
			return w.errorf("node %d: term went back from %d to %d", n.id, n.term, hs.Term)
		}
		n.term = hs.Term
		if hs.Commit < n.commit {
			return w.errorf("node %d: commit index moved back from %d to %d", n.id, n.commit, hs.Commit)
		}
		if hs.Commit > n.commit {
			if rd.SoftState.State == raft.StateLeader {
				if err := w.check.leaderCommit(n, hs.Commit, hs.Term); err != nil {
					return err
				}
			}
			n.commit = hs.Commit
			if err := w.check.committed(n, n.commit); err != nil {
				return err
			}
		}
	}
	if rd.Snapshot != nil && rd.Snapshot.Meta.Index > n.commit {
		n.commit = rd.Snapshot.Meta.Index
		n.truthChecked = max(n.truthChecked, n.commit)
	}
	if rd.SoftState.State == raft.StateLeader && n.leaderTerm != n.term {
		n.leaderTerm = n.term
		w.stats.Elections++
		w.tracef("n%d leads term %d (last index %d)", n.id, n.term, n.disk.written.lastIndex())
		return w.check.leaderElected(n)
	}
	return nil
}

// fsyncDone continues the Ready that waited for an fsync.
func (n *node) fsyncDone(ev event) {
	if !n.up || ev.gen != n.incarnation || !n.syncing {
		return
	}
	if n.paused {
		n.parked = append(n.parked, ev)
		return
	}
	if err := n.disk.sync(); err != nil {
		n.w.failf("node %d: %v", n.id, err)
		return
	}
	n.syncing = false
	rd := n.ready
	n.ready = raft.Ready{}
	n.finish(&rd)
	n.drive()
}

// finish carries out steps 2-4 of the Ready contract.
func (n *node) finish(rd *raft.Ready) {
	w := n.w
	for i := range rd.Messages {
		m := &rd.Messages[i]
		if err := w.check.beforeSend(n, m); err != nil {
			w.fail(err)
			return
		}
		w.sendMessage(*m)
	}
	if w.phase == phaseFaults && len(rd.Messages) > 0 && n.disk.unsynced() && w.rng.Chance(w.params.CrashPoint) {
		w.stats.count(countCrashPoint)
		w.crash(n, w.rng.Exp(w.params.FaultLength/4)+time.Millisecond)
		return
	}
	if rd.Snapshot != nil {
		meta := rd.Snapshot.Meta
		if err := n.svc.Restore(*rd.Snapshot); err != nil {
			w.failf("node %d: restoring snapshot at %d: %v", n.id, meta.Index, err)
			return
		}
		n.applied = meta.Index
		if err := w.check.snapshotState(n, meta.Index, n.svc.Digest()); err != nil {
			w.fail(err)
			return
		}
	}
	for i := range rd.CommittedEntries {
		e := &rd.CommittedEntries[i]
		if err := w.check.apply(n, e); err != nil {
			w.fail(err)
			return
		}
		n.applied = e.Index
		n.svc.Apply(*e)
	}
	for _, rs := range rd.ReadStates {
		n.svc.ReadIndexReady(rs)
	}
	n.raft.Advance()
	n.maybeCompact()
}

// maybeCompact snapshots the state machine every CompactEvery applied
// entries, so InstallSnapshot runs under faults too (§7).
func (n *node) maybeCompact() {
	w := n.w
	if n.applied < n.disk.written.snapIndex()+w.params.CompactEvery {
		return
	}
	chain, ok := n.disk.written.chainAt(n.applied)
	if !ok {
		return
	}
	snap, err := n.raft.Compact(n.applied, n.svc.Snapshot())
	if err != nil {
		if !errors.Is(err, raft.ErrSnapshotTooOld) {
			w.failf("node %d: compact at %d: %v", n.id, n.applied, err)
		}
		return
	}
	if err := w.check.snapshotState(n, n.applied, n.svc.Digest()); err != nil {
		w.fail(err)
		return
	}
	n.disk.compact(&snap, chain)
	w.stats.Compactions++
}

// request handles a client request's arrival at the node.
func (n *node) request(ev event) {
	w := n.w
	if !n.up {
		w.rpcs.take(ev.ref)
		return
	}
	if n.paused {
		n.parked = append(n.parked, ev)
		return
	}
	r := w.rpcs.take(ev.ref)
	n.svc.HandleRequest(r.client, r.payload)
	n.drive()
}

// crash stops the node at once; its disk keeps what it keeps. It restarts
// after downtime.
func (w *World) crash(n *node, downtime time.Duration) {
	if !n.up {
		return
	}
	fate, err := n.disk.crash(w.rng)
	if err != nil {
		w.failf("node %d: crash recovery: %v", n.id, err)
		return
	}
	switch fate {
	case fateLost:
		w.stats.count(countUnsyncedLost)
	case fateTorn:
		w.stats.count(countUnsyncedTorn)
	case fateKept:
		w.stats.count(countUnsyncedKept)
	}
	w.tracef("n%d crashes (unsynced writes: %s), restarts in %v", n.id, fate, downtime)
	n.up, n.paused, n.syncing, n.ticking = false, false, false, false
	n.raft, n.svc = nil, nil
	n.ready = raft.Ready{}
	n.dropParked()
	w.queue.push(event{at: w.now + downtime, kind: evRestart, node: uint8(n.idx), gen: n.incarnation})
}

func (n *node) dropParked() {
	for _, ev := range n.parked {
		switch ev.kind {
		case evDeliver:
			n.w.msgs.take(ev.ref)
		case evToNode:
			n.w.rpcs.take(ev.ref)
		}
	}
	n.parked = n.parked[:0]
}

func (w *World) restart(n *node) {
	if n.up {
		return
	}
	w.tracef("n%d restarts", n.id)
	if err := n.start(); err != nil {
		w.failf("node %d: restart: %v", n.id, err)
	}
}

func (w *World) pause(n *node, length time.Duration) {
	if !n.up || n.paused {
		return
	}
	n.paused = true
	n.pauseGen++
	w.tracef("n%d pauses for %v", n.id, length)
	w.queue.push(event{at: w.now + length, kind: evResume, node: uint8(n.idx), gen: n.incarnation, aux: uint64(n.pauseGen)})
}

func (w *World) resume(n *node) {
	if !n.up || !n.paused {
		return
	}
	n.paused = false
	// The host first makes up the ticks its clock passed while the process
	// stood still, as havend does by reading a monotonic clock: raft
	// measures time — election timeouts, CheckQuorum, the leader lease
	// (§6.4.1) — in ticks only, and a lease that did not see a pause go by
	// would outlive its promise.
	missed := 0
	for n.nextTick <= w.now {
		n.raft.Tick()
		n.nextTick += n.tickEvery
		missed++
	}
	w.tracef("n%d resumes (%d ticks made up)", n.id, missed)
	n.drive()
	if !n.up {
		return
	}
	// What arrived meanwhile is handled now, in an order of the scheduler's
	// choosing: a resumed process finds data waiting on many sockets and
	// reads them in no particular order, so a client's request may well be
	// handled before the message that would have told the node it was
	// deposed.
	for _, ev := range n.parked {
		ev.at = w.now + w.rng.Duration(0, 500*time.Microsecond)
		w.queue.push(ev)
	}
	n.parked = n.parked[:0]
	if !n.ticking {
		// The tick due during the pause fired and stopped the clock.
		n.ticking = true
		w.queue.push(event{at: n.nextTick, kind: evTick, node: uint8(n.idx), gen: n.incarnation})
	}
}

func (f crashFate) String() string {
	return [...]string{"none pending", "lost", "torn", "kept"}[f]
}
