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
// is closed instead, after the events it got (a prefix, so no gap): its
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

// deliver hands one event to a connection, unless the connection is over
// its bound for this Ready.
func (c *Core) deliver(id ConnID, ev fsm.Event) {
	n := c.delivered[id]
	if n >= c.cfg.MaxDeliveriesPerReady {
		if n == c.cfg.MaxDeliveriesPerReady {
			c.overflowed = append(c.overflowed, id)
			c.delivered[id] = n + 1
		}
		return
	}
	c.delivered[id] = n + 1
	c.deliveries = append(c.deliveries, Delivery{Conn: id, Event: ev})
}

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
