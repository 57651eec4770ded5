package session

import (
	"slices"

	"github.com/havenproject/haven/fsm"
)

// Backpressure. A node that cannot commit, or cannot reach a leader, must
// not queue requests without end: every request waiting in the core holds
// memory until it times out. Writes and reads are bounded by count
// (Config.MaxPendingWrites, MaxPendingReads) and refused Unavailable over
// the bound, as PROTOCOL.md's "no leader or no quorum in time; try again,
// maybe elsewhere". Pings and keepalives are not bounded: refusing them
// under load would expire sessions.
//
// Watch events cannot be refused — they are the log's — so a connection
// that would be handed more than MaxDeliveriesPerReady events in one Ready
// is closed instead, after the events it got (a prefix of whole entries,
// so no gap): its
// client resumes its watches with since, from the retained history or with
// reset. The edges bound what they queue per connection the same way
// (closing on overflow); this bound keeps one Ready from growing without
// end for a far-behind watcher.

// full reports whether the reads waiting on this node reached the bound.
func (t *readTracker) full(c *Core) bool {
	n := len(t.queue) + len(t.atApplied)
	for _, b := range t.batches {
		n += len(b.reads)
	}
	return n >= c.cfg.MaxPendingReads
}

// deliver hands a connection the events of one entry for one list (they
// share the entry's index as their version), unless the connection is over
// its bound for this Ready. An entry's events go out all or none: a client
// resumes with since = the last version it got, so a connection closed
// after part of an entry would never get the rest. The first entry of a
// Ready always goes out whole, however many events it has, so that an
// entry larger than the bound cannot close its watchers forever.
func (c *Core) deliver(id ConnID, events []fsm.Event) {
	n := c.delivered[id]
	if n == overflowedMark {
		return // to be closed; nothing more, or there would be a gap
	}
	if n > 0 && n+len(events) > c.cfg.MaxDeliveriesPerReady {
		c.overflowed = append(c.overflowed, id)
		c.delivered[id] = overflowedMark
		return
	}
	c.delivered[id] = n + len(events)
	if cn := c.conns[id]; cn != nil {
		cn.owed = true
	}
	for _, ev := range events {
		c.deliveries = append(c.deliveries, Delivery{Conn: id, Event: ev})
	}
}

// overflowedMark, as a connection's count of deliveries, says it went over
// its bound in this Ready and is to be closed.
const overflowedMark = -1

// closeOverflowed closes the connections that went over their bound, and
// starts the count again for the next Ready.
func (c *Core) closeOverflowed() {
	if len(c.overflowed) > 0 {
		slices.Sort(c.overflowed)
		for _, id := range c.overflowed {
			if c.conns[id] != nil {
				c.ConnClosed(id)
				c.disconnect = append(c.disconnect, id)
			}
		}
		c.overflowed = c.overflowed[:0]
	}
	clear(c.delivered)
}
