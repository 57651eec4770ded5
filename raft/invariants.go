package raft

import "fmt"

// CheckInvariants verifies the properties a server must keep after every
// step. Tests and the simulator call it after each event; the most
// important ones are also asserted where the state changes (commitTo,
// truncateAndAppend, setVote), so production code panics with the state
// that broke them rather than carrying on with a broken log.
func (r *Raft) CheckInvariants() error {
	l := r.log
	switch {
	case l.applied > l.committed:
		return fmt.Errorf("node %d: applied %d > committed %d", r.id, l.applied, l.committed)
	case l.committed > l.lastIndex():
		return fmt.Errorf("node %d: committed %d > last index %d", r.id, l.committed, l.lastIndex())
	case l.persisted > l.lastIndex():
		return fmt.Errorf("node %d: persisted %d > last index %d", r.id, l.persisted, l.lastIndex())
	case l.committed < l.snapIndex:
		return fmt.Errorf("node %d: committed %d below snapshot %d", r.id, l.committed, l.snapIndex)
	case r.state == StateLeader && r.lead != r.id:
		return fmt.Errorf("node %d: leader whose lead is %d", r.id, r.lead)
	case r.state == StateCandidate && r.vote != r.id:
		return fmt.Errorf("node %d: candidate that voted for %d", r.id, r.vote)
	}
	prevTerm := l.snapTerm
	for i := range l.entries {
		e := &l.entries[i]
		if e.Index != l.snapIndex+1+uint64(i) {
			return fmt.Errorf("node %d: entry at slot %d has index %d", r.id, i, e.Index)
		}
		if e.Term < prevTerm {
			return fmt.Errorf("node %d: term goes back at index %d (%d < %d)", r.id, e.Index, e.Term, prevTerm)
		}
		if e.Term > r.term {
			return fmt.Errorf("node %d: entry %d has term %d beyond current term %d", r.id, e.Index, e.Term, r.term)
		}
		prevTerm = e.Term
	}
	if r.state == StateLeader {
		for id, pr := range r.progress {
			if pr.match > l.lastIndex() {
				return fmt.Errorf("node %d: leader's match for %d is %d beyond last %d", r.id, id, pr.match, l.lastIndex())
			}
		}
	}
	return nil
}
