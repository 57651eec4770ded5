package session

import "strings"

// The leader checks for sessions to expire on every tick, so the check
// must cost what is due, not what exists. Every session the leader tracks
// (one with a lastHeard time) has one entry in a min-heap ordered by the
// moment it could first expire. Hearing from a session only moves its
// lastHeard; the heap entry is corrected lazily when it comes due: the
// session is expired if it is still silent, else its entry goes back with
// its true deadline. A tick thus pops only the entries due, and a session
// heard within its ttl is looked at about once per ttl.

// expiry is one heap entry: the session may expire after at.
type expiry struct {
	at      int64
	session string
}

// expiryHeap orders entries by at, then session id, so that sessions due
// at the same moment are proposed in the same order on every run.
type expiryHeap []expiry

func (h expiryHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return strings.Compare(h[i].session, h[j].session) < 0
}

func (h *expiryHeap) push(e expiry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *expiryHeap) pop() expiry {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = expiry{}
	s = s[:last]
	for i := 0; ; {
		smallest, left, right := i, 2*i+1, 2*i+2
		if left < len(s) && s.less(left, smallest) {
			smallest = left
		}
		if right < len(s) && s.less(right, smallest) {
			smallest = right
		}
		if smallest == i {
			break
		}
		s[i], s[smallest] = s[smallest], s[i]
		i = smallest
	}
	*h = s
	return top
}

// track records that the leader heard from session now, and gives it a
// heap entry if it has none (checked at the next tick, which finds its
// true deadline).
func (l *liveness) track(now int64, session string) {
	l.lastHeard[session] = now
	if !l.queued[session] {
		l.queued[session] = true
		l.due.push(expiry{at: now, session: session})
	}
}

// untrack forgets every session: leadership was gained or lost.
func (l *liveness) untrack() {
	l.lastHeard = map[string]int64{}
	l.expiring = map[string]bool{}
	l.queued = map[string]bool{}
	clear(l.due)
	l.due = l.due[:0]
}
