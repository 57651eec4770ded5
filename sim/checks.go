package sim

import (
	"fmt"

	"github.com/havenproject/haven/raft"
)

// checker holds the ground truth of a run and checks every node against it
// as events happen. The properties are those of Figure 3 of the Raft paper,
// plus what a client relies on:
//
//   - Election Safety: at most one leader in a term (leaderElected);
//   - Log Matching: two logs with an entry of the same index and term agree
//     up to it (entryWritten, through the chain hash of storedEntry);
//   - Leader Completeness: a leader's log holds every committed entry
//     (leaderElected);
//   - State Machine Safety: no two nodes apply different entries at an
//     index, and no two snapshots of one index differ (committed, apply,
//     snapshotState);
//   - a node votes at most once per term, across crashes, and sends a vote
//     or an acknowledgment only once what it vouches for is durable
//     (beforeSend, Figure 2: "updated on stable storage before responding");
//   - no acknowledged write is lost (acked, and Leader Completeness for the
//     leaders that follow).
//
// raft.CheckInvariants covers each node's own state (applied ≤ committed,
// terms in order, …) and runs after every event; the node host checks that
// a node's commit index never moves back within an incarnation.
type checker struct {
	w *World
	// leaders maps each term to the node seen leading it.
	leaders map[uint64]raft.NodeID
	// votes maps (voter, term) to the candidate it granted its vote.
	votes map[voteKey]raft.NodeID
	// chains maps (index, term) to the chain hash of the first log seen
	// holding that entry.
	chains map[entryKey]uint64
	// truth is the committed log: truth[i-1] is the entry at index i, as
	// the first node to learn it committed reported it.
	truth []truthEntry
	// digests maps a snapshot index to the digest of the state it holds.
	digests map[uint64]uint64
	// acked maps the index of each acknowledged write to its term.
	ackedAt map[uint64]uint64
	// lastVote is the highest term in which each node granted a vote.
	lastVote map[raft.NodeID]uint64
	// firstCommits holds, by term, when each term's leader first
	// committed an entry of its own.
	firstCommits []firstCommit
	// confs are the committed log's configurations by the index from which
	// each is in force (confAt).
	confs []committedConf

	// Scratch space the per-event checks reuse, so that they allocate
	// nothing.
	peerMatches []raft.PeerMatch
	voterBuf    []raft.NodeID
}

type voteKey struct {
	voter raft.NodeID
	term  uint64
}

type entryKey struct{ index, term uint64 }

type truthEntry struct {
	chain uint64
	entry raft.Entry
	// committedBy bounds the term in which the entry was committed from
	// above: the lowest term of a node seen to hold it committed. (A node
	// learns of a commit from the leader that made it or a later one, so
	// its term is at least the term the entry committed in.)
	committedBy uint64
}

func newChecker(w *World) checker {
	return checker{
		w:        w,
		leaders:  map[uint64]raft.NodeID{},
		votes:    map[voteKey]raft.NodeID{},
		chains:   map[entryKey]uint64{},
		digests:  map[uint64]uint64{},
		ackedAt:  map[uint64]uint64{},
		lastVote: map[raft.NodeID]uint64{},
	}
}

// Mix64 is splitmix64's finalizer: the hash mixer of the simulator's
// digests, shared by the workloads.
func Mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// chainHash extends the hash of a log by one entry.
func chainHash(prev uint64, e *raft.Entry) uint64 {
	h := Mix64(prev ^ e.Term)
	h = Mix64(h ^ e.Index ^ uint64(e.Type)<<56)
	for _, b := range e.Data {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return Mix64(h ^ uint64(len(e.Data)))
}

func (c *checker) chainOf(index, term uint64) (uint64, bool) {
	if index == 0 {
		return 0, true
	}
	ch, ok := c.chains[entryKey{index, term}]
	return ch, ok
}

// entryWritten checks Log Matching for an entry a node writes: any other
// log holding an entry of this index and term holds the same log up to it.
func (c *checker) entryWritten(n *node, e *storedEntry) error {
	k := entryKey{e.Index, e.Term}
	if ch, ok := c.chains[k]; ok {
		if ch != e.chain {
			return c.w.Errorf("Log Matching violated: node %d writes entry %d of term %d after a log that differs from another node's with the same entry", n.id, e.Index, e.Term)
		}
		return nil
	}
	c.chains[k] = e.chain
	return nil
}

// committed records that node n holds entries through upto committed and
// compares them with the committed log. A node's commit index is only ever
// raised by raft once the entries are its log, so they are in its written
// view.
func (c *checker) committed(n *node, upto uint64) error {
	v := &n.disk.written
	from := n.truthChecked
	if si := v.snapIndex(); si > from {
		if si <= uint64(len(c.truth)) && c.truth[si-1].chain != v.snapChain {
			return c.w.Errorf("State Machine Safety violated: node %d holds a snapshot at %d of a different log than the committed one", n.id, si)
		}
		from = si
	}
	if upto > v.lastIndex() {
		return c.w.Errorf("node %d: commit index %d beyond its log (last index %d)", n.id, upto, v.lastIndex())
	}
	for i := from + 1; i <= upto; i++ {
		e := v.entryAt(i)
		switch t := uint64(len(c.truth)); {
		case i <= t:
			if c.truth[i-1].chain != e.chain {
				return c.w.Errorf("State Machine Safety violated: node %d commits entry %d of term %d, but entry %d of term %d was committed there before",
					n.id, i, e.Term, i, c.truth[i-1].entry.Term)
			}
			c.truth[i-1].committedBy = min(c.truth[i-1].committedBy, n.term)
		case i == t+1:
			c.truth = append(c.truth, truthEntry{chain: e.chain, entry: e.Entry, committedBy: n.term})
			if e.Type == raft.EntryConfChange {
				c.confCommitted(&e.Entry)
				c.w.committedConfChange(&e.Entry)
			}
			if o, ok := c.w.workload.(CommittedObserver); ok {
				if err := o.CommittedEntry(c.w, &e.Entry); err != nil {
					return err
				}
			}
		default:
			return c.w.Errorf("node %d commits entry %d, but the committed log known so far ends at %d", n.id, i, t)
		}
	}
	n.truthChecked = max(n.truthChecked, upto)
	return nil
}

// CommittedObserver is a workload that checks each entry as it joins the
// committed log.
type CommittedObserver interface {
	// CommittedEntry checks e, just committed; an error fails the run.
	CommittedEntry(w *World, e *raft.Entry) error
}

// leaderCommit checks the commit rule of §5.4.2 (Figure 8) where a leader
// applies it: "Raft never commits log entries from previous terms by
// counting replicas". A leader's commit index only ever moves to an entry
// of its own term; older entries commit with it, indirectly. (A node cannot
// learn a commit index as a follower and report it first as leader: it must
// hand out a Ready to campaign in between.)
func (c *checker) leaderCommit(n *node, commit, term uint64) error {
	v := &n.disk.written
	if commit <= v.snapIndex() || commit > v.lastIndex() {
		return nil
	}
	if t := v.entryAt(commit).Term; t != term {
		return c.w.Errorf("§5.4.2 violated: node %d, leader of term %d, advances its commit index to %d, an entry of term %d", n.id, term, commit, t)
	}
	return nil
}

// apply checks an entry a node is about to apply.
func (c *checker) apply(n *node, e *raft.Entry) error {
	switch {
	case e.Index != n.applied+1:
		return c.w.Errorf("node %d applies entry %d after %d: out of order", n.id, e.Index, n.applied)
	case e.Index > n.commit:
		return c.w.Errorf("node %d applies entry %d beyond its commit index %d", n.id, e.Index, n.commit)
	case e.Index > uint64(len(c.truth)):
		return c.w.Errorf("node %d applies entry %d, but the committed log ends at %d", n.id, e.Index, len(c.truth))
	}
	want := &c.truth[e.Index-1]
	if ch, ok := n.disk.written.chainAt(e.Index); (ok && ch != want.chain) || e.Term != want.entry.Term {
		return c.w.Errorf("State Machine Safety violated: node %d applies entry %d of term %d, but the committed entry there has term %d",
			n.id, e.Index, e.Term, want.entry.Term)
	}
	return nil
}

// snapshotState checks that every image of the state machine at an index
// is the same.
func (c *checker) snapshotState(n *node, index, digest uint64) error {
	if d, ok := c.digests[index]; ok {
		if d != digest {
			// Every entry a node applies was checked against the committed
			// log (apply), so the logs agree: the state machine is at fault.
			return c.w.Errorf("state machine bug: node %d's state at index %d differs from another node's at the same index, though both applied the same committed log (the state machine is not deterministic, or its snapshot or restore loses state)", n.id, index)
		}
		return nil
	}
	c.digests[index] = digest
	return nil
}

// leaderElected checks a node the moment it is first seen leading a term.
func (c *checker) leaderElected(n *node) error {
	if other, ok := c.leaders[n.term]; ok && other != n.id {
		return c.w.Errorf("Election Safety violated: nodes %d and %d both lead term %d", other, n.id, n.term)
	}
	c.leaders[n.term] = n.id
	// §5.4, Leader Completeness: "if a log entry is committed in a given
	// term, then that entry will be present in the logs of the leaders for
	// all higher-numbered terms". Entries committed in this term or later
	// are not owed: a leader can be seen late — its election won by vote
	// answers that a clogged link held back — after a later term's leader
	// committed entries. Commit terms grow along the log, so the entries
	// owed are a prefix, up to the last one committed in an earlier term.
	owed := uint64(len(c.truth))
	for owed > 0 && c.truth[owed-1].committedBy >= n.term {
		owed--
	}
	v := &n.disk.written
	if owed == 0 || v.snapIndex() > owed {
		return nil
	}
	if ch, ok := v.chainAt(owed); ok && ch == c.truth[owed-1].chain {
		return nil
	}
	missing := owed
	for i := max(v.snapIndex(), 1); i <= owed; i++ {
		if ch, ok := v.chainAt(i); !ok || ch != c.truth[i-1].chain {
			missing = i
			break
		}
	}
	what := "committed entry"
	if _, ok := c.ackedAt[missing]; ok {
		what = "acknowledged write"
	}
	return c.w.Errorf("Leader Completeness violated: node %d leads term %d without the %s at index %d (term %d, committed by term %d); its log ends at %d",
		n.id, n.term, what, missing, c.truth[missing-1].entry.Term, c.truth[missing-1].committedBy, v.lastIndex())
}

// earlySend checks a message a node sends before its Ready's fsync (raft's
// Ready.EarlyMessages): only a leader's appends, heartbeats and snapshots
// may go, at a term it already holds durably with its vote for itself
// (§10.2.1) — anything else (a vote, an acknowledgment, a message of a term
// a crash could take back) depends on what the fsync is still writing.
func (c *checker) earlySend(n *node, m *raft.Message) error {
	d := &n.disk.durable.hard
	switch {
	case m.Type != raft.MsgApp && m.Type != raft.MsgHeartbeat && m.Type != raft.MsgSnap:
		return c.w.Errorf("node %d sends a %v to %d in term %d before its Ready's fsync: only a leader's appends, heartbeats and snapshots may leave early (§10.2.1)", n.id, m.Type, m.To, m.Term)
	case m.Term != d.Term || d.Vote != n.id:
		return c.w.Errorf("node %d sends a %v to %d in term %d before its Ready's fsync, but its durable term is %d with vote %d: a crash could take the term back (§10.2.1 needs the leader's term and vote durable)", n.id, m.Type, m.To, m.Term, d.Term, d.Vote)
	}
	return nil
}

// beforeSend checks a message a node is about to send.
func (c *checker) beforeSend(n *node, m *raft.Message) error {
	switch m.Type {
	case raft.MsgVoteResp:
		if m.Reject {
			return nil
		}
		k := voteKey{n.id, m.Term}
		if prev, ok := c.votes[k]; ok && prev != m.To {
			return c.w.Errorf("node %d votes for %d in term %d after voting for %d in that term (Figure 2: votedFor)", n.id, m.To, m.Term, prev)
		}
		c.votes[k] = m.To
		c.lastVote[n.id] = max(c.lastVote[n.id], m.Term)
		d := &n.disk.durable.hard
		if d.Term < m.Term || (d.Term == m.Term && d.Vote != m.To) {
			return c.w.Errorf("node %d grants its vote in term %d to %d before the vote is durable (durable term %d, vote %d)", n.id, m.Term, m.To, d.Term, d.Vote)
		}
	case raft.MsgAppResp:
		// An acknowledgment generated in a term the node has since left
		// (durably) may name entries that a leader of a later term made it
		// truncate before they reached the disk: that is a late message,
		// not a broken promise, as the node's log moved on with the later
		// term. Within its term, the node must hold what it acknowledges.
		d := &n.disk.durable
		if !m.Reject && m.Index > d.lastIndex() && d.hard.Term <= m.Term {
			return c.w.Errorf("node %d acknowledges entries through %d in term %d before they are durable (durable through %d)", n.id, m.Index, m.Term, d.lastIndex())
		}
	}
	return nil
}

// acked records a write acknowledged to a client: it must be committed, and
// every later leader must hold it.
func (c *checker) acked(index, term uint64) error {
	if index == 0 || index > uint64(len(c.truth)) || c.truth[index-1].entry.Term != term {
		return c.w.Errorf("a write acknowledged at index %d (term %d) is not in the committed log", index, term)
	}
	c.ackedAt[index] = term
	return nil
}

// convergedState checks the end of a settled run: nodes that applied the
// same log hold the same state.
func (c *checker) convergedState() error {
	var first *node
	for _, n := range c.w.nodes {
		if !n.up {
			continue
		}
		if first == nil {
			first = n
			continue
		}
		if n.applied == first.applied && n.app.digest() != first.app.digest() {
			return c.w.Errorf("state machine bug: nodes %d and %d applied the same committed log through %d but hold different states", first.id, n.id, n.applied)
		}
	}
	return nil
}

// describe summarizes each node for a failure report.
func (w *World) describeNodes() string {
	s := ""
	for _, n := range w.nodes {
		switch {
		case !n.up:
			s += fmt.Sprintf("\n  node %d: down", n.id)
		default:
			st := n.app.raftCore().Status()
			s += fmt.Sprintf("\n  node %d: %s term %d lead %d commit %d applied %d last %d snapshot %d paused=%t",
				n.id, st.State, st.Term, st.Lead, st.Commit, st.Applied, st.LastIndex, st.SnapshotIndex, n.paused)
		}
	}
	return s
}
