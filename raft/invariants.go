package raft

import "fmt"

// CheckInvariants verifies the properties a server must keep after every
// step, over every entry of the log. Tests call it after each step, the
// simulator CheckInvariantsSinceLast after each event and this at every
// fault; the most
// important ones are also asserted where the state changes (commitTo,
// truncateAndAppend, setVote), so production code panics with the state
// that broke them rather than carrying on with a broken log.
func (r *Raft) CheckInvariants() error { return r.checkInvariants(false) }

// CheckInvariantsSinceLast checks what CheckInvariants checks, but of the
// entries only those appended since its last call (or CheckInvariants'):
// the simulator calls it after every event, and every entry on every call
// was a tenth of a simulated run. It relies on the log never writing into
// an array it has handed out — truncation and compaction copy into a new
// one, append only adds after the end — so that the same array, snapshot
// and a length at least the checked one mean the checked prefix is as it
// was. A bug that rewrote entries in place would get past it until the
// next CheckInvariants, which the simulator runs at every fault.
func (r *Raft) CheckInvariantsSinceLast() error { return r.checkInvariants(true) }

func (r *Raft) checkInvariants(sinceLast bool) error {
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
	// The entries in one pass with a single test per entry, and the reason
	// sorted out only once an entry fails it. Since the last check, only
	// from where it ended: terms do not go back along the log, so the
	// prefix's last term is its largest and one test keeps it within
	// r.term.
	prevTerm, term, first := l.snapTerm, r.term, l.snapIndex+1
	ents := l.entries
	from := 0
	if c := &l.checked; sinceLast && c.n > 0 && c.n <= len(ents) && c.first == &ents[0] && c.snapIndex == l.snapIndex {
		from = c.n
		prevTerm = ents[from-1].Term
		if prevTerm > term {
			return fmt.Errorf("node %d: entry %d has term %d beyond current term %d", r.id, ents[from-1].Index, prevTerm, r.term)
		}
	}
	for i := from; i < len(ents); i++ {
		e := &ents[i]
		if e.Index != first+uint64(i) || e.Term < prevTerm || e.Term > term {
			l.checked = checkedPrefix{}
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
	l.checked = checkedPrefix{}
	if len(ents) > 0 {
		l.checked = checkedPrefix{first: &ents[0], n: len(ents), snapIndex: l.snapIndex}
	}
	if r.state == StateLeader {
		last := l.lastIndex()
		for _, pr := range r.progress {
			if pr.match > last {
				return fmt.Errorf("node %d: leader's match for %d is %d beyond last %d", r.id, pr.id, pr.match, last)
			}
		}
	}
	return nil
}
