package sim

import (
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/raft"
)

// phase is where a run is.
type phase uint8

const (
	// phaseFaults: faults are injected for Config.Duration.
	phaseFaults phase = iota
	// phaseLiveness: everything healed; a leader must be elected and a new
	// write acknowledged within LivenessBound.
	phaseLiveness
	// phaseSettling: clients start nothing new; every node must apply the
	// whole log within LivenessBound.
	phaseSettling
	phaseDone
)

// World is one simulated run: the event queue, the virtual clock, the
// nodes, the network, the clients and the checks, all driven by one seeded
// Rand from one goroutine.
type World struct {
	cfg    Config
	params Params
	rng    *Rand
	now    time.Duration
	queue  eventQueue

	nodes  []*node
	voters []raft.NodeID
	net    network
	msgs   slab[wireMessage]
	rpcs   slab[rpc]
	arena  entryArena

	check    checker
	workload Workload
	schedule []Fault
	clogs    map[int]*clogRun
	// holdUntil is when the hold-back fault in force ends; holdShare the
	// share of messages it holds (FaultHoldBack).
	holdUntil time.Duration
	holdShare float64
	// heldLast is when the last held-back message is delivered.
	heldLast time.Duration
	// replay is the FaultRestartReplay in force, if any.
	replay *restartReplay

	phase    phase
	healedAt time.Duration
	// liveAt is when the liveness phase found a leader and a new write
	// acknowledged after healing.
	liveAt time.Duration
	// liveBound and settleLimit are how long the liveness and settling
	// phases may last in this run: their bounds plus the catch-up
	// allowance (catchUpAllowance) measured when each phase began.
	liveBound, settleLimit time.Duration
	// stormWin is the stormWindow the message-storm check is counting,
	// stormSent each slot's sends in it and stormTicks the ticks each made
	// up in it.
	stormWin              time.Duration
	stormSent, stormTicks []uint64
	failure               error
	stats                 Stats
	hash                  uint64
	trace                 *tracer

	annotations []linearizability.Annotation
}

// Result is the outcome of one run.
type Result struct {
	Seed uint64
	// Err is the failure, or nil if every check passed.
	Err error
	// FailedAt is the virtual time of the failure.
	FailedAt time.Duration
	Params   Params
	Schedule []Fault
	// SimTime is the virtual time simulated, WallTime what it took.
	SimTime, WallTime time.Duration
	// TraceHash is a hash of every event of the run: equal for equal runs.
	TraceHash uint64
	Stats     Stats
	Workload  WorkloadReport
	// Replay is the havensim command that reruns this seed.
	Replay string
}

// Run runs one seed to the end and checks it.
func Run(cfg Config) (res Result) {
	wallStart := time.Now()
	cfg.setDefaults()
	res.Seed = cfg.Seed
	res.Replay = ReplayCommand(cfg)
	w, err := newWorld(cfg)
	if err != nil {
		res.Err = err
		return res
	}
	res.Params, res.Schedule = w.params, w.schedule
	defer func() {
		res.SimTime, res.WallTime = w.now, time.Since(wallStart)
		res.TraceHash, res.Stats = w.hash, w.stats
		if p := recover(); p != nil {
			// A panic in a core is a broken invariant (raft asserts its
			// own), and as much a failure of the seed as a failed check.
			res.Err = fmt.Errorf("panic at %v: %v\n%s", w.now, p, trimStack(debug.Stack()))
			res.FailedAt = w.now
		}
		if w.trace != nil {
			if res.Err != nil {
				w.trace.note(w.now, "FAILED: "+res.Err.Error())
			}
			w.trace.flush()
		}
	}()
	w.start()
	w.loop()
	if w.failure == nil {
		w.finish(&res)
	}
	if cfg.HistoryPath != "" {
		if err := w.writeHistory(cfg.HistoryPath); err != nil && w.failure == nil {
			w.failure = historyError(cfg.HistoryPath, err)
		}
	}
	if w.failure != nil {
		res.Err, res.FailedAt = w.failure, w.now
	}
	return res
}

func newWorld(cfg Config) (*World, error) {
	if cfg.Nodes < 1 || cfg.Nodes > MaxNodes {
		return nil, fmt.Errorf("sim: %d nodes; want 1..%d", cfg.Nodes, MaxNodes)
	}
	w := &World{cfg: cfg, rng: newRand(cfg.Seed), clogs: map[int]*clogRun{}}
	if cfg.Params != nil {
		w.params = *cfg.Params
	} else {
		w.params = drawParams(cfg.Faults, w.rng)
	}
	cfg.Lease.apply(&w.params)
	if err := applyKnobs(cfg.Knobs, &w.params); err != nil {
		return nil, err
	}
	if w.params.LeaseReads {
		// A lease is sound only within the drift its margin tolerates
		// (raft/doc.go); the swarm draws drifts of up to 10%, so a run that
		// reads by lease keeps its clocks inside that bound (swarm seed
		// 4920 drew 9.3% and its lease check rightly failed).
		w.params.Drift = min(w.params.Drift, leaseDriftBound)
	}
	if cfg.CompactEvery > 0 {
		w.params.CompactEvery = cfg.CompactEvery
	}
	if cfg.Schedule != nil {
		w.schedule = append([]Fault(nil), cfg.Schedule...)
	} else {
		w.schedule = drawSchedule(w.rng, &w.params, cfg.Nodes, cfg.Duration)
	}
	if w.params.CompactEvery == 0 {
		w.params.CompactEvery = 100
	}
	if cfg.Trace != nil {
		w.trace = newTracer(cfg.Trace)
	}
	wl, err := newWorkload(&cfg)
	if err != nil {
		return nil, err
	}
	w.workload = wl
	w.net = newNetwork(cfg.Nodes)
	w.stormSent, w.stormTicks = make([]uint64, cfg.Nodes), make([]uint64, cfg.Nodes)
	w.check = newChecker(w)
	for i := range cfg.Nodes {
		w.voters = append(w.voters, raft.NodeID(i+1))
	}
	for i := range cfg.Nodes {
		drift := 1 + w.rng.Range(-w.params.Drift, w.params.Drift)
		tickEvery := time.Duration(float64(TickInterval) * drift)
		w.nodes = append(w.nodes, &node{
			w: w, id: raft.NodeID(i + 1), idx: i,
			tickEvery: tickEvery, clockRate: float64(TickInterval) / float64(tickEvery),
		})
	}
	return w, nil
}

func (w *World) start() {
	if w.trace != nil {
		w.trace.note(0, fmt.Sprintf("seed %d nodes %d duration %v faults %s", w.cfg.Seed, w.cfg.Nodes, w.cfg.Duration, w.cfg.Faults))
		w.trace.note(0, "params "+w.params.String())
		for _, f := range w.schedule {
			w.trace.note(0, "scheduled "+f.String())
		}
		for _, n := range w.nodes {
			w.trace.note(0, fmt.Sprintf("n%d ticks every %v", n.id, n.tickEvery))
		}
	}
	if cw, ok := w.workload.(CoreWorkload); ok {
		// The nodes' service cores take their settings from the workload.
		cw.Bind(w)
	}
	for _, n := range w.nodes {
		if err := n.start(); err != nil {
			w.Failf("node %d: start: %v", n.id, err)
			return
		}
	}
	w.workload.Start(w)
	w.scheduleFaults()
	w.scheduleMembership()
	w.queue.push(event{at: w.cfg.Duration, kind: evHeal})
}

// loop runs events in (time, sequence) order until the run is over.
func (w *World) loop() {
	for w.failure == nil && w.phase != phaseDone {
		if w.queue.len() == 0 {
			w.Failf("the event queue ran dry")
			return
		}
		ev := w.queue.pop()
		w.now = ev.at
		w.stats.Events++
		w.hashEvent(&ev)
		if w.trace != nil {
			w.trace.event(w, &ev)
		}
		w.dispatch(ev)
		if w.failure != nil {
			return
		}
		w.afterEvent(&ev)
	}
}

func (w *World) dispatch(ev event) {
	switch ev.kind {
	case evTick:
		w.nodes[ev.node].tick(ev)
	case evDeliver:
		w.deliver(ev)
	case evFsync:
		w.nodes[ev.node].fsyncDone(ev)
	case evToNode:
		w.nodes[ev.node].request(ev)
	case evToClient:
		r := w.rpcs.take(ev.ref)
		w.workload.ClientReceive(r.client, r.payload)
	case evClientWake:
		w.workload.ClientWake(int(ev.ref), ev.aux)
	case evFault:
		w.startFault(int(ev.ref))
	case evFaultStep:
		w.stepFault(int(ev.ref), ev.aux)
	case evRestart:
		if n := w.nodes[ev.node]; ev.gen == n.incarnation {
			w.restart(n)
		}
	case evResume:
		if n := w.nodes[ev.node]; ev.gen == n.incarnation && uint32(ev.aux) == n.pauseGen {
			w.resume(n)
		}
	case evHeal:
		w.heal()
	case evMembership:
		w.changeMembership()
	case evTransfer:
		w.transferLeadership()
	case evRetire:
		w.retire(w.nodes[ev.node], raft.NodeID(ev.aux))
	case evIsolate:
		if n := w.nodes[ev.node]; ev.gen == n.incarnation {
			w.isolate(n, false)
		}
	case evHealPartition:
		if w.phase == phaseFaults && uint32(ev.aux) == w.net.partitionGen {
			w.net.clearPartition()
		}
	case evLivenessDeadline:
		if w.phase == phaseLiveness {
			what := "no leader"
			if w.leader() != nil {
				what = "a leader but no new write acknowledged"
			}
			w.Failf("no convergence: %s within %v after healing%s", what, w.liveBound, w.describeNodes())
		}
	case evSettleDeadline:
		if w.phase == phaseSettling {
			if n := w.unawareRemoved(); n != nil {
				w.Failf("no convergence: node %d, removed at index %d, was not told it is no member within %v of quiescing (it asks the voters of the configuration it knows for votes, or a learner whether it is a member, and those that committed its removal answer MsgRemoved)%s",
					n.id, n.removedAt, w.settleLimit, w.describeNodes())
				return
			}
			w.Failf("no convergence: nodes did not all apply the log within %v of quiescing (clients idle: %t)%s",
				w.settleLimit, w.workload.Idle(), w.describeNodes())
		}
	}
}

// afterEvent runs the per-event checks and moves the run through its
// phases.
func (w *World) afterEvent(ev *event) {
	switch ev.kind {
	case evTick, evDeliver, evFsync, evToNode, evRestart, evResume:
		// A tick that produced no Ready only moved raft's timers, which
		// the invariants do not look at (an election or a step-down
		// always produces a Ready). Of the log, only the entries added
		// since the last check; every entry at every fault, below.
		if n := w.nodes[ev.node]; n.up && (ev.kind != evTick || n.readied) {
			if err := n.app.raftCore().CheckInvariantsSinceLast(); err != nil {
				w.fail(w.Errorf("invariant: %v", err))
				return
			}
		}
		if n := w.nodes[ev.node]; n.up && n.direct.toldAt > 0 {
			if err := w.check.removedQuiet(n); err != nil {
				w.fail(err)
				return
			}
		}
	case evFault, evFaultStep, evHeal:
		for _, n := range w.nodes {
			if n.up {
				if err := n.app.raftCore().CheckInvariants(); err != nil {
					w.fail(w.Errorf("invariant: %v", err))
					return
				}
			}
		}
	}
	switch w.phase {
	case phaseLiveness:
		if w.currentLeader() != nil && w.workload.ProgressSince(w.healedAt) {
			w.phase = phaseSettling
			w.liveAt = w.now
			w.tracef("live: leader elected and a new write acknowledged %v after healing", w.now-w.healedAt)
			w.workload.Quiesce()
			// Messages the hold-back fault held may still arrive after
			// healing (by heldLast, known now: healing holds nothing more),
			// and what they do — a keepalive, a transfer's TimeoutNow that
			// elects a leader who renews every session — counts from then.
			w.settleLimit = w.withCatchUp("settling", w.settleBound())
			w.queue.push(event{at: max(w.now, w.heldLast) + w.settleLimit, kind: evSettleDeadline})
		}
	case phaseSettling:
		if w.settled() {
			w.phase = phaseDone
		}
	}
}

// currentLeader returns the leader of the highest term any up node knows,
// if that node is up and running and knows it leads.
func (w *World) currentLeader() *node {
	var top uint64
	for _, n := range w.nodes {
		if n.up {
			top = max(top, n.term)
		}
	}
	l := w.leader()
	if l == nil || l.term < top || l.paused {
		return nil
	}
	return l
}

// LeaderTerm is the term of the current leader (the leader of the highest
// term any up node knows, up, running and knowing it leads), and whether
// there is one.
func (w *World) LeaderTerm() (uint64, bool) {
	if l := w.currentLeader(); l != nil {
		return l.term, true
	}
	return 0, false
}

// LiveAt is when the liveness phase found a leader and a new write
// acknowledged after healing (0 before).
func (w *World) LiveAt() time.Duration { return w.liveAt }

// HeldLast is when the last message the hold-back fault held is delivered.
func (w *World) HeldLast() time.Duration { return w.heldLast }

// CurrentID is the id of the node that serves node's address now: a
// removed node's slot may have come back under a new id (membership.go).
func (w *World) CurrentID(node raft.NodeID) raft.NodeID { return w.nodes[w.slotOf(node)].id }

// settled reports whether every node is up and has applied the leader's
// whole log, and no client operation is in flight.
func (w *World) settled() bool {
	l := w.currentLeader()
	if l == nil || !w.workload.Idle() {
		return false
	}
	last := l.disk.written.lastIndex()
	if l.commit != last {
		return false
	}
	if w.unawareRemoved() != nil {
		return false
	}
	lr := l.app.raftCore()
	for _, n := range w.nodes {
		if n.diskFailed {
			continue // lost to the run with its disk (disk_host.go)
		}
		if !lr.IsMember(n.id) {
			// Removed, or joined by a change a later leader overwrote:
			// nobody owes it the log.
			continue
		}
		if !n.up || n.paused || n.syncing || n.applied != last {
			return false
		}
	}
	return true
}

func (w *World) finish(res *Result) {
	if err := w.check.convergedState(); err != nil {
		w.fail(err)
		return
	}
	var services []Service
	conf := w.members()
	for _, n := range w.nodes {
		if a, ok := n.app.(*raftReplica); ok && n.up && isMember(conf, n.id) {
			services = append(services, a.svc)
		}
	}
	report, err := w.workload.Finish(w, services)
	res.Workload = report
	if err != nil {
		w.fail(err)
	}
}

// hashEvent folds an event into the run's hash: cheap enough to run on
// every event, and enough to tell two runs apart as soon as they diverge.
func (w *World) hashEvent(ev *event) {
	h := Mix64(w.hash ^ uint64(ev.at))
	h = Mix64(h ^ uint64(ev.kind)<<32 ^ uint64(ev.node)<<16 ^ uint64(ev.gen))
	if ev.kind == evDeliver {
		m := &w.msgs.items[ev.ref]
		h = Mix64(h ^ uint64(m.Type)<<56 ^ uint64(m.From)<<48 ^ uint64(m.To)<<40 ^ m.Term)
		h = Mix64(h ^ m.Index ^ m.LogTerm<<24 ^ m.Commit<<40 ^ uint64(len(m.Entries))<<56)
		if m.service != nil {
			h = Mix64(h ^ serviceMessageHash(m.service))
		}
	}
	w.hash = h
}

// Failure is the run's first failure so far, or nil.
func (w *World) Failure() error { return w.failure }

// Errorf makes a failure that says when it happened (the virtual time).
func (w *World) Errorf(format string, args ...any) error {
	return fmt.Errorf("at %v: %s", w.now, fmt.Sprintf(format, args...))
}

// Failf fails the run with Errorf(format, args...); only the first
// failure of a run counts.
func (w *World) Failf(format string, args ...any) { w.fail(w.Errorf(format, args...)) }

func (w *World) fail(err error) {
	if w.failure == nil {
		w.failure = err
	}
}

func (w *World) tracef(format string, args ...any) {
	if w.trace != nil {
		w.trace.note(w.now, fmt.Sprintf(format, args...))
	}
}

func trimStack(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	if len(lines) > 40 {
		lines = lines[:40]
	}
	return strings.Join(lines, "\n")
}

// The API a Workload uses.

// Now is the virtual time.
func (w *World) Now() time.Duration { return w.now }

// Rand is the run's source of randomness.
func (w *World) Rand() *Rand { return w.rng }

// Nodes is the number of nodes; their ids are 1..Nodes.
func (w *World) Nodes() int { return len(w.nodes) }

// Faulting reports whether the run is still injecting faults.
func (w *World) Faulting() bool { return w.phase == phaseFaults }

// oneEntryMsgBytes is the largest MaxMsgBytes at which the simulator takes
// a message between nodes to carry about one entry.
const oneEntryMsgBytes = 256

// catchUpAllowance is how much longer than its bound a convergence phase
// may last because a member is behind and the run's messages carry about
// one entry each (MaxMsgBytes up to oneEntryMsgBytes). A follower then
// catches up at one entry a round trip at best, however many appends are
// in flight: latencies drawn per message reorder pipelined appends, each
// one that arrives early is rejected, and the reject sends the leader back
// to probing, as in etcd-io/raft. So the allowance is one mean round trip
// (two message latencies and the follower's fsync) for every entry between
// the lowest commit index of an up member and the longest log; it also
// returns that lag. Seeds 4150 (inflight 1) and 2780 (inflight 4,
// reordered) caught up at 0.8 and 0.6 mean round trips an entry. With
// larger messages a catch-up takes a few round trips, which the bounds
// already cover, and the allowance is zero: a stalled or slowed catch-up
// still fails there.
func (w *World) catchUpAllowance() (time.Duration, uint64) {
	p := &w.params
	if p.MaxMsgBytes > oneEntryMsgBytes {
		return 0, 0
	}
	var longest, lowest uint64
	lowest = math.MaxUint64
	for _, n := range w.nodes {
		if !n.up || n.retired || n.diskFailed {
			continue
		}
		st := n.app.raftCore().Status()
		longest = max(longest, st.LastIndex)
		lowest = min(lowest, st.Commit)
	}
	if lowest >= longest {
		return 0, 0
	}
	lag := longest - lowest
	rtt := 2*(p.LatencyMin+p.LatencyMean) + p.FsyncMin + p.FsyncMean
	return time.Duration(lag) * rtt, lag
}

// withCatchUp is the bound of phase plus the catch-up allowance of this
// moment, traced when there is one.
func (w *World) withCatchUp(phase string, bound time.Duration) time.Duration {
	extra, lag := w.catchUpAllowance()
	if extra > 0 {
		w.tracef("%s bound %v: %v more for a member %d entries behind, at one entry a message", phase, bound+extra, extra, lag)
	}
	return bound + extra
}

// settleBound is how long the settling phase may last: LivenessBound, or
// longer for a workload that says it needs longer (the sessions workload
// waits for every session to expire).
func (w *World) settleBound() time.Duration {
	if sb, ok := w.workload.(interface{ SettleBound() time.Duration }); ok {
		return sb.SettleBound()
	}
	return LivenessBound
}

// SendToNodeAt and SendToClientAt send a client's request or a node's
// answer to arrive at a given time: the sessions workload's connections
// keep their order that way.
func (w *World) SendToNodeAt(client int, node raft.NodeID, request any, at time.Duration) {
	idx := w.slotOf(node)
	slot := w.rpcs.put(rpc{client: client, node: idx, payload: request})
	w.queue.push(event{at: at, kind: evToNode, node: uint8(idx), ref: slot})
}

func (w *World) SendToClientAt(client int, node raft.NodeID, reply any, at time.Duration) {
	slot := w.rpcs.put(rpc{client: client, node: w.slotOf(node), payload: reply})
	w.queue.push(event{at: at, kind: evToClient, ref: slot})
}

// SendToNode sends a client's request to a node. Clients reach their node
// whatever the partitions; a crashed node loses the request and a paused
// one handles it when it resumes.
func (w *World) SendToNode(client int, node raft.NodeID, request any) {
	idx := w.slotOf(node)
	slot := w.rpcs.put(rpc{client: client, node: idx, payload: request})
	w.queue.push(event{at: w.now + w.ClientDelay(), kind: evToNode, node: uint8(idx), ref: slot})
}

// WakeClient sets a timer for a client; ClientWake receives token.
func (w *World) WakeClient(client int, after time.Duration, token uint64) {
	w.queue.push(event{at: w.now + after, kind: evClientWake, ref: int32(client), aux: token})
}

// AckedWrite tells the checker a client got an acknowledgment for the write
// at index and term; it fails the run unless that entry is committed.
func (w *World) AckedWrite(index, term uint64) {
	if err := w.check.acked(index, term); err != nil {
		w.fail(err)
	}
}

// Fail fails the run with err (the first failure is the one reported).
func (w *World) Fail(err error) { w.fail(err) }

// CommittedIndex is the highest index any node has reported committed.
func (w *World) CommittedIndex() uint64 { return uint64(len(w.check.truth)) }

// Committed is the entry at index (1 ≤ index ≤ CommittedIndex) of the
// committed log; the caller must not change it.
func (w *World) Committed(index uint64) *raft.Entry { return &w.check.truth[index-1].entry }

// CommittedLog returns the committed log as far as any node knows it.
func (w *World) CommittedLog() []raft.Entry {
	out := make([]raft.Entry, len(w.check.truth))
	for i := range w.check.truth {
		out[i] = w.check.truth[i].entry
	}
	return out
}

// Annotations returns the faults injected, for a history's visualization.
func (w *World) Annotations() []linearizability.Annotation { return w.annotations }

// Params returns the run's parameters.
func (w *World) Params() Params { return w.params }

// Config returns the run's configuration.
func (w *World) Config() *Config { return &w.cfg }
