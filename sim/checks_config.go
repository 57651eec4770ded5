package sim

import (
	"fmt"
	"slices"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// Checks of what a node keeps of its configuration and of the bounds it
// puts on its own work (issue 7, items 10 and 11):
//
//   - Addresses: every member has an address (memberAddress: the bootstrap
//     gives the founders theirs, AddLearner a joining node its own), and
//     the configuration in force on every node — raft's Status().Conf and,
//     on the service core, session's Status, which discover and the
//     answers' leader field come from — holds exactly the members'
//     addresses, checked when a node starts from its disk, installs a
//     snapshot, or appends a configuration entry.
//   - Bounds (Params.Backpressure, which runs every node with
//     BackpressureBounds): a leader that appended anything since it was
//     elected holds at most MaxUncommittedEntries entries beyond its
//     commit index; a Ready of more than one committed entry holds at most
//     MaxCommittedBytesPerReady bytes of entry data; a service core has at
//     most MaxPendingWrites writes (connects, closes, pushes, updates,
//     deletes) and MaxPendingReads reads (linearizable and waiting stale
//     reads, watches, resumes) taken and not yet answered at each Ready,
//     counting only those whose connection is still open; and a Ready
//     hands a connection more than MaxDeliveriesPerReady events only when
//     they are all of one entry. What a bound refuses is answered
//     Unavailable (or the connection closed), which the clients and the
//     end checks already take as a write whose outcome the log decides, so
//     nothing refused is lost or applied twice unseen.
//   - Configuration in force (§4.1): after a Ready that installs a
//     snapshot, appends a configuration entry or overwrites entries back
//     to one, a node's configuration is the committed log's at its commit
//     index changed by the configuration entries of its log after it.
//   - Snapshot configuration (thesis §5.1: "the latest configuration as of
//     the last included index"): a snapshot holds the configuration in
//     force at its index — the voters and learners the committed log's
//     changes up to that index leave — not one appended after it, which a
//     leader change may still undo.

// memberAddress is the address of node id: opaque to raft, kept in its
// configuration.
func memberAddress(id raft.NodeID) string { return fmt.Sprintf("sim:n%d", id) }

// BackpressureBounds are the bounds of Params.Backpressure: small enough
// that a partition or a slow disk reaches them within seconds. The host
// sets raft's (Uncommitted, CommittedBytes); a CoreWorkload sets the
// service core's in its CoreConfig, and the host checks both.
var BackpressureBounds = struct {
	// Uncommitted and CommittedBytes bound raft's uncommitted entries and
	// the bytes of committed entries in a Ready.
	Uncommitted    int
	CommittedBytes uint64
	// PendingWrites, PendingReads and Deliveries are the service core's
	// MaxPendingWrites, MaxPendingReads and MaxDeliveriesPerReady;
	// RequestTimeoutMs its RequestTimeoutMs.
	PendingWrites, PendingReads, Deliveries int
	RequestTimeoutMs                        int64
}{Uncommitted: 8, CommittedBytes: 256, PendingWrites: 3, PendingReads: 3, Deliveries: 2, RequestTimeoutMs: 1000}

// configObserved runs the address check when a Ready changed node n's
// configuration: a snapshot installed or a configuration entry appended.
func (c *checker) configObserved(n *node, rd *hostReady) error {
	why := ""
	switch {
	case rd.snapshot != nil:
		why = fmt.Sprintf("after installing the snapshot at %d", rd.snapshot.Meta.Index)
	default:
		for i := range rd.entries {
			if rd.entries[i].Type == raft.EntryConfChange {
				why = fmt.Sprintf("after appending the configuration entry at %d", rd.entries[i].Index)
			}
		}
	}
	if why == "" {
		return nil
	}
	return c.memberAddresses(n, why)
}

// memberAddresses checks that node n's configuration in force holds an
// address for every member, the right one, and none for a non-member.
func (c *checker) memberAddresses(n *node, why string) error {
	st := n.app.raftCore().Status()
	conf := st.Conf
	members := append(slices.Clone(conf.Voters), conf.Learners...)
	for _, id := range members {
		if got, want := conf.Addresses[id], memberAddress(id); got != want {
			return c.w.Errorf("address lost: node %d %s has address %q for member n%d in its configuration (voters %v, learners %v, addresses %v), not %q",
				n.id, why, got, id, conf.Voters, conf.Learners, conf.Addresses, want)
		}
	}
	for id := range conf.Addresses {
		if !slices.Contains(members, id) {
			return c.w.Errorf("address of a non-member: node %d %s keeps address %q for n%d, which its configuration (voters %v, learners %v) does not hold",
				n.id, why, conf.Addresses[id], id, conf.Voters, conf.Learners)
		}
	}
	cr, ok := n.app.(*coreReplica)
	if !ok {
		return nil
	}
	ss := cr.core.Status()
	if len(ss.Members) != len(members) {
		return c.w.Errorf("session status: node %d %s lists %d members, its configuration holds %d (voters %v, learners %v)",
			n.id, why, len(ss.Members), len(members), conf.Voters, conf.Learners)
	}
	for _, m := range ss.Members {
		if m.Address != memberAddress(m.ID) {
			return c.w.Errorf("address lost: node %d %s answers status (discover) with address %q for member n%d, not %q",
				n.id, why, m.Address, m.ID, memberAddress(m.ID))
		}
	}
	if st.Lead != raft.None && slices.Contains(members, st.Lead) && ss.LeaderAddress != memberAddress(st.Lead) {
		return c.w.Errorf("address lost: node %d %s answers status with leader n%d at %q, not %q",
			n.id, why, st.Lead, ss.LeaderAddress, memberAddress(st.Lead))
	}
	return nil
}

// boundsState is what the raft bound checks keep per node incarnation.
type boundsState struct {
	// leaderTerm is the term the node was last seen leading, leaderBase
	// its last index then: entries beyond it are the leader's own
	// proposals, which MaxUncommittedEntries BackpressureBounds.
	leaderTerm, leaderBase uint64
}

// raftBounds checks a Ready of node n against raft's BackpressureBounds.
func (c *checker) raftBounds(n *node, rd *hostReady) error {
	committed := rd.raft.CommittedEntries
	if _, ok := n.app.(*coreReplica); ok {
		committed = rd.core.CommittedEntries
	}
	if len(committed) > 1 {
		var size uint64
		for i := range committed {
			size += uint64(len(committed[i].Data))
		}
		if size > BackpressureBounds.CommittedBytes {
			return c.w.Errorf("unbounded Ready: node %d hands out %d committed entries (%d to %d) of %d bytes of data in one Ready, over MaxCommittedBytesPerReady = %d",
				n.id, len(committed), committed[0].Index, committed[len(committed)-1].Index, size, BackpressureBounds.CommittedBytes)
		}
	}
	if rd.soft.State != raft.StateLeader {
		return nil
	}
	st := n.app.raftCore().Status()
	b := &n.bounds
	if b.leaderTerm != st.Term {
		b.leaderTerm, b.leaderBase = st.Term, st.LastIndex
		return nil
	}
	if st.LastIndex > b.leaderBase && st.LastIndex-st.Commit > uint64(BackpressureBounds.Uncommitted) {
		return c.w.Errorf("unbounded log: leader %d of term %d holds entries %d to %d uncommitted (commit %d), more than MaxUncommittedEntries = %d, having proposed since it was elected at last index %d",
			n.id, st.Term, st.Commit+1, st.LastIndex, st.Commit, BackpressureBounds.Uncommitted, b.leaderBase)
	}
	return nil
}

// pendingRequests is what the host knows of the requests a service core
// holds: those it took and has not answered, on connections still open.
// The core may hold more (what it took on a connection since closed), never
// fewer, so a count over a bound is the core's.
type pendingRequests struct {
	writes, reads map[reqKey]bool
}

type reqKey struct {
	conn session.ConnID
	id   uint64
}

// took records a request the core was handed.
func (p *pendingRequests) took(r *session.Request) {
	if p.writes == nil {
		p.writes, p.reads = map[reqKey]bool{}, map[reqKey]bool{}
	}
	k := reqKey{r.Conn, r.ID}
	switch r.Op {
	case session.OpCreate, session.OpUpdate, session.OpDelete, session.OpClose:
		p.writes[k] = true
	case session.OpConnect:
		if r.Token == "" {
			p.writes[k] = true
		} else {
			p.reads[k] = true // a resume waits for a read index
		}
	case session.OpRead, session.OpWatch:
		p.reads[k] = true
	}
}

// closed forgets the requests of a connection the core no longer has.
func (p *pendingRequests) closed(conn session.ConnID) {
	for _, m := range []map[reqKey]bool{p.writes, p.reads} {
		for k := range m {
			if k.conn == conn {
				delete(m, k)
			}
		}
	}
}

// check takes a Ready's answers off the pending requests and checks the
// service core's bounds on node n.
func (p *pendingRequests) check(n *node, rd *session.Ready) error {
	w := n.w
	for i := range rd.Replies {
		k := reqKey{rd.Replies[i].Conn, rd.Replies[i].ID}
		delete(p.writes, k)
		delete(p.reads, k)
	}
	for _, conn := range rd.Disconnect {
		p.closed(conn)
	}
	if len(p.writes) > BackpressureBounds.PendingWrites {
		return w.Errorf("unbounded writes: node %d holds %d writes taken and not answered, over MaxPendingWrites = %d (a write over the bound must be answered Unavailable at once)",
			n.id, len(p.writes), BackpressureBounds.PendingWrites)
	}
	if len(p.reads) > BackpressureBounds.PendingReads {
		return w.Errorf("unbounded reads: node %d holds %d reads, watches and resumes taken and not answered, over MaxPendingReads = %d (one over the bound must be answered Unavailable at once)",
			n.id, len(p.reads), BackpressureBounds.PendingReads)
	}
	type sent struct {
		events         int
		first          uint64
		severalEntries bool
	}
	per := map[session.ConnID]*sent{}
	for i := range rd.Deliveries {
		d := &rd.Deliveries[i]
		s := per[d.Conn]
		if s == nil {
			s = &sent{first: d.Event.Version}
			per[d.Conn] = s
		}
		s.events++
		if d.Event.Version != s.first {
			s.severalEntries = true
		}
		if s.severalEntries && s.events > BackpressureBounds.Deliveries {
			return w.Errorf("unbounded deliveries: node %d hands connection %d %d events of more than one entry in one Ready, over MaxDeliveriesPerReady = %d (it must close the connection after the entries it got whole)",
				n.id, d.Conn, s.events, BackpressureBounds.Deliveries)
		}
	}
	return nil
}

// confInForce checks that node n uses the latest configuration in its log
// (§4.1: "a server always uses the latest configuration in its log,
// regardless of whether that entry is committed"): the one the committed
// log leaves at its commit index, changed by the configuration entries of
// its log after it — none of an entry it has since overwritten.
func (c *checker) confInForce(n *node, why string) error {
	r := n.app.raftCore()
	st := r.Status()
	base := min(st.Commit, uint64(len(c.truth)))
	if base < st.SnapshotIndex {
		return nil // its log is known only from a snapshot not yet in the truth
	}
	want := *c.confAt(base)
	for _, e := range r.Entries(base+1, st.LastIndex+1) {
		if e.Type == raft.EntryConfChange {
			want = foldConf(want, &e)
		}
	}
	voters, learners := slices.Sorted(slices.Values(st.Conf.Voters)), slices.Sorted(slices.Values(st.Conf.Learners))
	if !slices.Equal(voters, want.voters) || !slices.Equal(learners, want.learners) {
		return c.w.Errorf("configuration not the log's latest: node %d %s uses voters %v and learners %v, but its log (commit %d, last index %d) leaves voters %v and learners %v (the change at %d)",
			n.id, why, voters, learners, st.Commit, st.LastIndex, want.voters, want.learners, want.index)
	}
	return nil
}

// committedConf is the configuration the committed log's changes leave
// from an index on.
type committedConf struct {
	index            uint64
	voters, learners []raft.NodeID
}

// confCommitted folds a configuration change that just joined the
// committed log into the configurations by index (raft's single-server
// steps: a learner added, a learner promoted, a member removed).
func (c *checker) confCommitted(e *raft.Entry) {
	if next := foldConf(*c.confAt(e.Index), e); next.index == e.Index {
		c.confs = append(c.confs, next)
	}
}

// foldConf returns the configuration after the change in entry e (index
// and lists unchanged if it changes nothing, or does not decode).
func foldConf(last committedConf, e *raft.Entry) committedConf {
	cc, err := raft.UnmarshalConfChange(e.Data)
	if err != nil {
		return last // the apply check reports what the log holds
	}
	if cc.Type == raft.AddLearner && slices.Contains(last.voters, cc.Node) {
		return last // no demotion: nothing changes
	}
	next := committedConf{index: e.Index,
		voters:   slices.DeleteFunc(slices.Clone(last.voters), func(id raft.NodeID) bool { return id == cc.Node }),
		learners: slices.DeleteFunc(slices.Clone(last.learners), func(id raft.NodeID) bool { return id == cc.Node })}
	switch cc.Type {
	case raft.AddLearner:
		next.learners = append(next.learners, cc.Node)
	case raft.AddVoter:
		next.voters = append(next.voters, cc.Node)
	}
	slices.Sort(next.voters)
	slices.Sort(next.learners)
	return next
}

// confAt returns the configuration in force at index, by the committed
// log (index must be committed). The log starts with none: a new
// cluster's first entries add its founding voters one by one.
func (c *checker) confAt(index uint64) *committedConf {
	if len(c.confs) == 0 {
		c.confs = append(c.confs, committedConf{})
	}
	i, _ := slices.BinarySearchFunc(c.confs, index+1, func(cf committedConf, t uint64) int { return cmpU64(cf.index, t) })
	return &c.confs[i-1]
}

// snapshotConf checks the configuration of a snapshot node n took at
// index against the committed log's.
func (c *checker) snapshotConf(n *node, meta *raft.SnapshotMeta) error {
	if meta.Index > uint64(len(c.truth)) {
		return nil // not known committed yet: the snapshot checks report it
	}
	want := c.confAt(meta.Index)
	voters, learners := slices.Sorted(slices.Values(meta.Conf.Voters)), slices.Sorted(slices.Values(meta.Conf.Learners))
	if !slices.Equal(voters, want.voters) || !slices.Equal(learners, want.learners) {
		return c.w.Errorf("snapshot configuration wrong: node %d's snapshot at index %d holds voters %v and learners %v, but the committed log's changes up to %d leave voters %v and learners %v (the change at %d)",
			n.id, meta.Index, voters, learners, meta.Index, want.voters, want.learners, want.index)
	}
	return nil
}
