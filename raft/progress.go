package raft

import (
	"cmp"
	"fmt"
	"slices"
)

// progressState is how the leader currently replicates to one follower.
type progressState uint8

const (
	// progressProbe: the leader does not know where the follower's log
	// matches; it sends one AppendEntries at a time and waits for the answer
	// (or the next heartbeat) before trying again (§5.3 "decrements
	// nextIndex and retries").
	progressProbe progressState = iota
	// progressReplicate: the logs match up to match; the leader streams
	// entries optimistically, bounded by the in-flight window (pipelining).
	progressReplicate
	// progressSnapshot: the entries the follower needs are compacted away;
	// a snapshot is on its way and nothing else is sent until it lands (§7).
	progressSnapshot
)

func (s progressState) String() string {
	return [...]string{"Probe", "Replicate", "Snapshot"}[s]
}

// progressTable is the leader's progress of every member, its own
// included, sorted by id. A cluster has a handful of members, so a scan
// finds one sooner than a map's hashing would, and a range over the table
// visits them in the same order every time.
type progressTable []*progress

// get returns the progress of id, nil if id is no member.
func (t progressTable) get(id NodeID) *progress {
	for _, pr := range t {
		if pr.id == id {
			return pr
		}
	}
	return nil
}

// set adds pr to the table, or replaces the progress of its id.
func (t *progressTable) set(pr *progress) {
	i, found := slices.BinarySearchFunc(*t, pr.id, func(p *progress, id NodeID) int { return cmp.Compare(p.id, id) })
	if found {
		(*t)[i] = pr
		return
	}
	*t = slices.Insert(*t, i, pr)
}

// keep drops the progress of every id not in ids.
func (t *progressTable) keep(ids []NodeID) {
	*t = slices.DeleteFunc(*t, func(pr *progress) bool { return !slices.Contains(ids, pr.id) })
}

// progress is Figure 2's "volatile state on leaders" for one peer
// (nextIndex[], matchIndex[]), plus what the leader needs to pace
// replication and to check quorum.
type progress struct {
	id NodeID
	// match is the highest index known to be replicated on the peer.
	match uint64
	// next is the index of the next entry to send.
	next uint64

	state progressState
	// probeSent is set in Probe state once a message is in flight; it is
	// cleared by an answer or by a heartbeat response, so a lost probe is
	// retried once per heartbeat rather than never or constantly.
	probeSent bool
	// pendingSnapshot is the index of the snapshot in flight (Snapshot state)
	// and snapshotSentTick the leader's tick when it was sent: it is taken
	// as lost an election timeout after that (§7).
	pendingSnapshot  uint64
	snapshotSentTick uint64
	// recentActive records that the peer answered since the last CheckQuorum
	// round (§6.2, thesis: "a leader steps down if an election timeout
	// elapses without a successful round of heartbeats to a majority").
	recentActive bool
	// inflights bounds the pipelined AppendEntries not yet acknowledged.
	inflights inflights
	learner   bool
	// lastAckTick is the leader's tick at which the newest heartbeat this
	// peer answered was sent: the peer will not vote for anyone else until
	// an election timeout after it received it (§4.2.3), which is what
	// makes the leader lease of §6.4.1 safe. It is stored plus one, so
	// that zero means "no answer yet" even for a round sent at tick 0.
	lastAckTick uint64
	// ackedRound is the highest heartbeat round (Raft.readRound) the peer
	// answered in this term: it confirms every read registered at or
	// before that round (§6.4).
	ackedRound uint64
}

func (p *progress) becomeProbe() {
	// After a snapshot, resume right after it; otherwise just after match.
	if p.state == progressSnapshot {
		p.next = max(p.match+1, p.pendingSnapshot+1)
	} else {
		p.next = p.match + 1
	}
	p.state, p.probeSent, p.pendingSnapshot = progressProbe, false, 0
	p.inflights.reset()
}

func (p *progress) becomeReplicate() {
	p.state, p.probeSent, p.pendingSnapshot = progressReplicate, false, 0
	p.next = p.match + 1
	p.inflights.reset()
}

func (p *progress) becomeSnapshot(index, now uint64) {
	p.state, p.probeSent, p.pendingSnapshot = progressSnapshot, false, index
	p.snapshotSentTick = now
	p.inflights.reset()
}

// maybeUpdate records a successful AppendEntries response for index.
func (p *progress) maybeUpdate(index uint64) bool {
	updated := false
	if index > p.match {
		p.match = index
		updated = true
		p.probeSent = false
	}
	p.next = max(p.next, index+1)
	return updated
}

// maybeDecrTo handles a rejection of the AppendEntries whose prevLogIndex
// was rejected, moving next back to hint+1. It returns false for a stale
// rejection that must be ignored.
func (p *progress) maybeDecrTo(rejected, hint uint64) bool {
	if p.state == progressReplicate {
		// In Replicate, only a rejection of something beyond match that
		// we actually sent can be current.
		if rejected <= p.match {
			return false
		}
		p.next = p.match + 1
		return true
	}
	// In Probe, only the rejection of the probe just sent (next-1) counts.
	if p.next-1 != rejected {
		return false
	}
	p.next = max(min(rejected, hint+1), p.match+1)
	p.probeSent = false
	return true
}

// paused says whether the leader should hold back new AppendEntries.
func (p *progress) paused() bool {
	switch p.state {
	case progressProbe:
		return p.probeSent
	case progressReplicate:
		return p.inflights.full()
	default:
		return true
	}
}

// sentEntries records that entries up to last were sent, of total size
// bytes, advancing next optimistically in Replicate state.
func (p *progress) sentEntries(last uint64, bytes uint64, empty bool) {
	switch p.state {
	case progressReplicate:
		if !empty {
			p.next = last + 1
			p.inflights.add(last, bytes)
		}
	case progressProbe:
		p.probeSent = true
	default:
		panic(fmt.Sprintf("raft: sending entries in state %s", p.state))
	}
}

// inflights is the window of pipelined AppendEntries: each slot is the last
// index of one message and its size, oldest first, in a ring buffer that is
// allocated once (MaxInflightMsgs slots) and never shifted. The window is
// full when either the count or the byte budget is used up.
type inflights struct {
	maxCount int
	maxBytes uint64

	start int // slot of the oldest message
	count int
	last  []uint64
	sizes []uint64
	bytes uint64
}

func newInflights(maxCount int, maxBytes uint64) inflights {
	return inflights{maxCount: maxCount, maxBytes: maxBytes}
}

func (in *inflights) add(last, bytes uint64) {
	if in.last == nil {
		in.last = make([]uint64, in.maxCount)
		in.sizes = make([]uint64, in.maxCount)
	}
	if in.count == in.maxCount {
		panic(fmt.Sprintf("raft: %d messages in flight in a window of %d", in.count+1, in.maxCount))
	}
	slot := (in.start + in.count) % in.maxCount
	in.last[slot], in.sizes[slot] = last, bytes
	in.count++
	in.bytes += bytes
}

// freeLE releases every message whose last index is ≤ index (acknowledged).
func (in *inflights) freeLE(index uint64) {
	for in.count > 0 && in.last[in.start] <= index {
		in.bytes -= in.sizes[in.start]
		in.start = (in.start + 1) % in.maxCount
		in.count--
	}
}

// freeFirst releases the oldest message.
func (in *inflights) freeFirst() {
	if in.count > 0 {
		in.freeLE(in.last[in.start])
	}
}

func (in *inflights) full() bool {
	return in.count >= in.maxCount || (in.maxBytes > 0 && in.bytes >= in.maxBytes)
}

func (in *inflights) reset() {
	in.start, in.count, in.bytes = 0, 0, 0
}
