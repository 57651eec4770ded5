package peer

import (
	"sync"
	"time"
)

// replayCache remembers the signatures accepted inside the replay window, so
// that a recorded request sent again is refused. Older requests need no
// memory: they are refused as stale by their created time.
//
// It is bounded. When full it forgets its oldest signature and raises a
// floor: from then on a request created at or before the forgotten one's
// second is refused, so forgetting never opens a door to a replay. Only
// signatures that verified get here, so only the cluster's own nodes can fill
// it, and at one request per batch per peer it would take more than
// maxReplayEntries requests a second to make the floor refuse fresh traffic.
type replayCache struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	seen   map[[64]byte]struct{}
	// ring holds the signatures in arrival order, for expiry and eviction.
	ring       []replayEntry
	head, size int
	floor      int64
}

type replayEntry struct {
	sig     [64]byte
	created int64
}

// maxReplayEntries bounds the cache (about 100 bytes an entry).
const maxReplayEntries = 1 << 16

func newReplayCache(window time.Duration, max int) *replayCache {
	return &replayCache{window: window, max: max, seen: make(map[[64]byte]struct{}), ring: make([]replayEntry, max)}
}

// admit records sig and reports whether it is new. created is the
// signature's created parameter (seconds).
func (c *replayCache) admit(sig []byte, created int64, now time.Time) bool {
	var key [64]byte
	copy(key[:], sig)
	c.mu.Lock()
	defer c.mu.Unlock()
	oldest := now.Add(-c.window).Unix()
	for c.size > 0 && c.ring[c.head].created < oldest {
		c.pop()
	}
	if created <= c.floor {
		return false
	}
	if _, dup := c.seen[key]; dup {
		return false
	}
	if c.size == c.max {
		if e := c.pop(); e.created > c.floor {
			c.floor = e.created
		}
		if created <= c.floor {
			return false
		}
	}
	c.ring[(c.head+c.size)%c.max] = replayEntry{sig: key, created: created}
	c.size++
	c.seen[key] = struct{}{}
	return true
}

func (c *replayCache) pop() replayEntry {
	e := c.ring[c.head]
	delete(c.seen, e.sig)
	c.head = (c.head + 1) % c.max
	c.size--
	return e
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
