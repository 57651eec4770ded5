package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// The test hook of the node's monotonic clock, for the real-cluster fault
// suite (cmd/havend/nemesis): the loop's ticks, and through them Raft's
// timeouts, the lease and the sessions' ttls, follow this clock. It exists
// only when the environment asks for it; never set it in production
// (docs/host.md, "Test hooks"):
//
//	HAVEN_TEST_CLOCK_CONTROL=FILE  FILE holds "RATE JUMPED_MS", read every
//	                               20 ms: the clock runs RATE times as fast
//	                               as the machine's (1 is true time), and
//	                               has jumped forward JUMPED_MS in all (a
//	                               larger number jumps it by the
//	                               difference; it never goes back)
//
// No core sees a clock: the host turns this one into ticks (node.run).
const envClockControl = "HAVEN_TEST_CLOCK_CONTROL"

// loopClock returns the time elapsed since the call, on the machine's
// monotonic clock, or on the test clock if the environment asks for it.
func loopClock(log *slog.Logger) func() time.Duration {
	t0 := time.Now()
	path := os.Getenv(envClockControl)
	if path == "" {
		return func() time.Duration { return time.Since(t0) }
	}
	log.Warn("TEST HOOK: the node's clock is driven by a control file; never in production", "clock_control", path)
	c := &testClock{realAt: t0, rate: 1}
	go func() {
		for ; ; time.Sleep(20 * time.Millisecond) {
			b, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			var rate float64
			var jumped int64
			if _, err := fmt.Sscan(string(b), &rate, &jumped); err != nil || rate <= 0 || jumped < 0 {
				continue
			}
			if c.set(rate, time.Duration(jumped)*time.Millisecond) {
				log.Warn("TEST HOOK: clock", "rate", rate, "jumped_ms", jumped)
			}
		}
	}()
	return c.elapsed
}

// testClock is elapsed time that runs at rate and jumps forward.
type testClock struct {
	mu     sync.Mutex
	realAt time.Time     // the last change, on the machine's clock
	virtAt time.Duration // the elapsed time then, on this clock
	rate   float64
	jumped time.Duration
}

func (c *testClock) elapsedLocked(now time.Time) time.Duration {
	return c.virtAt + time.Duration(float64(now.Sub(c.realAt))*c.rate)
}

func (c *testClock) elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.elapsedLocked(time.Now())
}

// set changes the rate and jumps by what jumped adds; it reports a change.
func (c *testClock) set(rate float64, jumped time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rate == c.rate && jumped <= c.jumped {
		return false
	}
	now := time.Now()
	c.virtAt, c.realAt = c.elapsedLocked(now), now
	c.rate = rate
	if jumped > c.jumped {
		c.virtAt += jumped - c.jumped
		c.jumped = jumped
	}
	return true
}
