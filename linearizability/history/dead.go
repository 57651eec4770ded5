package history

import (
	"fmt"
	"time"
)

// DeadSessionBounds are the tolerances of the dead-session check: how long
// a session may live once nothing keeps it alive any more.
type DeadSessionBounds struct {
	// Drift is the largest relative error of the leader's clock: it may
	// measure a ttl that much long.
	Drift float64
	// Tick is the granularity of the nodes' timers: a follower's keepalive
	// goes out on its next tick, the leader notes the time of its last
	// tick and checks for silence on ticks; three ticks are allowed.
	Tick time.Duration
	// Commit is how long the expiry may take to commit and be applied once
	// proposed (an election timeout).
	Commit time.Duration
	// Delay is the slowest a message may still be on the wire.
	Delay time.Duration
}

// Bound is how long a session of the given ttl may live after nothing
// kept it alive: (ttl + 3 ticks)·(1+Drift) + Commit + Delay.
func (b DeadSessionBounds) Bound(ttl time.Duration) time.Duration {
	d := ttl + 3*b.Tick
	return time.Duration(float64(d)*(1+b.Drift)) + b.Commit + b.Delay
}

// DeadSession checks one session still alive (its items still there) at
// now, which nothing has kept alive since the time since: it must have
// ended within b.Bound(ttl) (PROTOCOL.md, Sessions: a session whose client
// is silent for its ttl ends, and its items are removed).
func DeadSession(id string, ttl, since, now time.Duration, b DeadSessionBounds) error {
	if bound := b.Bound(ttl); now > since+bound {
		return fmt.Errorf("session %s (ttl %v) is still alive %v after nothing kept it alive (at %v); dead sessions must end within %v",
			id, ttl, now-since, since, bound)
	}
	return nil
}

// CheckDeadSessions runs the dead-session check over a recorded history
// that ends at end (the recorder's clock). A session is kept alive by its
// opening (OpenedAt), its client's pings and operations (when sent), and
// the cluster itself until liveFrom: the moment from which a leader was
// stable and no fault held messages back (the recorder knows it; with no
// faults, the start). Each session must have ended (EndedAt) within its
// bound of the last of these, or, if it never ended, the history must
// not go on past that. A session whose end is recorded without its time
// is not checked. The first late session is the error.
func CheckDeadSessions(recs []Record, b DeadSessionBounds, liveFrom, end int64) error {
	heard := map[string]int64{}
	for i := range recs {
		switch r := &recs[i]; {
		case r.Ping != nil && r.Ping.Sent > 0:
			heard[r.Ping.Session] = max(heard[r.Ping.Session], r.Ping.Sent)
		case r.Op != nil && r.Op.Input.Session != "":
			heard[r.Op.Input.Session] = max(heard[r.Op.Input.Session], r.Op.Call)
		}
	}
	for i := range recs {
		s := recs[i].Session
		if s == nil {
			continue
		}
		at := end
		if s.Ended != 0 {
			if s.EndedAt == 0 {
				continue
			}
			at = s.EndedAt
		}
		since := max(liveFrom, s.OpenedAt, heard[s.ID])
		ttl := time.Duration(s.TTLms) * time.Millisecond
		if err := DeadSession(s.ID, ttl, time.Duration(since), time.Duration(at), b); err != nil {
			return fmt.Errorf("session checker: %w", err)
		}
	}
	return nil
}
