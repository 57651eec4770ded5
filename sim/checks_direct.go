package sim

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/havenproject/haven/raft"
)

// Direct checks: what Raft promises on the way, not only the outcomes a
// client could see. A bug that is wrong but lucky — a lease that a quorum no
// longer backs, a match index the follower does not hold — passes every
// outcome check until the luck runs out; these fail at the first event that
// breaks the promise.
//
//   - Match: each leader's view of a follower's match index lies inside the
//     log they share (§5.3: matchIndex is "index of highest log entry known
//     to be replicated on server").
//   - Vouched answer: a follower's answer to an append acknowledges entries
//     only through the last one the append showed it, or through its commit
//     index (§5.3: entries past it may be a deposed leader's).
//   - Vouched commit: a leader's heartbeat never tells a follower a commit
//     index beyond what that follower acknowledged holding, and a follower's
//     commit index never exceeds what its leader vouched for (§5.3).
//   - Lease: at every lease read, a quorum of voters is still bound not to
//     vote for anyone else (§6.4.1, §4.2.3).
//   - Reads after a new leader: no read is answered by a leader of term T for
//     a request that arrived after a leader of a higher term had committed
//     an entry of its own.
//   - PreVote (§9.6): a pre-vote changes nobody's real term.
//   - CheckQuorum (§6.2): an isolated leader steps down within two election
//     timeouts of its own clock.
//   - Read quorum after arrival (§6.4): a read a leader answers by ReadIndex
//     was preceded by answers to it, in its term, from a quorum of its
//     voters, each sent after the read arrived.
//   - Vote promise (§4.2.3): with CheckQuorum, a voter grants no vote to
//     another candidate (a transfer's aside) within ElectionTicks of its
//     own ticks of hearing from a leader.
//   - Configuration changes (§4.1): a leader appends one only once an entry
//     of its own term is committed, and while no other is uncommitted.
//   - Stale terms (Figure 2, §5.1): a message of an earlier term than its
//     receiver's changes neither its term, nor its vote, role or leader: a
//     stale request is refused, a stale answer dropped.
//   - Fresh read index: an answer to a read index a node asked covers what
//     was committed when it asked (not one meant for an earlier incarnation).
//   - A linearizable read shows a state at or after every entry committed
//     before it was invoked (kv: sim/kv; sessions: CheckReadCovers).
//   - A client write is committed once (kvCommitted, sessions truth).
//   - Removal notices (§4.2.3, sim/membership.go): a server that is a
//     member neither of a node's latest configuration nor of its committed
//     one, and asks it for a vote or forwards it a read, a write or a
//     keepalive, is told so (MsgRemoved) in the node's next Ready; every
//     notice is true, and taken exactly when it holds.

// directState is what the direct checks keep per node (its incarnation).
type directState struct {
	// voteBefore is the vote the node held, in voteTermBefore, before it
	// stepped the vote request being checked (votePromise).
	voteBefore     raft.NodeID
	voteTermBefore uint64
	// heardFrom[slot] is when a message of term heardTerm[slot] from that
	// slot's node was last stepped here (the leader's CheckQuorum view).
	heardFrom []time.Duration
	heardTerm []uint64
	// ackTerm, ackIndex[slot]: the highest index the slot's node
	// acknowledged holding to this node in term ackTerm (MsgAppResp).
	ackTerm, ackIndex []uint64
	// leaderHeard*, the last AppendEntries, heartbeat or snapshot this node
	// stepped from a leader: who, in which term, when.
	leaderHeardFrom raft.NodeID
	leaderHeardTerm uint64
	leaderHeardAt   time.Duration
	// vouchIndex is the highest commit index a leader told this node it may
	// commit; vouchTerm the term of the leader that told it.
	vouchTerm, vouchIndex uint64
	// ledTerm is the last term this node was seen leading, even between
	// two of its Readys.
	ledTerm uint64
	// commitTerm is the term of the Ready in which the node's commit index
	// last rose.
	commitTerm uint64
	// maxTermHeard is the highest term of a real (not pre-vote) message
	// stepped here.
	maxTermHeard uint64
	startedAt    time.Duration
	leaderSince  time.Duration
	transferAt   time.Duration
	confAt       time.Duration
	checkQuorum  bool
	// readAsked maps a read context (8 bytes: the kv service's) to the
	// request's arrival.
	readAsked map[uint64]readAsk
	// voters is the node's configuration as of its last Ready that could
	// change it (confIndex: the newest configuration entry seen in its
	// log).
	voters    []raft.NodeID
	confIndex uint64
	// prevVoters is the configuration before the last change seen: a
	// decision made just before a change took effect counts by it.
	prevVoters []raft.NodeID
	// ticks counts this incarnation's ticks; leaderHeardTicks is its count
	// when it last heard from a leader (leaderHeardAt).
	ticks, leaderHeardTicks uint64
	// answered is, for each node and term, when that node last sent this
	// one an answer to its appends or heartbeats (MsgAppResp,
	// MsgHeartbeatResp) of that term: what shows that it was still in that
	// term then.
	answered map[answerKey]time.Duration
	// forwarded maps a read a follower forwarded here while this node led
	// (the follower and its context) to when it arrived and in which term.
	forwarded map[forwardedRead]readArrival
	// asked maps the context of each read index request this incarnation
	// sent a leader (MsgReadIndex) and has had no answer to yet to when it
	// sent it and how far the log was committed then.
	asked map[string]readSent
	// toldAt is the highest index at which a member told this incarnation
	// it is no member (MsgRemoved, from toldBy): while no configuration in
	// force on it is later, it must not campaign (removedQuiet).
	toldAt uint64
	toldBy raft.NodeID
	// toldCandidateTerm is the term in which this node was a candidate
	// when a notice of removal made it a follower (preVoteTerm).
	toldCandidateTerm uint64
	// owed are the removal notices this node must send in its next
	// Ready (owesNotice).
	owed []owedNotice
	// shown lists, in the order this incarnation stepped them, the
	// appends and snapshots it owes an answer (MsgAppResp), from
	// shownHead on (answerVouched).
	shown     []shownAppend
	shownHead int
}

// shownAppend is an append or snapshot a node stepped and must answer:
// whom, in which term, and the last index it showed (a snapshot: its
// index). A stale one (of an earlier term than the node's) is answered
// with the node's term only, and vouches for nothing.
type shownAppend struct {
	to               raft.NodeID
	kind             raft.MessageType
	term, prev, last uint64
	stale            bool
}

type readSent struct {
	at        time.Duration
	committed uint64
}

type answerKey struct {
	from raft.NodeID
	term uint64
}

type forwardedRead struct {
	from raft.NodeID
	ctx  string
}

type readArrival struct {
	at   time.Duration
	term uint64
}

// observeConf keeps the node's voters up to date as a Ready changes its
// log: a configuration entry, a snapshot, or a truncation that may drop a
// configuration entry (§4.1: the latest one in the log is in force). It
// reports whether the Ready was one of those.
func (n *node) observeConf(rd *hostReady) (refresh bool) {
	d := &n.direct
	refresh = rd.snapshot != nil || (len(rd.entries) > 0 && rd.entries[0].Index <= d.confIndex)
	for i := range rd.entries {
		if rd.entries[i].Type == raft.EntryConfChange {
			d.confIndex = rd.entries[i].Index
			refresh = true
		}
	}
	if refresh {
		d.prevVoters = d.voters
		d.voters = n.app.raftCore().Status().Conf.Voters
	}
	return refresh
}

func readKey(ctx []byte) (uint64, bool) {
	if len(ctx) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(ctx), true
}

type readAsk struct {
	at    time.Duration
	event uint64
	// remote is set once a leader's answer (MsgReadIndexResp) to it came
	// in: the read was forwarded, and checked where the leader answered.
	remote bool
}

func (d *directState) reset(n int, now time.Duration, checkQuorum bool) {
	*d = directState{
		heardFrom: make([]time.Duration, n), heardTerm: make([]uint64, n),
		ackTerm: make([]uint64, n), ackIndex: make([]uint64, n),
		startedAt: now, checkQuorum: checkQuorum, readAsked: d.readAsked,
		answered: d.answered, forwarded: d.forwarded, asked: d.asked,
		owed: d.owed[:0], shown: d.shown[:0],
	}
	if d.answered == nil {
		d.answered = map[answerKey]time.Duration{}
	}
	clear(d.answered)
	if d.readAsked == nil {
		d.readAsked = map[uint64]readAsk{}
	}
	clear(d.readAsked)
	if d.forwarded == nil {
		d.forwarded = map[forwardedRead]readArrival{}
	}
	clear(d.forwarded)
	if d.asked == nil {
		d.asked = map[string]readSent{}
	}
	clear(d.asked)
}

// stepped records a raft message node n has just stepped.
func (c *checker) stepped(n *node, m *raft.Message) {
	w := c.w
	d := &n.direct
	s := w.slotOf(m.From)
	// The node's term right now (its Readys may lag behind, waiting for
	// an fsync).
	r := n.app.raftCore()
	term := r.Term()
	leading := r.SoftState().State == raft.StateLeader
	if leading {
		if term > d.ledTerm {
			clear(d.forwarded) // reads forwarded in an earlier term were dropped
		}
		d.ledTerm = max(d.ledTerm, term)
	}
	if m.Term == term && (m.Type == raft.MsgAppResp || m.Type == raft.MsgHeartbeatResp) {
		// What tells a leader that a voter is with it (§6.2).
		d.heardFrom[s], d.heardTerm[s] = w.now, m.Term
	}
	switch m.Type {
	case raft.MsgPreVote:
	case raft.MsgPreVoteResp:
		if m.Reject {
			d.maxTermHeard = max(d.maxTermHeard, m.Term)
		}
	default:
		d.maxTermHeard = max(d.maxTermHeard, m.Term)
	}
	switch m.Type {
	case raft.MsgReadIndex:
		k := forwardedRead{m.From, string(m.Context)}
		if _, seen := d.forwarded[k]; leading && !seen {
			// The first arrival counts: a repeat that arrives later
			// gets the same answer (the check is then only weaker).
			d.forwarded[k] = readArrival{at: w.now, term: term}
		}
	case raft.MsgReadIndexResp:
		if key, ok := readKey(m.Context); ok {
			if ask, ok := d.readAsked[key]; ok {
				ask.remote = true
				d.readAsked[key] = ask
			}
		}
	case raft.MsgAppResp:
		// Only an answer of this node's own term acknowledges entries; a
		// higher term's answer only tells it of that term.
		if !m.Reject && m.Index > 0 && m.Term == term {
			if d.ackTerm[s] != m.Term {
				d.ackTerm[s], d.ackIndex[s] = m.Term, 0
			}
			d.ackIndex[s] = max(d.ackIndex[s], m.Index)
		}
	case raft.MsgApp, raft.MsgHeartbeat, raft.MsgSnap:
		if m.Term < term {
			if m.Type != raft.MsgSnap {
				// Refused as stale, with the node's term in an answer.
				d.shown = append(d.shown, shownAppend{to: m.From, term: term, stale: true})
			}
			return
		}
		switch {
		case m.Type == raft.MsgApp:
			d.shown = append(d.shown, shownAppend{to: m.From, term: m.Term, kind: m.Type,
				prev: m.Index, last: m.Index + uint64(len(m.Entries))})
		case m.Type == raft.MsgSnap && m.Snapshot != nil:
			d.shown = append(d.shown, shownAppend{to: m.From, term: m.Term, kind: m.Type,
				prev: m.Snapshot.Meta.Index, last: m.Snapshot.Meta.Index})
		}
		d.leaderHeardFrom, d.leaderHeardTerm, d.leaderHeardAt = m.From, m.Term, w.now
		d.leaderHeardTicks = d.ticks
		vouch := m.Commit
		switch m.Type {
		case raft.MsgApp:
			vouch = min(m.Commit, m.Index+uint64(len(m.Entries)))
		case raft.MsgSnap:
			vouch = m.Snapshot.Meta.Index
		}
		// A commit index is the cluster's, whatever the term that told
		// it: a Ready can report a commit learned in one term together
		// with a later term the node moved to since.
		if vouch > d.vouchIndex {
			d.vouchTerm, d.vouchIndex = m.Term, vouch
		}
	}
}

// heartbeatCommit checks a heartbeat a leader is about to send: the commit
// index it carries must be one the follower acknowledged holding (§5.3: the
// follower commits up to it without any check of its own).
func (c *checker) heartbeatCommit(n *node, m *raft.Message) error {
	if m.Type != raft.MsgHeartbeat || m.Commit == 0 {
		return nil
	}
	d := &n.direct
	s := c.w.slotOf(m.To)
	acked := uint64(0)
	if d.ackTerm[s] == m.Term {
		acked = d.ackIndex[s]
	}
	if m.Commit > acked {
		return c.w.Errorf("vouched commit violated: node %d, leader of term %d, tells node %d to commit through %d in a heartbeat, but node %d acknowledged only through %d in that term",
			n.id, m.Term, m.To, m.Commit, m.To, acked)
	}
	return nil
}

// followerCommit checks a follower's new commit index against what the
// leader of its term vouched for.
func (c *checker) followerCommit(n *node, commit, term uint64) error {
	d := &n.direct
	led := max(n.leaderTerm, d.ledTerm)
	prev := d.commitTerm
	d.commitTerm = term
	if led > 0 && led >= min(prev, d.vouchTerm) {
		// It led since its commit index last moved, or since a leader last
		// vouched to it (perhaps only between two Readys): it may have
		// counted replicas itself, and the leader's commit rule applies
		// to that instead.
		return nil
	}
	if commit > d.vouchIndex {
		return c.w.Errorf("vouched commit violated: node %d, a follower in term %d, commits through %d, but its leaders vouched only for %d (last in term %d)",
			n.id, term, commit, d.vouchIndex, d.vouchTerm)
	}
	return nil
}

// preVoteTerm checks that a node's term rose only for a real reason: a
// message of that term, or its own campaign (§9.6: a pre-candidate does not
// raise its term, and nor does a pre-vote it receives), perhaps ended by a
// notice of removal before a Ready showed it. Bootstrapping a new cluster
// starts it at term 1.
func (c *checker) preVoteTerm(n *node, rd *hostReady, from, to uint64) error {
	if to <= from || to <= n.direct.maxTermHeard || (from == 0 && to == 1) || rd.soft.State == raft.StateCandidate || rd.soft.State == raft.StateLeader ||
		to == n.direct.toldCandidateTerm {
		return nil
	}
	return c.w.Errorf("PreVote violated: node %d's term rose from %d to %d (state %s) although it neither campaigned nor heard a real message of that term (highest heard: %d)",
		n.id, from, to, rd.soft.State, n.direct.maxTermHeard)
}

// matchInSharedLog checks the leader's view of each follower: the entry at
// its match index is in the follower's durable log, the same entry as in
// the leader's (§5.3).
func (c *checker) matchInSharedLog(n *node) error {
	w := c.w
	lv := &n.disk.written
	r := n.app.raftCore()
	term := r.Term()
	c.peerMatches = r.AppendPeerMatches(c.peerMatches[:0])
	for _, p := range c.peerMatches {
		if p.ID == n.id || p.Match == 0 {
			continue
		}
		f := w.nodes[w.slotOf(p.ID)]
		if f.id != p.ID || !f.up || f.term != term {
			continue // gone, or moved on to a later term: the view is old
		}
		fv := &f.disk.durable
		if p.Match <= fv.snapIndex() {
			continue
		}
		lch, ok := lv.chainAt(p.Match)
		if !ok {
			continue // compacted away on the leader
		}
		fch, ok := fv.chainAt(p.Match)
		if !ok || fch != lch {
			return w.Errorf("match index violated: node %d, leader of term %d, believes node %d holds its log through %d, but node %d's durable log %s",
				n.id, term, p.ID, p.Match, p.ID, describeAt(fv, p.Match, ok))
		}
	}
	return nil
}

func describeAt(v *logView, index uint64, has bool) string {
	if !has {
		return "ends at " + uitoa(v.lastIndex())
	}
	return "holds another entry there (term " + uitoa(v.entryAt(index).Term) + ")"
}

// leaseRead checks a read a leader served from its lease (§6.4.1): at this
// moment a quorum of its configuration's voters must still be bound not to
// vote for another candidate — each heard from this leader in this term
// within its promise (an election timeout of its own ticks, less the first
// tick, which may come at once), or is down, or restarted within one, and
// none has granted a vote in a later term.
func (c *checker) leaseRead(n *node, index uint64) error {
	w := c.w
	c.voterBuf = n.app.raftCore().AppendVoters(c.voterBuf[:0])
	voters := c.voterBuf
	bound := 0
	var unbound []raft.NodeID
	for _, id := range voters {
		if id == n.id {
			bound++
			continue
		}
		v := w.nodes[w.slotOf(id)]
		if v.id != id || c.votedAfter(id, n.term) {
			unbound = append(unbound, id)
			continue
		}
		if v.up && v.app.raftCore().Term() > n.term {
			// In a later term already; free if it voted there (perhaps
			// for itself), even before a Ready says so.
			if v.app.raftCore().Vote() != raft.None {
				unbound = append(unbound, id)
				continue
			}
		}
		promise := time.Duration(ElectionTicks-1) * v.tickEvery
		d := &v.direct
		switch {
		case !v.up:
			bound++ // a server that is down votes for no one
		case d.leaderHeardFrom == n.id && d.leaderHeardTerm == n.term && w.now < d.leaderHeardAt+promise:
			bound++
		case w.params.LeaseReads && w.now < d.startedAt+promise:
			bound++ // the restart guard (§6.4.1)
		default:
			unbound = append(unbound, id)
		}
	}
	if bound < len(voters)/2+1 {
		return w.Errorf("lease violated: node %d, leader of term %d, serves a lease read at index %d while only %d of its %d voters are bound not to vote for another (free: %v)",
			n.id, n.term, index, bound, len(voters), unbound)
	}
	return nil
}

// votedAfter reports whether voter granted a vote in a term after term.
func (c *checker) votedAfter(voter raft.NodeID, term uint64) bool {
	return c.lastVote[voter] > term
}

// readAfterNewLeader checks that a leader of term does not answer a read
// that arrived after a leader of a higher term had committed an entry of
// its own: the answer could miss that entry.
func (c *checker) readAfterNewLeader(n *node, term uint64, arrived time.Duration, index uint64) error {
	for i := len(c.firstCommits) - 1; i >= 0 && c.firstCommits[i].term > term; i-- {
		fc := c.firstCommits[i]
		if fc.at < arrived {
			return c.w.Errorf("stale read: node %d answers, in term %d at read index %d, a read that arrived at %v, after node %d, leader of term %d, had committed index %d at %v",
				n.id, term, index, arrived, fc.node, fc.term, fc.index, fc.at)
		}
	}
	return nil
}

type firstCommit struct {
	term, index uint64
	node        raft.NodeID
	at          time.Duration
}

// leaderCommitted records the first commit of a leader's term.
func (c *checker) leaderCommitted(n *node, term, index uint64) {
	k := len(c.firstCommits)
	if k > 0 && c.firstCommits[k-1].term >= term {
		if c.firstCommits[k-1].term == term {
			return
		}
		// A term seen late: keep the list sorted by term.
		i, _ := slices.BinarySearchFunc(c.firstCommits, term, func(f firstCommit, t uint64) int { return cmpU64(f.term, t) })
		if i < k && c.firstCommits[i].term == term {
			return
		}
		c.firstCommits = slices.Insert(c.firstCommits, i, firstCommit{term: term, index: index, node: n.id, at: c.w.now})
		return
	}
	c.firstCommits = append(c.firstCommits, firstCommit{term: term, index: index, node: n.id, at: c.w.now})
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// isolatedLeader checks, at each tick of a leader that runs CheckQuorum,
// that it has heard from a quorum of its voters within two election
// timeouts of its own clock (§6.2: it checks once per election timeout and
// steps down when a quorum was silent for a whole one), counting from when
// it began to lead, from the last transfer it was asked for (which
// restarts the timer) and from its last configuration change (which
// changes the voters it must hear from).
func (c *checker) isolatedLeader(n *node) error {
	d := &n.direct
	r := n.app.raftCore()
	if !d.checkQuorum || r.SoftState().State != raft.StateLeader || n.paused {
		return nil
	}
	w := c.w
	term := r.Term()
	bound := time.Duration(2*ElectionTicks+2) * n.tickEvery
	since := max(d.leaderSince, d.transferAt, d.confAt, d.startedAt)
	if w.now-since <= bound {
		return nil
	}
	voters := d.voters
	heard := 0
	for _, id := range voters {
		s := w.slotOf(id)
		if id == n.id || (d.heardTerm[s] == term && w.now-d.heardFrom[s] <= bound) {
			heard++
		}
	}
	if heard >= len(voters)/2+1 {
		return nil
	}
	return w.Errorf("CheckQuorum violated: node %d still leads term %d, but has heard from only %d of its %d voters %v in the last %v (two election timeouts of its clock)",
		n.id, term, heard, len(voters), voters, bound)
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// quorumHolds counts the voters whose durable log holds the entry the
// chain ch names at index. A wiped voter counts with the log it held when
// it was wiped: it stays down for good (raft refuses to start it), so what
// it acknowledged before is as safe as a crashed voter's that never comes
// back — no candidate can win without a majority of the others.
func (c *checker) quorumHolds(voters []raft.NodeID, index, ch uint64) (int, []raft.NodeID) {
	w := c.w
	held := 0
	var missing []raft.NodeID
	for _, id := range voters {
		v := w.nodes[w.slotOf(id)]
		if v.id == id {
			dv := &v.disk.durable
			if v.wiped && !v.up {
				dv = &v.lostLog
			}
			if got, ok := dv.chainAt(index); (ok && got == ch) || index < dv.snapIndex() {
				held++
				continue
			}
		}
		missing = append(missing, id)
	}
	return held, missing
}

// commitQuorum checks a leader's new commit index: a quorum of its voters
// holds the entry durably (§5.3: "A log entry is committed once the leader
// that created the entry has replicated it on a majority of the servers").
func (c *checker) commitQuorum(n *node, commit uint64) error {
	ch, ok := n.disk.written.chainAt(commit)
	if !ok {
		return nil
	}
	d := &n.direct
	held, missing := c.quorumHolds(d.voters, commit, ch)
	if held >= len(d.voters)/2+1 {
		return nil
	}
	if d.prevVoters != nil {
		if h, _ := c.quorumHolds(d.prevVoters, commit, ch); h >= len(d.prevVoters)/2+1 {
			return nil
		}
	}
	return c.w.Errorf("commit quorum violated: node %d, leader of term %d, commits index %d, which only %d of its %d voters %v hold durably (missing: %v)",
		n.id, n.term, commit, held, len(d.voters), d.voters, missing)
}

// electionQuorum checks a new leader: a quorum of its configuration's
// voters granted it their vote in its term (§5.2).
func (c *checker) electionQuorum(n *node) error {
	d := &n.direct
	count := func(voters []raft.NodeID) (int, []raft.NodeID) {
		got := 0
		var granted []raft.NodeID
		for _, id := range voters {
			if id == n.id || c.votes[voteKey{id, n.term}] == n.id {
				got++
				granted = append(granted, id)
			}
		}
		return got, granted
	}
	got, granted := count(d.voters)
	if got >= len(d.voters)/2+1 {
		return nil
	}
	if d.prevVoters != nil {
		if g, _ := count(d.prevVoters); g >= len(d.prevVoters)/2+1 {
			return nil
		}
	}
	return c.w.Errorf("election quorum violated: node %d leads term %d with the votes of only %v of its voters %v", n.id, n.term, granted, d.voters)
}

// campaignTransfer is the context raft puts on the vote requests of an
// election a leadership transfer started (raft/election.go), which voters
// grant even within their promise (§3.10).
const campaignTransfer = "transfer"

// sentDirect looks at a raft message node n is about to send. An answer to
// appends or heartbeats is noted on its receiver: it shows that its sender
// was still in its term when it sent it. A read index answer to a follower
// is checked (readQuorumAfter) against when the follower's request arrived.
func (c *checker) sentDirect(n *node, m *raft.Message) error {
	w := c.w
	switch m.Type {
	case raft.MsgAppResp, raft.MsgHeartbeatResp:
		if m.Type == raft.MsgAppResp {
			if err := c.answerVouched(n, m); err != nil {
				return err
			}
		}
		to := w.nodes[w.slotOf(m.To)]
		if to.id != m.To || !to.up {
			return nil
		}
		to.direct.answered[answerKey{m.From, m.Term}] = w.now
	case raft.MsgRemoved:
		return c.removalTrue(n, m)
	case raft.MsgReadIndex:
		if _, seen := n.direct.asked[string(m.Context)]; !seen {
			n.direct.asked[string(m.Context)] = readSent{at: w.now, committed: w.CommittedIndex()}
		}
	case raft.MsgReadIndexResp:
		d := &n.direct
		k := forwardedRead{m.To, string(m.Context)}
		arr, ok := d.forwarded[k]
		if !ok || arr.term != m.Term {
			return nil
		}
		delete(d.forwarded, k)
		if w.params.LeaseReads {
			return nil // perhaps served from the lease: leaseRead's to check
		}
		return c.readQuorumAfter(n, m.Term, arr.at, m.Index, m.To)
	}
	return nil
}

// answerVouched checks an answer node n is about to send to the append or
// snapshot it stepped first of those still unanswered: a success may
// acknowledge entries only through the last one that append showed it, or
// through n's commit index. The leader takes the acknowledged index as the
// follower's match (Figure 2: "index of highest log entry known to be
// replicated on server"), and entries past what the append showed may be a
// deposed leader's (§5.3, Figure 7) that the leader's log does not hold;
// committed entries are in every later leader's log (§5.4). An answer
// naming the follower's last index instead is wrong even while that index
// happens to match: matchInSharedLog sees the harm only once it is done.
// raft answers each append and snapshot it steps, and each stale append or
// heartbeat, with one MsgAppResp, in order; an answer that does not match
// the oldest one noted (a node whose answers were lost in a crash starts
// anew) drops what was noted, unchecked.
func (c *checker) answerVouched(n *node, m *raft.Message) error {
	d := &n.direct
	if d.shownHead == len(d.shown) {
		return nil
	}
	s := d.shown[d.shownHead]
	if d.shownHead++; d.shownHead == len(d.shown) {
		d.shown, d.shownHead = d.shown[:0], 0
	}
	if s.to != m.To || s.term != m.Term {
		d.shown, d.shownHead = d.shown[:0], 0
		return nil
	}
	if s.stale || m.Reject || m.Index <= max(s.last, n.commit) {
		return nil
	}
	shown := fmt.Sprintf("entries %d through %d", s.prev+1, s.last)
	if s.kind == raft.MsgSnap {
		shown = fmt.Sprintf("a snapshot through %d", s.last)
	} else if s.last == s.prev {
		shown = fmt.Sprintf("no entries, after index %d", s.prev)
	}
	return c.w.Errorf("answer vouches for more than it was shown: node %d answers node %d's %s of term %d (%s) acknowledging entries through %d, past both that and its commit index %d",
		n.id, m.To, s.kind, s.term, shown, m.Index, n.commit)
}

// readQuorumAfter checks a read that node n, leader of term, answers by
// ReadIndex at index, for a request that arrived at arrived (from: the
// follower that forwarded it, or n itself): a quorum of the voters in force
// must each have sent n an answer in term after the read arrived, n
// counting itself if it is a voter (§6.4, step 3: "it issues a new round
// of heartbeats and waits for their acknowledgments from a majority").
// That is exactly what makes the read index current: a leader of a later
// term that had committed anything before the read arrived was elected
// by a quorum, so one of those voters would have voted in that later term
// before the read arrived, and could not have answered in this term after
// it. Runs with lease reads are left out, since the host cannot tell which
// reads the lease answered (leaseRead checks those), and so are the
// service core's own reads on the leader, whose contexts the host never
// sees; reads forwarded by followers count from when the leader stepped
// their MsgReadIndex.
func (c *checker) readQuorumAfter(n *node, term uint64, arrived time.Duration, index uint64, from raft.NodeID) error {
	d := &n.direct
	count := func(voters []raft.NodeID) (int, []raft.NodeID) {
		got := 0
		var missing []raft.NodeID
		for _, id := range voters {
			if at, ok := d.answered[answerKey{id, term}]; id == n.id || (ok && at > arrived) {
				got++
				continue
			}
			missing = append(missing, id)
		}
		return got, missing
	}
	got, missing := count(d.voters)
	if got >= len(d.voters)/2+1 {
		return nil
	}
	if d.prevVoters != nil {
		if g, _ := count(d.prevVoters); g >= len(d.prevVoters)/2+1 {
			return nil
		}
	}
	return c.w.Errorf("read quorum violated: node %d, leader of term %d, answers a read of node %d at read index %d that arrived at %v, but only %d of its %d voters %v answered it in term %d since (silent since: %v)",
		n.id, term, from, index, arrived, got, len(d.voters), d.voters, term, missing)
}

// confProposed checks a configuration change leader n has just appended at
// index: one change at a time (§4.1: no other after the commit index), and
// only once an entry of the leader's own term is committed — otherwise a
// change of an earlier term it does not know of could still commit beside
// its own (Ongaro, "bug in single-server membership changes", raft-dev 2015).
func (c *checker) confProposed(n *node, index uint64) error {
	r := n.app.raftCore()
	st := r.Status()
	if st.Commit > st.SnapshotIndex {
		if e := r.Entries(st.Commit, st.Commit+1); len(e) == 1 && e[0].Term != st.Term {
			return c.w.Errorf("configuration change too early: node %d, leader of term %d, appended one at index %d while its commit index %d holds an entry of term %d, none of its own",
				n.id, st.Term, index, st.Commit, e[0].Term)
		}
	}
	for _, e := range r.Entries(max(st.Commit, st.SnapshotIndex)+1, index) {
		if e.Type == raft.EntryConfChange {
			return c.w.Errorf("configuration changes overlap: node %d, leader of term %d, appended one at index %d while the one at index %d (term %d) is not committed (commit index %d)",
				n.id, st.Term, index, e.Index, e.Term, st.Commit)
		}
	}
	return nil
}

// staleBefore is what a message of an earlier term must leave as it was.
type staleBefore struct {
	term uint64
	vote raft.NodeID
	soft raft.SoftState
}

func beforeStale(r *raft.Raft) staleBefore {
	return staleBefore{r.Term(), r.Vote(), r.SoftState()}
}

// staleInert checks that node n, which was in term b.term when it stepped
// m of an earlier term, left its term, vote, role and leader as they were
// (Figure 2: "If a server receives a request with a stale term number, it
// rejects the request", §5.1; stale answers are dropped). A TimeoutNow from
// the leader of an earlier term that starts an election, say, would take
// votes a lease of this term counts on.
func (c *checker) staleInert(n *node, m *raft.Message, b staleBefore) error {
	r := n.app.raftCore()
	if a := beforeStale(r); a != b {
		return c.w.Errorf("stale message honored: node %d, in term %d (vote %d, %s, leader %d), stepped a %s of term %d from node %d and is now in term %d (vote %d, %s, leader %d)",
			n.id, b.term, b.vote, b.soft.State, b.soft.Lead, m.Type, m.Term, m.From, a.term, a.vote, a.soft.State, a.soft.Lead)
	}
	return nil
}

// steppedDirect runs the direct checks of a message node n has just
// stepped.
func (c *checker) steppedDirect(n *node, m *raft.Message) error {
	switch m.Type {
	case raft.MsgVote:
		c.owesNotice(n, m.From, m.Type.String())
		return c.votePromise(n, m)
	case raft.MsgPreVote, raft.MsgReadIndex, raft.MsgMemberQuery:
		c.owesNotice(n, m.From, m.Type.String())
	case raft.MsgReadIndexResp:
		return c.readAnswerFresh(n, m)
	}
	return nil
}

// votePromise checks a vote request node n has just stepped: if n granted
// it (its vote is now the candidate, in the request's term), it must not
// have been bound by its promise (§4.2.3, the lease's ground in §6.4.1):
// with CheckQuorum, a voter that heard from a leader grants no vote to
// another candidate — one a transfer's TimeoutNow started aside (§3.10) —
// until it has ticked ElectionTicks times since. Its first tick may come
// at once, so that is at least ElectionTicks−1 of its tick periods: the
// promise the lease check counts on. With lease reads, a node that has just
// started is bound the same way for its first ElectionTicks ticks.
func (c *checker) votePromise(n *node, m *raft.Message) error {
	d := &n.direct
	if m.Type != raft.MsgVote || !d.checkQuorum || string(m.Context) == campaignTransfer {
		return nil
	}
	r := n.app.raftCore()
	if r.Term() != m.Term || r.SoftState().State != raft.StateFollower {
		return nil
	}
	if st := r.Status(); st.Vote != m.From {
		return nil
	}
	if d.voteTermBefore == m.Term && d.voteBefore == m.From {
		// The vote it had already cast (and persisted) in this term, for
		// this candidate, granted again to a repeated request: no new
		// vote, so no promise broken (a restarted voter may meet a late
		// copy of the request it granted before its crash).
		return nil
	}
	switch {
	case d.leaderHeardFrom != raft.None && d.leaderHeardFrom != m.From && d.ticks-d.leaderHeardTicks < ElectionTicks:
		return c.w.Errorf("vote promise violated: node %d votes for %d in term %d %d ticks after it heard from node %d, leader of term %d, at %v (it promised not to for %d ticks)",
			n.id, m.From, m.Term, d.ticks-d.leaderHeardTicks, d.leaderHeardFrom, d.leaderHeardTerm, d.leaderHeardAt, ElectionTicks)
	case c.w.params.LeaseReads && d.ticks < ElectionTicks:
		return c.w.Errorf("vote promise violated: node %d votes for %d in term %d %d ticks after it started at %v (with lease reads it promised not to for %d ticks)",
			n.id, m.From, m.Term, d.ticks, d.startedAt, ElectionTicks)
	}
	return nil
}

// readAnswerFresh checks a read index answer node n has just stepped: if
// this incarnation of n asked a read index with its context and had no
// answer yet, the answer must cover everything committed when it asked
// (§6.4: the read index is the leader's commit index after the request
// arrived, which holds every entry committed anywhere before). An answer
// meant for another request with the same context — one of an earlier
// incarnation, replayed late across a restart — would serve the read at an
// old index: contexts must be unique across a node's incarnations, not
// only within one.
func (c *checker) readAnswerFresh(n *node, m *raft.Message) error {
	d := &n.direct
	ask, ok := d.asked[string(m.Context)]
	if !ok {
		return nil
	}
	delete(d.asked, string(m.Context))
	if m.Index >= ask.committed {
		return nil
	}
	return c.w.Errorf("stale read index: node %d (incarnation %d) gets read index %d from node %d (term %d) for its read %q, which it asked at %v, when the log was already committed through %d",
		n.id, n.incarnation, m.Index, m.From, m.Term, m.Context, ask.at, ask.committed)
}

// CheckReadCovers checks the answer to a linearizable read of the
// sessions workload: the state it shows — node's, applied through
// applied when it served the read — holds every entry any node knew to be
// committed when the client invoked the read (committed). The kv
// workload's clients check the same of their Gets' read index (sim/kv).
// Unlike the history's linearizability, this sees a stale read even when
// the list read did not change in between.
func (w *World) CheckReadCovers(node raft.NodeID, client int, path string, invoked time.Duration, committed, applied uint64) error {
	if applied >= committed {
		return nil
	}
	return w.Errorf("stale read: node %d answers client %d's linearizable read of %s, invoked at %v when the log was committed through %d, from its state applied only through %d",
		node, client, path, invoked, committed, applied)
}
