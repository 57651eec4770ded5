package history

import (
	"fmt"
	"time"
)

// ExpiryBounds are the tolerances of the no-false-expiry check.
type ExpiryBounds struct {
	// Drift is the largest relative error of the leader's clock: it may
	// measure a ttl that much short.
	Drift float64
	// Tick is the granularity at which the leader notes times and checks
	// silence; two ticks are allowed.
	Tick time.Duration
}

// Slack is how much of a ttl the check forgives: ttl·Drift + 2 ticks.
func (b ExpiryBounds) Slack(ttl time.Duration) time.Duration {
	return time.Duration(float64(ttl)*b.Drift) + 2*b.Tick
}

// FalseExpiry checks one expiry against the send times of the session's
// pings answered OK (PROTOCOL.md, Sessions: a session lives while its
// client is heard within its ttl). It returns the send time of a ping
// answered OK in (proposedAt − ttl + slack, proposedAt], which proves the
// expiry false, and whether there is one.
func FalseExpiry(ttl, proposedAt time.Duration, okPings []time.Duration, b ExpiryBounds) (time.Duration, bool) {
	from := proposedAt - ttl + b.Slack(ttl)
	for i := len(okPings) - 1; i >= 0; i-- {
		if sent := okPings[i]; sent > from && sent <= proposedAt {
			return sent, true
		}
	}
	return 0, false
}

// CheckNoFalseExpiry checks every expiry of a history against its pings:
// the first false expiry is the error.
func CheckNoFalseExpiry(recs []Record, b ExpiryBounds) error {
	ok := map[string][]time.Duration{}
	for _, r := range recs {
		if p := r.Ping; p != nil && p.Answer == "ok" {
			ok[p.Session] = append(ok[p.Session], time.Duration(p.Sent))
		}
	}
	for _, r := range recs {
		e := r.Expiry
		if e == nil {
			continue
		}
		ttl := time.Duration(e.TTLms) * time.Millisecond
		at := time.Duration(e.ProposedAt)
		if sent, bad := FalseExpiry(ttl, at, ok[e.Session], b); bad {
			return fmt.Errorf("false expiry: session %s (ttl %v) was expired by entry %d, proposed at %v, but a ping sent at %v (%v before) was answered OK",
				e.Session, ttl, e.Index, at, sent, at-sent)
		}
	}
	return nil
}
