package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// fault is one entry of the fault timeline.
type fault struct {
	Start, End time.Time
	Text       string
}

// timeline is the faults injected so far, for the failure directory and
// porcupine's annotations.
type timeline struct {
	mu     sync.Mutex
	faults []fault
}

func (t *timeline) add(f fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = append(t.faults, f)
}

func (t *timeline) all() []fault {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]fault(nil), t.faults...)
}

// faultKinds are the kinds of fault the nemesis can inject.
var faultKinds = []string{"kill", "pause", "halves", "isolate", "one-way", "bridge", "disk-eio", "disk-enospc", "membership", "clock"}

// drawKinds is the run's swarm (as the simulator's): each kind of fault
// is enabled or not by a draw, at least one. force, when set (a comma
// list, HAVEN_NEMESIS_FAULTS), decides instead.
func drawKinds(rng *rand.Rand, force string) ([]string, error) {
	if force != "" {
		kinds := strings.Split(force, ",")
		for _, k := range kinds {
			if !slices.Contains(faultKinds, k) {
				return nil, fmt.Errorf("unknown fault kind %q (kinds: %v)", k, faultKinds)
			}
		}
		return kinds, nil
	}
	var kinds []string
	for _, k := range faultKinds {
		if rng.IntN(2) == 0 {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		kinds = append(kinds, faultKinds[rng.IntN(len(faultKinds))])
	}
	return kinds, nil
}

// nemesis injects one fault at a time, of a kind drawn from kinds, until
// ctx ends, and heals each before the next. It returns when the last fault
// has healed, with the exits of nodes that stopped by themselves when no
// fault of their disk allowed it, and what a fault itself found wrong (a
// rejoined node reached around the proxies).
func nemesis(ctx context.Context, c *cluster, rng *rand.Rand, kinds []string, tl *timeline, logf func(string, ...any)) (unexpected, failures []string) {
	n := len(c.nodes)
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	for sleep(between(time.Second, 3*time.Second)) {
		lead := c.leader(ctx)
		victim := rng.IntN(n)
		if lead >= 0 && rng.IntN(2) == 0 {
			victim = lead
		}
		// Some faults outlast a 5 s ttl: a client on the wrong side must
		// move to where the leader is, or its session expires.
		hold := between(time.Second, 4*time.Second)
		if rng.IntN(3) == 0 {
			hold = between(5*time.Second, 8*time.Second)
		}
		start := time.Now()
		var text string
		diskVictim := -1
		switch k := kinds[rng.IntN(len(kinds))]; k {
		case "membership":
			// A follower: removing the leader is left to raft's tests.
			if victim == lead {
				victim = (victim + 1 + rng.IntN(n-1)) % n
			}
			logf("nemesis: rejoin %s (remove, empty data dir, learner, voter)", c.nodes[victim].id)
			var failure string
			text, failure = rejoin(c, victim, 60*time.Second, logf)
			logf("nemesis: %s", text)
			if failure != "" {
				failures = append(failures, failure)
			}
		case "clock":
			// Drift of 1% either way, which the no-false-expiry check's
			// slack and the lease's margin cover; a follower's clock also
			// jumps forward (a leader's jump would end sessions early, which
			// no bound on drift allows).
			rate := 0.99
			if rng.IntN(2) == 0 {
				rate = 1.01
			}
			var jump time.Duration
			if victim != lead {
				jump = between(500*time.Millisecond, 5*time.Second)
			}
			text = fmt.Sprintf("clock of %s (leader %v) jumps %v forward, runs at %gx for %v", c.nodes[victim].id, victim == lead,
				jump.Round(time.Millisecond), rate, hold.Round(time.Millisecond))
			logf("nemesis: %s", text)
			if err := c.setClock(victim, rate, jump); err != nil {
				logf("nemesis: %v", err)
			}
			time.Sleep(hold)
			if err := c.setClock(victim, 1, 0); err != nil {
				logf("nemesis: %v", err)
			}
		case "disk-eio", "disk-enospc":
			mode := strings.TrimPrefix(k, "disk-")
			text = fmt.Sprintf("disk of %s fails (%s) for %v (leader %v)", c.nodes[victim].id, mode, hold.Round(time.Millisecond), victim == lead)
			logf("nemesis: %s", text)
			diskVictim = victim
			if err := c.setDisk(victim, mode); err != nil {
				logf("nemesis: %v", err)
			}
			time.Sleep(hold)
			if err := c.setDisk(victim, "ok"); err != nil {
				logf("nemesis: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // havend reads the mode every 20 ms
		case "kill":
			text = fmt.Sprintf("kill -9 %s (leader %v), restart after %v", c.nodes[victim].id, victim == lead, hold.Round(time.Millisecond))
			logf("nemesis: %s", text)
			c.kill(victim)
			time.Sleep(hold) // a restart is not skipped when ctx ends
			if err := c.start(victim); err != nil {
				logf("nemesis: restart %s: %v", c.nodes[victim].id, err)
			}
		case "pause":
			text = fmt.Sprintf("SIGSTOP %s (leader %v) for %v", c.nodes[victim].id, victim == lead, hold.Round(time.Millisecond))
			logf("nemesis: %s", text)
			c.pause(victim, true)
			time.Sleep(hold)
			c.pause(victim, false)
		default:
			var cuts [][2]int
			both := func(a, b []int) {
				for _, i := range a {
					for _, j := range b {
						cuts = append(cuts, [2]int{i, j}, [2]int{j, i})
					}
				}
			}
			perm := rng.Perm(n)
			switch k {
			case "halves":
				m := n / 2
				text = fmt.Sprintf("partition halves %v | %v", ids(c, perm[:m]), ids(c, perm[m:]))
				both(perm[:m], perm[m:])
			case "isolate": // the leader half the time
				var rest []int
				for i := range n {
					if i != victim {
						rest = append(rest, i)
					}
				}
				text = fmt.Sprintf("isolate %s (leader %v)", c.nodes[victim].id, victim == lead)
				both([]int{victim}, rest)
			case "one-way": // victim's sends to everyone are lost, it still hears them
				text = fmt.Sprintf("one-way: %s cannot send (leader %v)", c.nodes[victim].id, victim == lead)
				for j := range n {
					if j != victim {
						cuts = append(cuts, [2]int{victim, j})
					}
				}
			case "bridge": // two sides that only the bridge node connects
				b := perm[0]
				m := (n - 1) / 2
				a, z := perm[1:1+m], perm[1+m:]
				text = fmt.Sprintf("bridge %s between %v and %v", c.nodes[b].id, ids(c, a), ids(c, z))
				both(a, z)
			}
			logf("nemesis: %s for %v", text, hold.Round(time.Millisecond))
			for _, l := range cuts {
				c.cut(l[0], l[1], true)
			}
			time.Sleep(hold)
			for _, l := range cuts {
				c.cut(l[0], l[1], false)
			}
		}
		for _, e := range c.restartExited(logf) {
			if diskVictim >= 0 && strings.HasPrefix(e, c.nodes[diskVictim].id+" ") {
				text += "; it stopped (restarted after the fault healed)"
				continue
			}
			unexpected = append(unexpected, e)
		}
		tl.add(fault{Start: start, End: time.Now(), Text: text})
	}
	c.healAll()
	for i := range c.nodes {
		_ = c.setDisk(i, "ok")
	}
	time.Sleep(100 * time.Millisecond)
	return append(unexpected, c.restartExited(logf)...), failures
}

func ids(c *cluster, idx []int) []string {
	var s []string
	for _, i := range idx {
		s = append(s, c.nodes[i].id)
	}
	return s
}
