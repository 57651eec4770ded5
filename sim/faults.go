package sim

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/raft"
)

// FaultKind names a scheduled fault.
type FaultKind uint8

const (
	// FaultPartitionHalves splits the nodes into two sides that cannot
	// talk, both ways. Nodes is one side.
	FaultPartitionHalves FaultKind = iota
	// FaultPartitionOneWay lets side Nodes hear the others but not reach
	// them.
	FaultPartitionOneWay
	// FaultPartitionBridge splits the nodes into two sides and one bridge
	// node that talks to both (the partition that makes two leaders look
	// possible).
	FaultPartitionBridge
	// FaultIsolateLeader cuts whoever leads at that moment off from
	// everyone.
	FaultIsolateLeader
	// FaultIsolateNode cuts one node off from everyone.
	FaultIsolateNode
	// FaultClog is swizzle-clogging: links are clogged one by one, then
	// unclogged in a random order; a clogged link delays what crosses it
	// until it clears.
	FaultClog
	// FaultCrash crashes a node for Length; its unsynced writes are lost,
	// torn or kept.
	FaultCrash
	// FaultPause stops a node's process for Length (a long GC pause, a
	// stopped VM): no ticks, nothing handled, everything queued.
	FaultPause
	// FaultCrashLeader and FaultPauseLeader crash or pause whoever leads
	// at that moment: the node whose failure tests the most.
	FaultCrashLeader
	FaultPauseLeader
	// FaultDiverge cuts the leader and a minority with it (Nodes, if it
	// names a minority, else drawn from Pick) off from the rest: the leader
	// goes on taking writes that only the minority holds while the majority
	// elects another leader and writes over the same indexes. Back to back,
	// they leave several terms of entries on different minorities, which
	// the healing makes the next leader truncate (§5.3).
	FaultDiverge
	// FaultHoldBack holds back a share of every message between nodes —
	// raft's and the service's — for the fault's Length (at least two
	// seconds), then delivers them over the following half second: late
	// replays of AppendEntries, votes, read acknowledgements, forwards and
	// keepalives across leader changes.
	FaultHoldBack
	// FaultRestartReplay is a late replay across a restart: it crashes a
	// node (Nodes, or drawn from Pick) for a moment, holds a share of every
	// message addressed to its new incarnation — raft's and the service's:
	// appends, heartbeats, read index answers, forward and keepalive
	// answers — for the fault's Length, crashes it again, and delivers what
	// it held to the incarnation after, soon after that one restarts, as
	// a sender's transport that retries to the same address would.
	FaultRestartReplay
	// FaultWipe crashes a node and replaces its disk by an empty one (an
	// operator's mistake, a lost volume); it restarts after Length under
	// the same id. Its host no longer says the cluster is new (no
	// Config.Bootstrap), so raft must refuse to start it: it forgot its
	// votes, and must rejoin as a new member. The node is then lost to the
	// run, as with a failed disk; only one disk is lost per run, while
	// three voters or more remain.
	FaultWipe
	numFaultKinds
)

var faultKindNames = [numFaultKinds]string{
	"partition-halves", "partition-oneway", "partition-bridge", "isolate-leader",
	"isolate-node", "clog", "crash", "pause", "crash-leader", "pause-leader",
	"diverge", "hold-back", "restart-replay", "wipe",
}

func (k FaultKind) String() string {
	if k < numFaultKinds {
		return faultKindNames[k]
	}
	return fmt.Sprintf("FaultKind(%d)", uint8(k))
}

// Fault is one scheduled fault. A schedule is a list of them; the swarm
// draws one per seed, and the property test draws and shrinks them.
type Fault struct {
	At     time.Duration
	Kind   FaultKind
	Length time.Duration
	// Nodes is a bit mask (bit i is node i+1): a partition's side, or the
	// node to crash, pause or isolate (its lowest bit). Bits beyond the
	// cluster are ignored; an unusable mask is replaced using Pick.
	Nodes uint32
	// Pick is randomness for choices made when the fault starts: the
	// bridge node, which links clog and in which order.
	Pick uint64
}

func (f Fault) String() string {
	return fmt.Sprintf("%v %s for %v nodes=%b pick=%d", f.At, f.Kind, f.Length, f.Nodes, f.Pick)
}

// drawSchedule draws a fault schedule from the run's parameters: each kind
// of fault arrives as a Poisson process with its own mean interval.
func drawSchedule(r *Rand, p *Params, nodes int, duration time.Duration) []Fault {
	var faults []Fault
	add := func(every time.Duration, kind func() FaultKind) {
		if every <= 0 {
			return
		}
		for at := r.Exp(every); at < duration; at += r.Exp(every) {
			faults = append(faults, Fault{
				At: at, Kind: kind(),
				Length: max(10*time.Millisecond, r.Exp(p.FaultLength)),
				Nodes:  uint32(r.Uint64()) & (1<<nodes - 1),
				Pick:   r.Uint64(),
			})
		}
	}
	add(p.PartitionEvery, func() FaultKind { return FaultKind(r.Intn(int(FaultIsolateNode) + 1)) })
	add(p.ClogEvery, func() FaultKind { return FaultClog })
	add(p.CrashEvery, func() FaultKind { return []FaultKind{FaultCrash, FaultCrashLeader}[r.Intn(2)] })
	add(p.PauseEvery, func() FaultKind { return []FaultKind{FaultPause, FaultPauseLeader}[r.Intn(2)] })
	add(p.DivergeEvery, func() FaultKind { return FaultDiverge })
	add(p.HoldBackEvery, func() FaultKind { return FaultHoldBack })
	add(p.RestartReplayEvery, func() FaultKind { return FaultRestartReplay })
	add(p.WipeEvery, func() FaultKind { return FaultWipe })
	slices.SortStableFunc(faults, func(a, b Fault) int { return int(a.At - b.At) })
	return faults
}

// clogRun is the state of a running swizzle-clog.
type clogRun struct {
	links   []int // link indexes, in clogging order
	unclogs []int // the same links, in unclogging order
}

func (w *World) scheduleFaults() {
	for i, f := range w.schedule {
		if f.At < w.cfg.Duration {
			w.queue.push(event{at: f.At, kind: evFault, ref: int32(i)})
		}
	}
}

func (w *World) allNodes() uint32 { return 1<<len(w.nodes) - 1 }

// pickNode returns the node a fault names, or one chosen by pick.
func (w *World) pickNode(f *Fault) *node {
	if m := f.Nodes & w.allNodes(); m != 0 {
		return w.nodes[bits.TrailingZeros32(m)]
	}
	return w.nodes[f.Pick%uint64(len(w.nodes))]
}

// pickSide returns a side of a partition: a non-empty proper subset.
func (w *World) pickSide(f *Fault) uint32 {
	all := w.allNodes()
	if m := f.Nodes & all; m != 0 && m != all {
		return m
	}
	// A random half, from pick.
	r := newRand(f.Pick)
	var side uint32
	for _, i := range r.perm(len(w.nodes))[:len(w.nodes)/2] {
		side |= 1 << i
	}
	if side == 0 {
		side = 1
	}
	return side
}

// perm returns a random permutation of 0..n-1.
func (r *Rand) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// leader returns the up node that leads the highest term, or nil.
func (w *World) leader() *node {
	var lead *node
	for _, n := range w.nodes {
		if n.up && n.soft.State == raft.StateLeader && (lead == nil || n.term > lead.term) {
			lead = n
		}
	}
	return lead
}

func (w *World) startFault(i int) {
	if w.phase != phaseFaults {
		return
	}
	f := &w.schedule[i]
	if len(w.nodes) < 2 && f.Kind <= FaultClog {
		return // no links to cut or clog
	}
	in := func(mask uint32, idx int) bool { return mask&(1<<idx) != 0 }
	var text string
	switch f.Kind {
	case FaultPartitionHalves:
		side := w.pickSide(f)
		w.partition(i, func(a, b int) bool { return in(side, a) != in(side, b) })
		text = fmt.Sprintf("partition %s | %s", w.nodeSet(side), w.nodeSet(w.allNodes()&^side))
	case FaultPartitionOneWay:
		side := w.pickSide(f)
		w.partition(i, func(a, b int) bool { return in(side, a) && !in(side, b) })
		text = fmt.Sprintf("one-way partition %s -/-> %s", w.nodeSet(side), w.nodeSet(w.allNodes()&^side))
	case FaultPartitionBridge:
		bridge := int(f.Pick % uint64(len(w.nodes)))
		side := w.pickSide(f) &^ (1 << bridge)
		other := w.allNodes() &^ side &^ (1 << bridge)
		if side == 0 || other == 0 {
			// Too few nodes left on a side: the bridge splits a half.
			side = w.allNodes() &^ (1 << bridge) & 0x55555555
			other = w.allNodes() &^ side &^ (1 << bridge)
		}
		w.partition(i, func(a, b int) bool {
			return (in(side, a) && in(other, b)) || (in(other, a) && in(side, b))
		})
		text = fmt.Sprintf("bridge partition %s | n%d | %s", w.nodeSet(side), bridge+1, w.nodeSet(other))
	case FaultIsolateLeader, FaultIsolateNode:
		n := w.pickNode(f)
		if f.Kind == FaultIsolateLeader {
			if l := w.leader(); l != nil {
				n = l
			}
		}
		w.partition(i, func(a, b int) bool { return a == n.idx || b == n.idx })
		text = fmt.Sprintf("isolate n%d", n.id)
	case FaultClog:
		text = w.startClog(i)
	case FaultDiverge:
		l := w.leader()
		if l == nil {
			return
		}
		side := uint32(1) << l.idx
		minority := (len(w.nodes) - 1) / 2
		r := newRand(f.Pick)
		for _, j := range r.perm(len(w.nodes)) {
			if bits.OnesCount32(side) >= minority {
				break
			}
			if j != l.idx && !w.nodes[j].retired {
				side |= 1 << j
			}
		}
		w.partition(i, func(a, b int) bool { return in(side, a) != in(side, b) })
		text = fmt.Sprintf("diverge: leader n%d with %s cut off from %s", l.id, w.nodeSet(side), w.nodeSet(w.allNodes()&^side))
	case FaultHoldBack:
		length := max(f.Length, 2*time.Second)
		w.holdUntil = max(w.holdUntil, w.now+length)
		w.holdShare = 0.05 + float64(f.Pick%30)/100
		text = fmt.Sprintf("hold back %.0f%% of messages for %v", 100*w.holdShare, length)
	case FaultRestartReplay:
		if text = w.startReplay(i); text == "" {
			return
		}
	case FaultCrash, FaultCrashLeader:
		n := w.pickNode(f)
		if l := w.leader(); f.Kind == FaultCrashLeader && l != nil {
			n = l
		}
		if !n.up {
			return
		}
		text = fmt.Sprintf("crash n%d", n.id)
		w.crash(n, f.Length)
	case FaultWipe:
		n := w.pickNode(f)
		if !n.up || n.retired || int(n.id) > len(w.nodes) || !n.damageAllowed() {
			// Only a founding member's host knows the voters to start
			// with; a wiped member that joined later would look to raft
			// like a new joiner, and only its host could tell.
			return
		}
		text = fmt.Sprintf("wipe n%d's disk", n.id)
		w.crash(n, f.Length)
		n.wipeDisk()
	case FaultPause, FaultPauseLeader:
		n := w.pickNode(f)
		if l := w.leader(); f.Kind == FaultPauseLeader && l != nil {
			n = l
		}
		if !n.up || n.paused {
			return
		}
		text = fmt.Sprintf("pause n%d", n.id)
		w.pause(n, f.Length)
	default:
		return
	}
	w.stats.Faults[f.Kind]++
	w.tracef("fault: %s for %v", text, f.Length)
	w.annotate(f.At, f.At+f.Length, text, f.Kind)
}

// partition installs a partition for fault i and schedules its end.
func (w *World) partition(i int, blocked func(a, b int) bool) {
	gen := w.net.setPartition(blocked)
	f := &w.schedule[i]
	w.queue.push(event{at: w.now + f.Length, kind: evFaultStep, ref: int32(i), aux: uint64(gen)})
}

// startClog begins a swizzle-clog: k links clog one by one over the first
// half of the fault, then unclog in another random order over the second.
func (w *World) startClog(i int) string {
	f := &w.schedule[i]
	n := len(w.nodes)
	r := newRand(f.Pick)
	var links []int
	for a := range n {
		for b := range n {
			if a != b {
				links = append(links, w.net.link(a, b))
			}
		}
	}
	order := r.perm(len(links))
	k := 1 + r.Intn(len(links))
	run := &clogRun{}
	for _, j := range order[:k] {
		run.links = append(run.links, links[j])
	}
	for _, j := range r.perm(k) {
		run.unclogs = append(run.unclogs, run.links[j])
	}
	w.clogs[i] = run
	w.stepClog(i, 0)
	return fmt.Sprintf("swizzle-clog %d links", k)
}

func (w *World) stepFault(i int, aux uint64) {
	if w.phase != phaseFaults {
		return
	}
	switch w.schedule[i].Kind {
	case FaultClog:
		w.stepClog(i, int(aux))
	case FaultRestartReplay:
		w.stepReplay(i, int(aux))
	default:
		if uint32(aux) == w.net.partitionGen {
			w.net.clearPartition()
			w.tracef("partition of fault %d heals", i)
		}
	}
}

func (w *World) stepClog(i, step int) {
	run := w.clogs[i]
	if run == nil {
		return
	}
	f := &w.schedule[i]
	k := len(run.links)
	interval := max(f.Length/time.Duration(2*k), time.Microsecond)
	switch {
	case step < k:
		l := run.links[step]
		w.clog(l/w.net.n, l%w.net.n)
	case step < 2*k:
		l := run.unclogs[step-k]
		w.unclog(l/w.net.n, l%w.net.n)
	}
	if step+1 < 2*k {
		w.queue.push(event{at: w.now + interval, kind: evFaultStep, ref: int32(i), aux: uint64(step + 1)})
	} else {
		delete(w.clogs, i)
	}
}

func (w *World) nodeSet(mask uint32) string {
	s := "{"
	for i := range w.nodes {
		if mask&(1<<i) != 0 {
			if len(s) > 1 {
				s += ","
			}
			s += fmt.Sprintf("n%d", i+1)
		}
	}
	return s + "}"
}

var faultColors = [numFaultKinds]string{
	"#ffcc80", "#ffe0b2", "#ffab91", "#ef9a9a", "#f8bbd0", "#b3e5fc", "#e57373", "#c5e1a5",
	"#e57373", "#c5e1a5", "#ffab91", "#d1c4e9", "#b39ddb", "#90a4ae",
}

func (w *World) annotate(start, end time.Duration, text string, kind FaultKind) {
	w.annotations = append(w.annotations, linearizability.Annotation{
		Start: int64(start), End: int64(end), Text: text, Tag: "faults", Color: faultColors[kind],
	})
}

// heal ends the fault phase: every node up and running, every link clear,
// no more loss, duplication, reordering or slow tail. What stays is the
// nodes' clock drift, which is a property of their hardware.
func (w *World) heal() {
	w.phase = phaseLiveness
	w.healedAt = w.now
	w.net.clearPartition()
	for l, c := range w.net.clogs {
		if c > 0 {
			w.net.clogs[l] = 1
			w.unclog(l/w.net.n, l%w.net.n)
		}
	}
	clear(w.clogs)
	w.params.Loss, w.params.Duplicate, w.params.Reorder, w.params.TailChance = 0, 0, 0, 0
	w.params.CrashPoint = 0
	w.holdUntil = 0
	w.releaseReplay()
	w.retireRemoved()
	for _, n := range w.nodes {
		if !n.up {
			w.restart(n)
		} else if n.paused {
			w.resume(n)
		}
	}
	w.liveBound = w.withCatchUp("liveness", LivenessBound)
	w.tracef("heal: all faults end; liveness bound %v", w.liveBound)
	w.queue.push(event{at: w.now + w.liveBound, kind: evLivenessDeadline})
	w.annotations = append(w.annotations, linearizability.Annotation{
		Start: int64(w.now), End: int64(w.now), Text: "heal", Tag: "faults", Color: "#a5d6a7",
	})
}

// restartReplay is the state of a running FaultRestartReplay: the node
// whose incoming messages it holds, the share it holds, and what it holds,
// in the order it took them, with when (from its incarnation's start).
type restartReplay struct {
	node    int
	share   float64
	held    []int32
	offsets []time.Duration
	// since is when the incarnation whose messages it holds started;
	// hold is how long each incarnation's messages are held; downtime is
	// how long the second crash lasts.
	since, hold, downtime time.Duration
	// copies: the leader's variant. The messages it takes are delivered
	// too, and only their copies held, so that what the leader answered
	// (or proposed, and then crashed before answering) reaches its next
	// incarnation again.
	copies bool
}

// startReplay begins a FaultRestartReplay: the node crashes for a moment,
// and from now on a share of the messages to it is held; or, the leader's
// variant, a share of them is copied, for a moment before it crashes.
func (w *World) startReplay(i int) string {
	f := &w.schedule[i]
	n := w.pickNode(f)
	if len(w.nodes) < 2 {
		return ""
	}
	copies := false
	if l := w.leader(); l == n {
		if f.Pick>>63 == 1 {
			// The leader's variant: raft drops the answers of an older
			// term, but a restarted leader still follows the term it led
			// until another leader is elected, and must not answer a
			// forward of that term it may have proposed before the crash.
			copies = true
		} else {
			// A follower.
			n = w.nodes[(n.idx+1+int(f.Pick%uint64(len(w.nodes)-1)))%len(w.nodes)]
		}
	}
	if w.replay != nil || !n.up || n.retired {
		return ""
	}
	r := newRand(f.Pick)
	down := r.Duration(10*time.Millisecond, 100*time.Millisecond)
	rr := &restartReplay{
		node: n.idx, share: r.Range(0.2, 0.6), since: w.now + down,
		hold:     r.Duration(time.Second, 4*time.Second),
		downtime: r.Duration(100*time.Millisecond, time.Second),
		copies:   copies,
	}
	w.replay = rr
	if copies {
		// No first crash; the copies are of the last moments before the
		// second, which is short, within the followers' election timeout:
		// the next incarnation starts in the term it led, and gets them
		// before anyone is elected, forwards it proposed and never
		// answered among them.
		rr.since, rr.hold, rr.downtime = w.now, r.Duration(20*time.Millisecond, 150*time.Millisecond), r.Duration(5*time.Millisecond, ElectionTimeout/4)
		w.queue.push(event{at: rr.since + rr.hold, kind: evFaultStep, ref: int32(i), aux: 1})
		return fmt.Sprintf("restart-replay n%d, the leader: %.0f%% of the messages to it copied for %v, crashes for %v, its next incarnation gets the copies as long after its start",
			n.id, 100*rr.share, rr.hold, rr.downtime)
	}
	w.crash(n, down)
	w.queue.push(event{at: rr.since + rr.hold, kind: evFaultStep, ref: int32(i), aux: 1})
	return fmt.Sprintf("restart-replay n%d: restarts, %.0f%% of the messages to it held for %v, crashes for %v, gets them as long after its next start",
		n.id, 100*rr.share, rr.hold, rr.downtime)
}

// holdForReplay takes a message addressed to slot to into the running
// FaultRestartReplay, if it holds that node's messages and draws this one.
func (w *World) holdForReplay(to int, m wireMessage) bool {
	rr := w.replay
	if rr == nil || rr.node != to || !w.rng.Chance(rr.share) {
		return false
	}
	w.stats.count(countReplayHeld)
	rr.held = append(rr.held, w.msgs.put(m))
	rr.offsets = append(rr.offsets, max(0, w.now-rr.since))
	return !rr.copies
}

// stepReplay moves a FaultRestartReplay on. Step 1 crashes the node again
// and sends what it held for the incarnation that just died to the next
// one, each message as long after that one starts as it was held after the
// dead one started (so that the answers to the first requests of one
// incarnation meet the first requests of the next), or when the fault
// phase ends if that comes first; what is sent to the
// new incarnation is held in turn, for as long. Step 2 delivers that.
func (w *World) stepReplay(i, step int) {
	rr := w.replay
	if rr == nil {
		return
	}
	n := w.nodes[rr.node]
	switch step {
	case 1:
		w.tracef("restart-replay: n%d crashes again; %d messages held for its next incarnation", n.id, len(rr.held))
		w.crash(n, rr.downtime)
		start := w.now + rr.downtime
		for k, slot := range rr.held {
			// Never past the end of the fault phase: once everything heals,
			// the network replays nothing more (heal releases the rest).
			at := min(start+rr.offsets[k], max(w.cfg.Duration, w.now)) + w.rng.Duration(0, 200*time.Microsecond)
			w.queue.push(event{at: at, kind: evDeliver, node: uint8(rr.node), ref: slot})
			w.heldLast = max(w.heldLast, at)
		}
		rr.held, rr.offsets, rr.since = nil, nil, start
		if rr.copies {
			rr.share = 0 // the copies were the point: the next incarnation is spared
		}
		w.queue.push(event{at: start + rr.hold, kind: evFaultStep, ref: int32(i), aux: 2})
	case 2:
		w.releaseReplay()
	}
}

// releaseReplay delivers what the running FaultRestartReplay holds, in the
// order it held them, and ends it.
func (w *World) releaseReplay() {
	rr := w.replay
	if rr == nil {
		return
	}
	w.replay = nil
	w.tracef("restart-replay: %d held messages go to n%d", len(rr.held), w.nodes[rr.node].id)
	at := w.now
	for _, slot := range rr.held {
		at += w.rng.Duration(0, 200*time.Microsecond)
		w.queue.push(event{at: at, kind: evDeliver, node: uint8(rr.node), ref: slot})
	}
	w.heldLast = max(w.heldLast, at)
}
