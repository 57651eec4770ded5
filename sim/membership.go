package sim

import (
	"slices"
	"time"

	"github.com/havenproject/haven/raft"
)

// Membership and leadership transfer under load (thesis §4.1, §4.2.1,
// §3.10). While faults run, the world asks whoever leads to change the
// cluster now and then, the way an operator would, through raft's API (the
// service core's become operation does the same calls):
//
//   - add a node as a learner (§4.2.1), then promote it to voter, caught up
//     or not (but not one whose disk is lost to the run);
//   - remove a follower, a learner, or the leader itself;
//   - add a removed node back under a new id, with an empty disk;
//   - transfer leadership to a random voter, caught up or lagging.
//
// A node slot keeps its place in the network, its disk and its clients; its
// id changes when it comes back: slot i holds ids i+1, i+1+N, i+1+2N, … so
// that the slot of an id is arithmetic. A node is shut down for good
// (retired) once its removal is in the committed log, as a host would stop a
// server the cluster no longer has; it may come back later under its next
// id.

// slotOf is the node slot of an id.
func (w *World) slotOf(id raft.NodeID) int { return (int(id) - 1) % len(w.nodes) }

// minVoters is the fewest voters the world shrinks the cluster to: one, so
// that a leader of two can remove itself and leave a single other voter
// (issue 7, item 1).
func (w *World) minVoters() int { return 1 }

func (w *World) scheduleMembership() {
	if len(w.nodes) < 2 {
		return
	}
	if e := w.params.MembershipEvery; e > 0 {
		w.queue.push(event{at: w.now + w.rng.Exp(e), kind: evMembership})
	}
	if e := w.params.TransferEvery; e > 0 {
		w.queue.push(event{at: w.now + w.rng.Exp(e), kind: evTransfer})
	}
}

// quorumSurvives says whether the voters left once id is removed, less
// those whose disk is lost to the run (disk_host.go), are still a quorum of
// them: the world never makes a configuration that cannot elect a leader
// again, which no operator would do on purpose either.
func (w *World) quorumSurvives(conf raft.ConfState, id raft.NodeID) bool {
	left, healthy := 0, 0
	for _, v := range conf.Voters {
		if v == id {
			continue
		}
		left++
		if n := w.nodes[w.slotOf(v)]; n.id != v || !n.diskLost() {
			healthy++
		}
	}
	return left > 0 && 2*healthy > left
}

// promotable are the learners the membership fault may promote. A learner
// whose disk is lost to the run is not one: it would be a voter that never
// acknowledges again, and with few voters left the change itself could
// never commit (kv swarm seed 20652: voters n3 and a dead n9, every later
// change refused as one in progress).
func (w *World) promotable(learners []raft.NodeID) []raft.NodeID {
	var out []raft.NodeID
	for _, id := range learners {
		if n := w.nodes[w.slotOf(id)]; n.id != id || !n.diskLost() {
			out = append(out, id)
		}
	}
	return out
}

// changeMembership proposes one membership change on the current leader.
func (w *World) changeMembership() {
	if w.phase != phaseFaults {
		return
	}
	defer w.queue.push(event{at: w.now + w.rng.Exp(w.params.MembershipEvery), kind: evMembership})
	l := w.currentLeader()
	if l == nil {
		return
	}
	conf := l.app.raftCore().Status().Conf
	var retired []*node
	for _, n := range w.nodes {
		if n.retired {
			retired = append(retired, n)
		}
	}
	var choices []func() (string, raft.ConfChange, *node)
	if len(retired) > 0 && len(conf.Voters)+len(conf.Learners) < len(w.nodes) {
		choices = append(choices, func() (string, raft.ConfChange, *node) {
			n := retired[w.rng.Intn(len(retired))]
			id := n.id + raft.NodeID(len(w.nodes))
			return "add learner", raft.ConfChange{Type: raft.AddLearner, Node: id, Context: []byte(memberAddress(id))}, n
		})
	}
	if promotable := w.promotable(conf.Learners); len(promotable) > 0 {
		choices = append(choices, func() (string, raft.ConfChange, *node) {
			return "promote", raft.ConfChange{Type: raft.AddVoter, Node: promotable[w.rng.Intn(len(promotable))]}, nil
		})
	}
	if len(conf.Learners) > 0 {
		choices = append(choices, func() (string, raft.ConfChange, *node) {
			return "remove learner", raft.ConfChange{Type: raft.RemoveNode, Node: conf.Learners[w.rng.Intn(len(conf.Learners))]}, nil
		})
	}
	var removable []raft.NodeID
	for _, v := range conf.Voters {
		if w.quorumSurvives(conf, v) {
			removable = append(removable, v)
		}
	}
	if len(conf.Voters) > w.minVoters() && len(removable) > 0 {
		choices = append(choices, func() (string, raft.ConfChange, *node) {
			return "remove voter", raft.ConfChange{Type: raft.RemoveNode, Node: removable[w.rng.Intn(len(removable))]}, nil
		})
		if slices.Contains(removable, l.id) {
			choices = append(choices, func() (string, raft.ConfChange, *node) {
				return "remove the leader", raft.ConfChange{Type: raft.RemoveNode, Node: l.id}, nil
			})
		}
	}
	if len(choices) == 0 {
		return
	}
	what, cc, joining := choices[w.rng.Intn(len(choices))]()
	index, _, err := l.app.raftCore().ProposeConfChange(cc)
	if err != nil {
		w.tracef("membership: n%d refuses to %s n%d: %v", l.id, what, cc.Node, err)
		return
	}
	if err := w.check.confProposed(l, index); err != nil {
		w.fail(err)
		return
	}
	w.stats.count(countMembership)
	l.direct.confAt = w.now
	w.tracef("membership: n%d proposes to %s n%d at index %d (voters %v, learners %v)", l.id, what, cc.Node, index, conf.Voters, conf.Learners)
	if joining != nil {
		// The new server starts empty and learns everything from the
		// leader (§4.2.1: it joins as a learner first).
		joining.join(cc.Node)
	}
	l.drive()
	if cc.Type == raft.RemoveNode && cc.Node == l.id && w.rng.Chance(0.5) {
		// The worst moment to lose the leader: its removal goes out to
		// the others, but their acknowledgements never come back; then it
		// is cut off entirely. The others, in the configuration without
		// it, elect a leader and commit while it still leads its own
		// (§4.2.2; issue 7, item 1).
		w.isolate(l, true)
		w.queue.push(event{at: w.now + 20*time.Millisecond, kind: evIsolate, node: uint8(l.idx), gen: l.incarnation})
	}
}

// isolate cuts node n off: from hearing anyone (deaf), or from everyone,
// for a fault's typical length.
func (w *World) isolate(n *node, deaf bool) {
	if w.phase != phaseFaults || !n.up {
		return
	}
	length := max(10*time.Millisecond, w.rng.Exp(max(w.params.FaultLength, 500*time.Millisecond)))
	gen := w.net.setPartition(func(a, b int) bool { return b == n.idx || (!deaf && a == n.idx) })
	what := "isolate"
	if deaf {
		what, length = "deafen", 20*time.Millisecond
	}
	w.tracef("fault: %s n%d, which just proposed its own removal, for %v", what, n.id, length)
	w.queue.push(event{at: w.now + length, kind: evHealPartition, aux: uint64(gen)})
}

// transferLeadership asks the current leader to hand over to a random
// voter, caught up or not (§3.10).
func (w *World) transferLeadership() {
	if w.phase != phaseFaults {
		return
	}
	defer w.queue.push(event{at: w.now + w.rng.Exp(w.params.TransferEvery), kind: evTransfer})
	l := w.currentLeader()
	if l == nil {
		return
	}
	voters := l.app.raftCore().Status().Conf.Voters
	voters = slices.DeleteFunc(slices.Clone(voters), func(id raft.NodeID) bool { return id == l.id })
	if len(voters) == 0 {
		return
	}
	target := voters[w.rng.Intn(len(voters))]
	if err := l.app.raftCore().TransferLeadership(target); err != nil {
		w.tracef("transfer: n%d refuses to hand over to n%d: %v", l.id, target, err)
		return
	}
	w.stats.count(countTransfer)
	l.direct.transferAt = w.now
	w.tracef("transfer: n%d hands leadership over to n%d", l.id, target)
	l.drive()
}

// committedConfChange is called as a configuration change joins the
// committed log: a removed node shuts down once it knows (it has committed
// the change itself), as a host stops a server when it applies its own
// removal. Until then it may go on serving as it believes it should.
func (w *World) committedConfChange(e *raft.Entry) {
	cc, err := raft.UnmarshalConfChange(e.Data)
	if err != nil || cc.Type != raft.RemoveNode {
		return
	}
	n := w.nodes[w.slotOf(cc.Node)]
	if n.id != cc.Node || n.retired {
		return
	}
	n.removedAt = e.Index
	if w.phase != phaseFaults {
		// Healed: nobody will tell it (see retireRemoved).
		w.queue.push(event{at: w.now, kind: evRetire, node: uint8(n.idx), aux: uint64(n.id)})
		return
	}
	n.checkRemoved()
}

// checkRemoved retires the node once it has committed its own removal.
func (n *node) checkRemoved() {
	if n.removedAt > 0 && n.up && n.commit >= n.removedAt {
		// Not now: the node may be in the middle of its own Ready.
		n.w.queue.push(event{at: n.w.now, kind: evRetire, node: uint8(n.idx), aux: uint64(n.id)})
	}
}

// retireRemoved, at healing, shuts down every node whose removal is
// committed but which never learned it and cannot be told (canBeTold): no
// leader will tell it, and it is no member the cluster owes a log
// (§4.2.3). The others will ask for votes and be told (removal notices,
// below).
func (w *World) retireRemoved() {
	for _, n := range w.nodes {
		if n.removedAt > 0 && !n.retired && !n.told && !w.canBeTold(n) {
			w.retire(n, n.id)
		}
	}
}

// retire shuts down a node whose removal is committed; it never restarts
// under this id.
func (w *World) retire(n *node, id raft.NodeID) {
	if n.id != id || n.retired {
		return
	}
	w.tracef("n%d is removed from the cluster and shuts down", n.id)
	if n.up {
		n.up, n.paused, n.syncing, n.ticking = false, false, false, false
		n.app = nil
		n.ready = hostReady{}
		n.dropParked()
		if cw, ok := w.workload.(CoreWorkload); ok {
			cw.NodeCrashed(n.id)
		}
	}
	n.retired = true
	n.incarnation++ // drops its pending restart, ticks and fsyncs
}

// join brings a retired slot back as a new, empty server with id: a new
// disk (the old server's WAL, and what it left unsynced, go with the old
// server) and an empty mirror of it.
func (n *node) join(id raft.NodeID) {
	w := n.w
	n.id = id
	n.retired, n.removedAt, n.told = false, 0, false
	n.fs, n.wal, n.disk = nil, nil, disk{}
	n.diskFailed, n.misdirected, n.wiped, n.lostLog = false, 0, false, logView{}
	w.tracef("n%d joins with an empty disk", id)
	if err := n.start(); err != nil {
		w.Failf("node %d: start: %v", id, err)
	}
}

// isMember reports whether n is in the configuration the leader l knows.
func isMember(conf raft.ConfState, id raft.NodeID) bool {
	return slices.Contains(conf.Voters, id) || slices.Contains(conf.Learners, id)
}

// members is the configuration of the current leader (every node when
// there is none).
func (w *World) members() raft.ConfState {
	if l := w.currentLeader(); l != nil {
		return l.app.raftCore().Status().Conf
	}
	var cs raft.ConfState
	for _, n := range w.nodes {
		if !n.retired {
			cs.Voters = append(cs.Voters, n.id)
		}
	}
	return cs
}

// Removal notices (raft's MsgRemoved, §4.2.3). A follower removed by a
// change the leader appended stops receiving entries, so it may never
// commit its removal, nor even hold it: it campaigns in the configuration
// it knows. The servers that committed the change tell it so when it asks
// for votes, forwards a client's read, write or keepalive, or, a learner
// that hears no leader, asks whether it is still a member (MsgMemberQuery:
// a learner never campaigns), and raft keeps it from campaigning while no
// configuration in force on it is later (a change in its log or a snapshot
// past the notice). havend keeps such a node running, quiet, until its
// operator stops it; the world does the same for noticeRetireAfter, then
// retires it. The checks:
//
//   - a notice is true: the committed configuration at its index has not
//     the node it is sent to (removalTrue);
//   - a notice is sent when owed: a node that steps such a request from a
//     server that is no member of its latest configuration nor of its
//     committed one tells it in its next Ready (owesNotice, noticesSent);
//   - raft takes a notice exactly when it holds: when no configuration in
//     force on the node is later than its index (toldRemoved);
//   - a told node stays quiet: it does not campaign while that holds
//     (removedQuiet, after each of its events);
//   - every removed node that can be told is told: at healing only the
//     nodes that cannot ask (down, no member of the configuration they
//     know, or with no voter up to answer) are retired without it
//     (retireRemoved), and the run settles only once the others are told
//     (settled, unawareRemoved).

// noticeRetireAfter is how long a told node stays up, quiet, before the
// world retires it.
const noticeRetireAfter = 3 * ElectionTimeout

// toldRemoved is called after node n stepped a MsgRemoved. The newest
// notice this incarnation stepped (a leader takes none) holds if the
// configuration in force on n is no later than its index, and raft must
// take it then, and only then.
func (w *World) toldRemoved(n *node, m *raft.Message) {
	r := n.app.raftCore()
	if r.SoftState().State == raft.StateLeader {
		return
	}
	d := &n.direct
	if m.Index > d.toldAt {
		d.toldAt, d.toldBy = m.Index, m.From
	}
	at := confInForceIndex(r)
	holds := d.toldAt > 0 && at <= d.toldAt
	if took := r.RemovedAt() > 0; took != holds || (took && r.RemovedAt() != d.toldAt) {
		what := "ignored"
		if took {
			what = "taken though stale"
		}
		w.fail(w.Errorf("removal notice %s: node %d stepped node %d's notice that it is no member as of index %d (the newest it had is at %d), with its configuration in force from index %d (raft's RemovedAt %d)",
			what, n.id, m.From, m.Index, d.toldAt, at, r.RemovedAt()))
		return
	}
	if n.removedAt > 0 && !n.told && r.RemovedAt() > 0 {
		n.told = true
		w.stats.count(countToldRemoved)
		w.tracef("n%d is told by n%d that it is no member as of index %d", n.id, m.From, m.Index)
		w.queue.push(event{at: w.now + noticeRetireAfter, kind: evRetire, node: uint8(n.idx), aux: uint64(n.id)})
	}
}

// confInForceIndex is the index the configuration in force on r comes
// from: its newest configuration entry, else its snapshot's index.
func confInForceIndex(r *raft.Raft) uint64 {
	st := r.Status()
	at := st.SnapshotIndex
	for _, e := range r.Entries(st.SnapshotIndex+1, st.LastIndex+1) {
		if e.Type == raft.EntryConfChange {
			at = e.Index
		}
	}
	return at
}

// owesNotice is called after node n stepped a request of server from
// (asked names it) of the kinds a removed server still sends: a vote or
// pre-vote request, a read index a learner forwards (it never campaigns),
// or the service's forwarded writes and keepalives. If from is a member
// neither of n's latest configuration nor of the one the committed log
// leaves at n's commit index, n must tell it so in its next Ready
// (noticesSent), whatever its role and the request's term (§4.2.3: else a
// removed learner, or a voter removed while cut off, waits for ever for a
// leader that no longer talks to it).
func (c *checker) owesNotice(n *node, from raft.NodeID, asked string) {
	r := n.app.raftCore()
	if r.IsMember(from) {
		return // the common case, before the copy Status makes
	}
	st := r.Status()
	if st.Commit == 0 || st.Commit > uint64(len(c.truth)) {
		return
	}
	if conf := c.confAt(st.Commit); slices.Contains(conf.voters, from) || slices.Contains(conf.learners, from) {
		return
	}
	n.direct.owed = append(n.direct.owed, owedNotice{to: from, index: st.Commit, asked: asked})
}

// owedNotice is a removal notice a node owes the server to (owesNotice).
type owedNotice struct {
	to    raft.NodeID
	index uint64
	asked string
}

// noticesSent checks the Ready node n is about to carry out against the
// notices it owes: each must be among its messages, at the commit index
// it had when the request came.
func (c *checker) noticesSent(n *node, rd *hostReady) error {
	d := &n.direct
	for _, o := range d.owed {
		sent := slices.ContainsFunc(rd.raftMsgs, func(m raft.Message) bool {
			return m.Type == raft.MsgRemoved && m.To == o.to && m.Index == o.index
		})
		if !sent {
			conf := c.confAt(o.index)
			return c.w.Errorf("removal notice not sent: node %d stepped a %s from node %d, which is a member neither of its latest configuration nor of the one committed at its commit index %d (voters %v, learners %v: the change at %d), but its next Ready does not tell it (MsgRemoved at index %d)",
				n.id, o.asked, o.to, o.index, conf.voters, conf.learners, conf.index, o.index)
		}
	}
	d.owed = d.owed[:0]
	return nil
}

// removalTrue checks a MsgRemoved node n is about to send: its recipient
// must be no member of the configuration the committed log leaves at the
// notice's index.
func (c *checker) removalTrue(n *node, m *raft.Message) error {
	if m.Index > uint64(len(c.truth)) {
		return c.w.Errorf("removal notice beyond the committed log: node %d tells node %d it is no member as of index %d, but only %d entries are committed",
			n.id, m.To, m.Index, len(c.truth))
	}
	conf := c.confAt(m.Index)
	if slices.Contains(conf.voters, m.To) || slices.Contains(conf.learners, m.To) {
		return c.w.Errorf("false removal notice: node %d tells node %d it is no member as of index %d, but the configuration committed there (the change at %d) has voters %v and learners %v",
			n.id, m.To, m.Index, conf.index, conf.voters, conf.learners)
	}
	return nil
}

// removedQuiet checks node n after an event of its own: once told, it
// does not campaign (a vote request it made before may still leave after
// its fsync) while no configuration in force on it is later than the
// notice (a configuration entry after it, or a snapshot).
func (c *checker) removedQuiet(n *node) error {
	d := &n.direct
	if d.toldAt == 0 {
		return nil
	}
	r := n.app.raftCore()
	if st := r.SoftState().State; st == raft.StateCandidate || st == raft.StatePreCandidate {
		if at := confInForceIndex(r); at <= d.toldAt {
			return c.w.Errorf("removed node campaigns: node %d is a %s in term %d after node %d told it that it is no member as of index %d, and its configuration in force is from index %d",
				n.id, st, r.Term(), d.toldBy, d.toldAt, at)
		}
	}
	return nil
}

// canBeTold says whether removed node n, up at healing, will ask a voter
// that can tell it: it is a member of the configuration it knows (a voter
// asks for votes, a learner whether it is still a member), and another
// voter of that configuration is a member, up, with its own disk.
func (w *World) canBeTold(n *node) bool {
	if !n.up || n.diskFailed {
		return false
	}
	st := n.app.raftCore().Status()
	if !isMember(st.Conf, n.id) {
		return false
	}
	conf := w.members()
	for _, v := range st.Conf.Voters {
		if o := w.nodes[w.slotOf(v)]; v != n.id && o.id == v && !o.retired && !o.diskLost() && isMember(conf, v) {
			return true
		}
	}
	return false
}

// unawareRemoved returns a removed node, still up, that will be told and
// has not been yet, or nil.
func (w *World) unawareRemoved() *node {
	for _, n := range w.nodes {
		if n.removedAt > 0 && !n.retired && !n.told {
			return n
		}
	}
	return nil
}
