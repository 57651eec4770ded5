package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/raft/wal"
	"github.com/havenproject/haven/sim/simfs"
)

// node is the simulator's host for one node: what cmd/havend does with
// sockets, timers and files, done with the simulated network, clock and
// disk. What runs on it is a replica (replica.go): raft with a Service above
// it, or the Haven service core. Either way the host follows the Ready
// contract to the letter, as havend does: write, send a leader's early
// messages, fsync when MustSync, only then send the others, then apply (or
// answer), then Advance.
type node struct {
	w   *World
	id  raft.NodeID
	idx int

	// app is what runs on the node; nil while it is down.
	app replica
	// bounds is what the bounds checks keep of this incarnation
	// (checks_config.go).
	bounds boundsState
	// fs is the node's simulated disk, which outlives its incarnations;
	// wal is the WAL this incarnation opened on it; disk is the host's
	// mirror of what it saved (disk.go, disk_host.go).
	fs   *simfs.FS
	wal  *wal.WAL
	disk disk
	// diskFailed is set once the WAL refused a damaged disk: the node
	// stays down for the rest of the run.
	diskFailed bool
	// wiped is set once FaultWipe emptied the node's disk: its host no
	// longer says the cluster is new (Config.Bootstrap). lostLog is the
	// durable log the disk held until then: the checks count it as a
	// permanently crashed member's, since the node never votes again.
	wiped       bool
	lostLog     logView
	misdirected int // misdirected writes counted so far

	up     bool
	paused bool
	// retired is set once the node's removal is committed and known to
	// it: it is down for good under its id (membership.go). removedAt is
	// the index of its removal, once committed; told is set once a member
	// told it so (toldRemoved).
	retired   bool
	removedAt uint64
	told      bool
	// incarnation counts restarts; events of an older incarnation (its
	// ticks, its fsyncs) are dropped when they come due.
	incarnation uint32
	pauseGen    uint32
	// tickEvery is this node's tick period: its clock drifts.
	tickEvery time.Duration
	// clockRate is how fast the node's clock runs against virtual time
	// (TickInterval / tickEvery): the service core reads its time from it.
	clockRate float64
	ticking   bool
	// nextTick is when the node's clock ticks next; a tick missed during a
	// pause is made up on resume.
	nextTick time.Duration
	// syncing is set while a Ready waits for its fsync; ready holds it.
	syncing bool
	ready   hostReady
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
	// direct is what the direct checks know of this incarnation
	// (checks_direct.go); hostChecks what the host-contract and snapshot
	// checks do (checks_host.go).
	direct     directState
	hostChecks hostCheckState
	// msBase and msAt anchor the node's millisecond clock (localMs) where
	// its rate last changed; lastMs keeps it monotonic.
	msBase, lastMs int64
	msAt           time.Duration
}

// raftConfig is the configuration every node runs with: PreVote and
// CheckQuorum as the run's parameters say (on unless drawn off), and the
// run's batching caps.
func (w *World) raftConfig(id raft.NodeID) raft.Config {
	cfg := raft.Config{
		ID:            id,
		ElectionTicks: ElectionTicks, HeartbeatTicks: HeartbeatTicks,
		Rand:    w.rng,
		PreVote: !w.params.NoPreVote, CheckQuorum: !w.params.NoCheckQuorum,
		MaxMsgBytes: w.params.MaxMsgBytes, MaxInflightMsgs: w.params.MaxInflight,
	}
	if int(id) <= len(w.nodes) {
		// One of the founding members; a node that joins later (under a
		// new id) starts with no configuration and learns it from the
		// leader.
		cfg.Voters, cfg.Bootstrap = w.voters, true
		cfg.Addresses = make(map[raft.NodeID]string, len(w.voters))
		for _, id := range w.voters {
			cfg.Addresses[id] = memberAddress(id)
		}
	}
	if w.params.Backpressure {
		cfg.MaxUncommittedEntries = BackpressureBounds.Uncommitted
		cfg.MaxCommittedBytesPerReady = BackpressureBounds.CommittedBytes
	}
	if w.params.LeaseReads {
		cfg.ReadMode = raft.ReadLease
		cfg.CheckQuorum = !w.params.LeaseWithoutCheckQuorum
	}
	return cfg
}

// newReplica builds what runs on node n from its durable store: the
// service core when the workload asks for it, else raft for a Service.
func (w *World) newReplica(n *node, cfg raft.Config, restored raft.RestoredState) (replica, error) {
	if cw, ok := w.workload.(CoreWorkload); ok {
		return newCoreReplica(n, cw, cfg, restored)
	}
	return newRaftReplica(n, cfg, restored)
}

// localMs is the node's own clock in milliseconds at virtual time t: it
// runs at clockRate, so two nodes disagree on how long an interval lasts
// by up to the run's drift.
func (n *node) localMs(t time.Duration) int64 {
	ms := n.msBase + int64(float64(t-n.msAt)*n.clockRate/float64(time.Millisecond))
	n.lastMs = max(n.lastMs, ms)
	return n.lastMs
}

// setTickEvery changes the node's clock rate from now on (adversarial
// drift); its millisecond clock goes on from where it is.
func (n *node) setTickEvery(d time.Duration) {
	if d == n.tickEvery {
		return
	}
	n.msBase, n.msAt = n.localMs(n.w.now), n.w.now
	n.tickEvery = d
	n.clockRate = float64(TickInterval) / float64(d)
}

// start brings up a new incarnation of the node from its durable store.
func (n *node) start() error {
	w := n.w
	if n.diskFailed {
		return nil
	}
	restored, ok, err := n.openWAL()
	if err != nil || !ok {
		return err
	}
	cfg := w.raftConfig(n.id)
	if n.wiped {
		return n.startWiped(cfg, restored)
	}
	app, err := w.newReplica(n, cfg, restored)
	if err != nil && cfg.ReadMode == raft.ReadLease && !cfg.CheckQuorum {
		// Lease reads are only safe with CheckQuorum (§6.4.1), and raft
		// must refuse the combination; this run then reads by lease with
		// CheckQuorum on.
		w.stats.count(countConfigRefused)
		cfg.CheckQuorum = true
		app, err = w.newReplica(n, cfg, restored)
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
	n.app = app
	n.incarnation++
	n.up, n.paused, n.syncing = true, false, false
	n.ready = hostReady{}
	n.soft = raft.SoftState{}
	n.term = restored.HardState.Term
	n.applied, n.leaderTerm = 0, 0
	n.direct.reset(len(w.nodes), w.now, cfg.CheckQuorum)
	n.bounds = boundsState{}
	n.hostChecks.reset(len(w.nodes))
	// What a node commits as it starts (a new cluster's bootstrap
	// configuration) nobody had to vouch for.
	st := app.raftCore().Status()
	n.direct.vouchTerm, n.direct.vouchIndex = st.Term, st.Commit
	n.direct.voters = st.Conf.Voters
	n.direct.confIndex = st.LastIndex // a configuration at or below it may be in force
	if a, ok := app.(*raftReplica); ok {
		if err := a.start(restored); err != nil {
			return err
		}
	}
	if restored.Snapshot != nil {
		n.applied = restored.Snapshot.Meta.Index
	}
	n.commit = max(n.applied, restored.HardState.Commit)
	if err := w.check.memberAddresses(n, "as it starts from its disk"); err != nil {
		return err
	}
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

// startWiped tries to start the node on its wiped, empty disk, as a host
// would that knows its storage is new but not the cluster (raft/doc.go,
// Starting: bootstrap only when the host says the cluster is new). raft
// must refuse: the node forgot its votes and must rejoin as a new member.
// It then stays down for the rest of the run, its disk lost.
func (n *node) startWiped(cfg raft.Config, restored raft.RestoredState) error {
	w := n.w
	cfg.Bootstrap = false
	if _, err := w.newReplica(n, cfg, restored); err == nil {
		return errors.New("raft started on empty storage without Config.Bootstrap, under the id of a member whose disk was wiped: " +
			"it bootstrapped again from Config.Voters, forgetting its votes (raft/doc.go, Starting)")
	}
	n.diskFailed = true
	w.stats.count(countDiskFailed)
	w.tracef("n%d: raft refuses to start it on its wiped disk without Bootstrap; it stays down", n.id)
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
	w := n.w
	n.hostChecks.ticks++
	n.app.tick(n.localMs(w.now))
	n.direct.ticks++
	n.drive()
	if n.up && n.soft.State == raft.StateLeader {
		// Once a tick: both need the leader's own view.
		if err := w.check.isolatedLeader(n); err != nil {
			w.fail(err)
			return
		}
		if err := w.check.matchInSharedLog(n); err != nil {
			w.fail(err)
			return
		}
	}
	n.nextTick = w.now + n.tickEvery
	w.queue.push(event{at: n.nextTick, kind: evTick, node: uint8(n.idx), gen: n.incarnation})
}

// drive carries out the node's Readys until it has nothing more to do or
// a Ready waits for its fsync.
func (n *node) drive() {
	w := n.w
	if err := w.check.readyWhileSyncing(n); err != nil && w.failure == nil {
		w.fail(err)
		return
	}
	for n.up && !n.syncing && w.failure == nil && n.app.hasReady() {
		// The Ready lives in the node, not on the heap per iteration: it is
		// the simulator's hottest allocation otherwise. Nothing keeps a
		// pointer to it past this iteration (a Ready that waits for its
		// fsync stays in n.ready until fsyncDone finishes it).
		rd := &n.ready
		n.app.ready(rd)
		if err := w.check.noticesSent(n, rd); err != nil {
			w.fail(err)
			return
		}
		n.readyTaken()
		n.readied = true
		if err := n.persist(rd); err != nil {
			if err != errCrashedInSave {
				w.Failf("node %d: %v", n.id, err)
			}
			return
		}
		if err := n.observe(rd); err != nil {
			w.fail(err)
			return
		}
		if err := n.app.observed(rd); err != nil {
			w.fail(err)
			return
		}
		if n.waitsForSync(rd) {
			// A leader's appends and heartbeats leave before its own fsync,
			// which then runs in parallel with the followers' (§10.2.1),
			// as havend sends them; a crash may come while it runs.
			if !n.sendRaft(rd, rd.early, true) {
				return
			}
			if rd.early > 0 && n.crashPoint(countCrashPointEarly) {
				return
			}
			// Figure 2: persistent state is "updated on stable storage
			// before responding to RPCs"; the other messages wait for the
			// fsync.
			n.syncing = true
			w.queue.push(event{at: w.now + w.params.FsyncMin + w.rng.Exp(w.params.FsyncMean),
				kind: evFsync, node: uint8(n.idx), gen: n.incarnation})
			return
		}
		n.finish(rd)
	}
}

// persist saves a Ready's durable state with the node's WAL (its fsync, if
// any, completes when the host's fsync event comes due) and records it in
// the host's mirror.
func (n *node) persist(rd *hostReady) error {
	w := n.w
	if rd.saved != nil {
		// A compaction the replica made of its own state: the snapshot file
		// is written on its own, before this Ready's record.
		if c, ok := n.app.(*coreReplica); ok {
			if err := w.check.snapshotTail(n, rd.saved, c.tail); err != nil {
				return err
			}
		}
		if err := n.compacted(rd.saved, snapshotDigest(rd.saved)); err != nil {
			return err
		}
	}
	if err := n.saveReady(rd); err != nil {
		if err == errCrashedInSave {
			return err
		}
		// The WAL checks what it is given (terms that never fall, indexes
		// that follow on): a core that keeps its promises never sees this.
		return fmt.Errorf("the WAL refused to save a Ready: %w", err)
	}
	var g writeGroup
	hs := rd.hard
	if !hs.IsEmpty() {
		if hs.Term != n.disk.written.hard.Term || hs.Vote != n.disk.written.hard.Vote {
			g.hasTermVote, g.term, g.vote = true, hs.Term, hs.Vote
		}
		if hs.Commit != n.disk.written.hard.Commit {
			g.hasCommit, g.commit = true, hs.Commit
		}
	}
	if rd.snapshot != nil {
		snap := *rd.snapshot
		chain, ok := w.check.chainOf(snap.Meta.Index, snap.Meta.Term)
		if !ok && snap.Meta.Index > 0 {
			return errors.New("received a snapshot of an entry no node ever wrote")
		}
		g.snap, g.snapChain = &snap, chain
	}
	if len(rd.entries) > 0 {
		first := rd.entries[0].Index
		if first <= n.disk.written.lastIndex() && first > n.disk.written.snapIndex() {
			// A leader overwrites a divergent suffix (§5.3).
			w.stats.count(countTruncation)
			w.stats.TruncatedEntries += n.disk.written.lastIndex() - first + 1
		}
		prev, ok := n.prevChain(g, first)
		if !ok {
			return errors.New("Ready entries leave a gap in the log")
		}
		g.entries = make([]storedEntry, len(rd.entries))
		for i := range rd.entries {
			e := rd.entries[i]
			prev = chainHash(prev, &e)
			g.entries[i] = storedEntry{Entry: e, chain: prev}
			if err := w.check.entryWritten(n, &g.entries[i]); err != nil {
				return err
			}
		}
	}
	return n.writeMirror(g, rd.mustSync)
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

// compacted stores a snapshot the node took of its own state at the
// snapshot's index, whose state digest is digest, and checks that state
// against every other image of the state machine at that index.
func (n *node) compacted(snap *raft.Snapshot, digest uint64) error {
	w := n.w
	chain, ok := n.disk.written.chainAt(snap.Meta.Index)
	if !ok {
		// A snapshot installed from the leader has overtaken it.
		return nil
	}
	if err := w.check.snapshotState(n, snap.Meta.Index, digest); err != nil {
		return err
	}
	if err := w.check.snapshotConf(n, &snap.Meta); err != nil {
		return err
	}
	saved, err := n.saveCompaction(snap)
	if err != nil || !saved {
		return err
	}
	n.disk.compact(snap, chain)
	w.stats.Compactions++
	return nil
}

// observe checks what a Ready reveals about the node's state.
func (n *node) observe(rd *hostReady) error {
	w := n.w
	n.soft = rd.soft
	if n.observeConf(rd) {
		why := "after a Ready that overwrote entries or appended a configuration entry"
		if rd.snapshot != nil {
			why = "after installing the snapshot at " + uitoa(rd.snapshot.Meta.Index)
		}
		if err := w.check.confInForce(n, why); err != nil {
			return err
		}
	}
	if err := w.check.configObserved(n, rd); err != nil {
		return err
	}
	if w.params.Backpressure {
		if err := w.check.raftBounds(n, rd); err != nil {
			return err
		}
	}
	if hs := rd.hard; !hs.IsEmpty() {
		if hs.Term < n.term {
			return w.Errorf("node %d: term went back from %d to %d", n.id, n.term, hs.Term)
		}
		if err := w.check.preVoteTerm(n, rd, n.term, hs.Term); err != nil {
			return err
		}
		n.term = hs.Term
		if hs.Commit < n.commit {
			return w.Errorf("node %d: commit index moved back from %d to %d", n.id, n.commit, hs.Commit)
		}
		if hs.Commit > n.commit {
			if rd.soft.State == raft.StateLeader {
				if err := w.check.leaderCommit(n, hs.Commit, hs.Term); err != nil {
					return err
				}
				w.check.leaderCommitted(n, hs.Term, hs.Commit)
				if err := w.check.commitQuorum(n, hs.Commit); err != nil {
					return err
				}
			} else if err := w.check.followerCommit(n, hs.Commit, hs.Term); err != nil {
				return err
			}
			n.commit = hs.Commit
			if err := w.check.committed(n, n.commit); err != nil {
				return err
			}
			n.checkRemoved()
		}
	}
	if rd.snapshot != nil && rd.snapshot.Meta.Index > n.commit {
		n.commit = rd.snapshot.Meta.Index
		n.truthChecked = max(n.truthChecked, n.commit)
	}
	if rd.soft.State == raft.StateLeader && n.leaderTerm != n.term {
		n.leaderTerm = n.term
		n.direct.leaderSince = w.now
		w.stats.Elections++
		w.tracef("n%d leads term %d (last index %d)", n.id, n.term, n.disk.written.lastIndex())
		if w.params.AdversarialDrift {
			w.adversarialDrift(n)
		}
		if err := w.check.electionQuorum(n); err != nil {
			return err
		}
		return w.check.leaderElected(n)
	}
	return nil
}

// installed records that the node's state machine now holds the snapshot
// at index, whose state digest is digest.
func (n *node) installed(index, digest uint64) error {
	n.applied = index
	return n.w.check.snapshotState(n, index, digest)
}

// applying checks an entry the node applies, in order, and records it.
func (n *node) applying(e *raft.Entry) error {
	if err := n.w.check.apply(n, e); err != nil {
		return err
	}
	n.applied = e.Index
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
	if err := n.syncDone(); err != nil {
		n.w.Failf("node %d: %v", n.id, err)
		return
	}
	n.syncing = false
	n.finish(&n.ready)
	n.ready = hostReady{}
	n.drive()
}

// sendRaft checks and sends a Ready's raft messages up to index upTo, from
// the first it has not sent; early says they leave before the Ready's
// fsync. It reports false if a check failed.
func (n *node) sendRaft(rd *hostReady, upTo int, early bool) bool {
	w := n.w
	for ; rd.sent < upTo; rd.sent++ {
		m := &rd.raftMsgs[rd.sent]
		if early {
			if err := w.check.earlySend(n, m); err != nil {
				w.fail(err)
				return false
			}
		}
		if err := w.check.beforeSend(n, m); err != nil {
			w.fail(err)
			return false
		}
		if err := w.check.heartbeatCommit(n, m); err != nil {
			w.fail(err)
			return false
		}
		if err := w.check.sentDirect(n, m); err != nil {
			w.fail(err)
			return false
		}
		if err := w.check.snapshotResend(n, m); err != nil {
			w.fail(err)
			return false
		}
		w.sendMessage(wireMessage{Message: *m})
	}
	return true
}

// finish sends a Ready's messages (those not sent early) and lets the
// replica carry out the rest.
func (n *node) finish(rd *hostReady) {
	w := n.w
	if !n.sendRaft(rd, len(rd.raftMsgs), false) {
		return
	}
	for i := range rd.serviceMsgs {
		m := &rd.serviceMsgs[i]
		w.sendMessage(wireMessage{Message: raft.Message{From: m.From, To: m.To}, service: m})
	}
	if len(rd.raftMsgs)+len(rd.serviceMsgs) > 0 && n.unsynced() && n.crashPoint(countCrashPoint) {
		return
	}
	n.app.complete(rd)
}

// crashPoint crashes the node now, with probability Params.CrashPoint while
// the faults run, counting it as c: it has just sent messages while writes
// are unsynced. It reports whether the node crashed.
func (n *node) crashPoint(c counter) bool {
	w := n.w
	if w.phase != phaseFaults || !w.rng.Chance(w.params.CrashPoint) {
		return false
	}
	w.stats.count(c)
	w.crash(n, w.rng.Exp(w.params.FaultLength/4)+time.Millisecond)
	return true
}

// request handles a client request's arrival at the node.
func (n *node) request(ev event) {
	w := n.w
	if !n.up {
		r := w.rpcs.take(ev.ref)
		if n.retired {
			// Nothing listens at a removed node's address any more: the
			// connection is refused at once, as TCP would, and the client
			// knows its request had no effect.
			switch wl := w.workload.(type) {
			case CoreWorkload:
				wl.ConnUnknown(r.client, r.payload)
			case Refuser:
				wl.Refused(n.id, r.client, r.payload)
			}
		}
		return
	}
	if n.paused {
		n.parked = append(n.parked, ev)
		return
	}
	r := w.rpcs.take(ev.ref)
	mustGoOut, readies := n.readMustGoOut(r.payload), n.hostChecks.readies
	n.app.request(r.client, r.payload)
	n.drive()
	if mustGoOut && w.failure == nil {
		if err := w.check.readWentOut(n, r.payload, readies); err != nil {
			w.fail(err)
		}
	}
}

// crash stops the node at once; its disk keeps what it keeps. It restarts
// after downtime.
func (w *World) crash(n *node, downtime time.Duration) {
	if !n.up {
		return
	}
	fate := n.crashDisk()
	w.tracef("n%d crashes (unsynced: %s), restarts in %v", n.id, fate, downtime)
	n.up, n.paused, n.syncing, n.ticking = false, false, false, false
	n.app = nil
	n.ready = hostReady{}
	n.dropParked()
	if cw, ok := w.workload.(CoreWorkload); ok {
		// The node's client connections die with its process.
		cw.NodeCrashed(n.id)
	}
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
	if n.up || n.retired {
		return
	}
	w.tracef("n%d restarts", n.id)
	if err := n.start(); err != nil {
		w.Failf("node %d: restart: %v", n.id, err)
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
		n.hostChecks.ticks++
		n.app.tick(n.localMs(n.nextTick))
		n.direct.ticks++
		n.nextTick += n.tickEvery
		missed++
	}
	w.tracef("n%d resumes (%d ticks made up)", n.id, missed)
	w.stormRoll()
	w.stormTicks[n.idx] += uint64(missed)
	n.drive()
	if !n.up {
		return
	}
	// What arrived meanwhile is handled now, in an order of the scheduler's
	// choosing: a resumed process finds data waiting on many sockets and
	// reads them in no particular order, so a client's request may well be
	// handled before the message that would have told the node it was
	// deposed.
	// Requests on one client connection keep their order, as TCP keeps it.
	var connAt map[uint64]time.Duration
	for _, ev := range n.parked {
		ev.at = w.now + w.rng.Duration(0, 500*time.Microsecond)
		if ev.kind == evToNode {
			if c, ok := w.rpcs.items[ev.ref].payload.(connOrdered); ok {
				if connAt == nil {
					connAt = map[uint64]time.Duration{}
				}
				key := c.ConnKey()
				if last, seen := connAt[key]; seen && ev.at < last {
					ev.at = last
				}
				connAt[key] = ev.at
			}
		}
		w.queue.push(ev)
	}
	n.parked = n.parked[:0]
	if !n.ticking {
		// The tick due during the pause fired and stopped the clock.
		n.ticking = true
		w.queue.push(event{at: n.nextTick, kind: evTick, node: uint8(n.idx), gen: n.incarnation})
	}
}

// adversarialDrift makes the new leader's clock the slowest the run allows
// and every other node's the fastest: the leader's lease then lasts longest
// in real time and its voters' promises shortest (§6.4.1).
func (w *World) adversarialDrift(leader *node) {
	slow := time.Duration(float64(TickInterval) * (1 + w.params.Drift))
	fast := time.Duration(float64(TickInterval) * (1 - w.params.Drift))
	for _, n := range w.nodes {
		if n == leader {
			n.setTickEvery(slow)
		} else {
			n.setTickEvery(fast)
		}
	}
}

// Refuser is a workload whose clients learn at once that a node's address
// refused their request (a removed node).
type Refuser interface {
	// Refused answers client's request to node, whose address refused it.
	Refused(node raft.NodeID, client int, request any)
}
