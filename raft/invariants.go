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
	// Every entry, on every call: one pass with a single test per entry
	// (the simulator runs this after every event), and the reason sorted
	// out only once an entry fails it.
	prevTerm, term, first := l.snapTerm, r.term, l.snapIndex+1
	ents := l.entries
	for i := range ents {
		e := &ents[i]
		if e.Index != first+uint64(i) || e.Term < prevTerm || e.Term > term {
			switch {
			case e.Index != first+uint64(i):
				return fmt.Errorf("node %d: entry at slot %d has index %d", r.id, i, e.Index)
			case e.Term < prevTerm:
				return fmt.Errorf("node %d: term goes back at index %d (%d < %d)", r.id, e.Index, e.Term, prevTerm)
			default:
				return fmt.Errorf("node %d: entry %d has term %d beyond current term %d", r.id, e.Index, e.Term, r.term)
			}
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
