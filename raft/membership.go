package raft

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// configuration is the cluster membership as the log describes it. Thesis
// §4.1: "a server always uses the latest configuration in its log,
// regardless of whether the entry is committed". So it tracks the base
// configuration (from the snapshot) and every configuration entry after it,
// and can fall back when a conflicting suffix of the log is truncated.
type configuration struct {
	voters    []NodeID // sorted
	learners  []NodeID // sorted
	addresses map[NodeID]string
	// lastIndex is the index of the entry that made the current
	// configuration (the snapshot index for the base one, 0 at bootstrap).
	lastIndex uint64

	base      ConfState
	baseIndex uint64      // the snapshot index base is in force at
	history   []confPoint // configurations from entries after the snapshot
}

type confPoint struct {
	index uint64
	state ConfState
}

// newConfiguration starts from the configuration of a snapshot at index
// (0 at bootstrap).
func newConfiguration(cs ConfState, index uint64) configuration {
	c := configuration{base: cloneConfState(cs), baseIndex: index}
	c.set(c.base, index)
	return c
}

func cloneConfState(cs ConfState) ConfState {
	v, l := slices.Clone(cs.Voters), slices.Clone(cs.Learners)
	slices.Sort(v)
	slices.Sort(l)
	return ConfState{Voters: v, Learners: l, Addresses: cloneAddresses(cs.Addresses)}
}

// cloneAddresses copies an address map; empty becomes nil, so equal
// configurations compare equal.
func cloneAddresses(a map[NodeID]string) map[NodeID]string {
	if len(a) == 0 {
		return nil
	}
	return maps.Clone(a)
}

func (c *configuration) set(cs ConfState, index uint64) {
	c.voters, c.learners, c.addresses, c.lastIndex = cs.Voters, cs.Learners, cs.Addresses, index
}

func (c *configuration) state() ConfState {
	return ConfState{Voters: slices.Clone(c.voters), Learners: slices.Clone(c.learners), Addresses: cloneAddresses(c.addresses)}
}

func (c *configuration) isVoter(id NodeID) bool { return slices.Contains(c.voters, id) }

func (c *configuration) isLearner(id NodeID) bool { return slices.Contains(c.learners, id) }

// members lists voters and learners, sorted.
func (c *configuration) members() []NodeID {
	all := append(slices.Clone(c.voters), c.learners...)
	slices.Sort(all)
	return all
}

// observe takes a configuration entry into force as soon as it is in the log
// (§4.1). Other entries are ignored; so are undecodable changes, which the
// leader never appends.
func (c *configuration) observe(e *Entry) {
	if e.Type != EntryConfChange {
		return
	}
	cc, err := UnmarshalConfChange(e.Data)
	if err != nil {
		return
	}
	next := applyConfChange(c.state(), cc)
	c.history = append(c.history, confPoint{index: e.Index, state: next})
	c.set(next, e.Index)
}

// truncateAndObserve is called after the log changed from index from on:
// configurations from removed entries are forgotten (the server falls back
// to the latest one still in its log) and those of new entries observed.
func (c *configuration) truncateAndObserve(from uint64, entries []Entry, snapIndex uint64) {
	keep := 0
	for keep < len(c.history) && c.history[keep].index < from {
		keep++
	}
	c.history = c.history[:keep]
	if keep > 0 {
		c.set(c.history[keep-1].state, c.history[keep-1].index)
	} else {
		c.set(c.base, c.baseIndex)
	}
	for i := from - snapIndex - 1; i < uint64(len(entries)); i++ {
		c.observe(&entries[i])
	}
}

// stateAt returns the configuration in force at index (for a snapshot).
func (c *configuration) stateAt(index uint64) ConfState {
	cs := c.base
	for _, p := range c.history {
		if p.index <= index {
			cs = p.state
		}
	}
	return cloneConfState(cs)
}

// compact folds configurations at or below index into the base.
func (c *configuration) compact(index uint64) {
	c.base, c.baseIndex = c.stateAt(index), index
	n := 0
	for n < len(c.history) && c.history[n].index <= index {
		n++
	}
	c.history = append([]confPoint(nil), c.history[n:]...)
}

// applyConfChange returns the configuration after one single-server step.
func applyConfChange(cs ConfState, cc ConfChange) ConfState {
	voters := slices.DeleteFunc(slices.Clone(cs.Voters), func(id NodeID) bool { return id == cc.Node })
	learners := slices.DeleteFunc(slices.Clone(cs.Learners), func(id NodeID) bool { return id == cc.Node })
	addresses := maps.Clone(cs.Addresses)
	if addresses == nil {
		addresses = map[NodeID]string{}
	}
	switch cc.Type {
	case AddLearner:
		if slices.Contains(cs.Voters, cc.Node) {
			return cloneConfState(cs) // demotion is not a step we take
		}
		learners = append(learners, cc.Node)
	case AddVoter:
		voters = append(voters, cc.Node)
	case RemoveNode:
		delete(addresses, cc.Node)
	}
	if cc.Type != RemoveNode && len(cc.Context) > 0 {
		addresses[cc.Node] = string(cc.Context)
	}
	return cloneConfState(ConfState{Voters: voters, Learners: learners, Addresses: addresses})
}

// ProposeConfChange appends a membership change (§4.1, §4.2.1: add a server
// as a learner first, then promote it once it has caught up). Only one
// change may be uncommitted at a time, and a new leader must first commit
// an entry of its own term: otherwise a change from a previous term that it
// does not know about could still commit, and two changes would overlap
// (Ongaro, "bug in single-server membership changes", raft-dev 2015).
func (r *Raft) ProposeConfChange(cc ConfChange) (index, term uint64, err error) {
	if err := r.canPropose(); err != nil {
		return 0, 0, err
	}
	if t, _ := r.log.term(r.log.committed); t != r.term {
		return 0, 0, fmt.Errorf("%w: no entry of this term is committed yet", ErrConfChangePending)
	}
	if r.pendingConfIndex > r.log.committed {
		return 0, 0, ErrConfChangePending
	}
	if err := checkConfChange(r.conf.state(), cc); err != nil {
		return 0, 0, err
	}
	r.appendEntries(Entry{Type: EntryConfChange, Data: cc.Marshal()})
	r.bcastAppend()
	return r.log.lastIndex(), r.term, nil
}

// ErrBadConfChange reports a change that does not fit the configuration.
var ErrBadConfChange = errors.New("raft: invalid configuration change")

func checkConfChange(cs ConfState, cc ConfChange) error {
	isVoter, isLearner := slices.Contains(cs.Voters, cc.Node), slices.Contains(cs.Learners, cc.Node)
	switch {
	case cc.Node == None:
		return fmt.Errorf("%w: no node", ErrBadConfChange)
	case cc.Type == AddLearner && (isVoter || isLearner):
		return fmt.Errorf("%w: %d is already a member", ErrBadConfChange, cc.Node)
	case cc.Type == AddVoter && isVoter:
		return fmt.Errorf("%w: %d is already a voter", ErrBadConfChange, cc.Node)
	case cc.Type == RemoveNode && !isVoter && !isLearner:
		return fmt.Errorf("%w: %d is not a member", ErrBadConfChange, cc.Node)
	case cc.Type == RemoveNode && isVoter && len(cs.Voters) == 1:
		return fmt.Errorf("%w: cannot remove the last voter", ErrBadConfChange)
	case cc.Type < AddLearner || cc.Type > RemoveNode:
		return fmt.Errorf("%w: unknown type %d", ErrBadConfChange, cc.Type)
	}
	return nil
}

// onConfChange brings the leader's progress table in line with the
// configuration in force.
func (r *Raft) onConfChange() {
	if r.state != StateLeader {
		return
	}
	members := r.conf.members()
	r.progress.keep(members)
	for _, id := range members {
		if pr := r.progress.get(id); pr != nil {
			pr.learner = r.conf.isLearner(id)
			continue
		}
		pr := r.newProgress(id)
		if id == r.id {
			pr.match = r.log.persisted
		} else {
			// A new member starts probing from the end of the log.
			pr.match = 0
		}
		r.progress.set(pr)
	}
	if r.leadTransferee != None && !r.conf.isVoter(r.leadTransferee) {
		r.leadTransferee = None
	}
	r.refreshPeers()
	// A smaller quorum may commit more at once.
	if r.maybeCommit() {
		r.bcastCommit()
	}
}

// Removed servers (§4.2.3). A follower removed by a change the leader
// appended stops receiving entries, so it may never see its removal
// committed, nor even the change: it keeps the configuration that has it
// as a voter and campaigns. The voters it asks know better once they
// committed the change, and say so (MsgRemoved) beside their answer.

// TellIfRemoved tells server id that it is no member (MsgRemoved) if it is
// a member neither of the latest configuration nor of the committed one.
// Raft calls it for a vote request and a forwarded read index; the host
// for what a server sends it outside raft (a removed learner's forwarded
// writes and keepalives may be all it sends, since it never campaigns).
// The committed configuration spares a server whose removal is not
// committed yet: until it is, that server may be the one to elect
// (promotable, §4.2.2). A server added after our commit index is told too,
// but knows of the change that added it, so it takes no notice
// (noteRemoved). The request itself is answered as ever: a vote of a
// lagging voter may be the one such a server needs.
func (r *Raft) TellIfRemoved(id NodeID) {
	if r.IsMember(id) || r.log.committed == 0 {
		return // a new server that knows nothing committed yet has nothing to tell
	}
	if cs := r.conf.stateAt(r.log.committed); slices.Contains(cs.Voters, id) || slices.Contains(cs.Learners, id) {
		return
	}
	r.send(Message{To: id, Type: MsgRemoved, Index: r.log.committed})
}

// noteRemoved takes a member's word that this server is no member of the
// configuration committed at m.Index; the word holds while the
// configuration in force here is no later than that index (toldRemoved:
// a change after it, or a snapshot past it, means it was added back or
// the notice is old). A
// told server does not campaign (promotable); it still answers leaders,
// and a later configuration from one ends the notice. A leader takes no
// notice: it steps down by itself when its removal commits (onCommit).
func (r *Raft) noteRemoved(m Message) {
	if r.state == StateLeader || m.Index <= r.removedAt {
		return
	}
	r.removedAt = m.Index
	if r.toldRemoved() && r.state != StateFollower {
		r.becomeFollower(r.term, None)
	}
}

// toldRemoved says whether a notice of removal holds: no configuration
// in force is later than it.
func (r *Raft) toldRemoved() bool {
	return r.removedAt > 0 && r.conf.lastIndex <= r.removedAt
}
