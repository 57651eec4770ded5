package sim

import (
	"fmt"
	"sort"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/raft"
)

// sessionsTruth is the ground truth of a sessions run: the committed log
// (the checker's, built from what the nodes report) applied to a reference
// state machine of its own. From it come the changes to every list, in log
// order, that watchers must see, and when each session opened and ended.
type sessionsTruth struct {
	machine *fsm.Machine
	// applied is how far the committed log has been applied to machine.
	applied uint64
	// events are, per list, the changes in the committed log, in order.
	events map[string][]fsm.Event
	// opened and ends say when each session opened and ended.
	opened map[string]sessionOpened
	ends   map[string]sessionEnd
	// proposedAt is when each CloseSession entry was first written, by
	// the leader that proposed it; renewedAt when the leader of a term
	// applied its own RenewAll (from then on it expires sessions).
	proposedAt map[entryKey]time.Duration
	renewedAt  map[uint64]time.Duration
	// closeKind and renewKind are the kind bytes of those commands;
	// pushKind and updateKind those of the writes whose data is unique.
	closeKind, renewKind, pushKind, updateKind byte
	// writes maps the data of each committed push and update (unique per
	// client write) to its index: a client write is committed once.
	writes map[string]uint64
}

type sessionOpened struct {
	index       uint64
	ttl         uint64
	committedAt time.Duration
}

type sessionEnd struct {
	index, term uint64
	expired     bool
	// proposedAt is when the leader proposed the end (for an expiry, when
	// it decided the session was silent); committedAt when a node first
	// reported it committed.
	proposedAt  time.Duration
	proposed    bool
	committedAt time.Duration
}

func (t *sessionsTruth) init() {
	t.machine = fsm.New(fsm.Options{})
	t.events = map[string][]fsm.Event{}
	t.opened = map[string]sessionOpened{}
	t.ends = map[string]sessionEnd{}
	t.proposedAt = map[entryKey]time.Duration{}
	t.renewedAt = map[uint64]time.Duration{}
	t.closeKind = fsm.Encode(fsm.CloseSession{ID: "x"})[1]
	t.renewKind = fsm.Encode(fsm.RenewAll{Term: 1})[1]
	t.pushKind = fsm.Encode(fsm.Push{Session: "x", Path: "/x"})[1]
	t.updateKind = fsm.Encode(fsm.Update{Session: "x", Path: "/x"})[1]
	t.writes = map[string]uint64{}
}

// once checks that the client write an entry carries was not committed
// before.
func (t *sessionsTruth) once(w *World, e *raft.Entry) {
	if k := t.kindOf(e); k != t.pushKind && k != t.updateKind {
		return
	}
	cmd, err := fsm.Decode(e.Data)
	if err != nil {
		return
	}
	var data []byte
	var what string
	switch c := cmd.(type) {
	case fsm.Push:
		data, what = c.Data, "push to "+c.Path
	case fsm.Update:
		data, what = c.Data, "update of "+c.Path
	default:
		return
	}
	if prev, dup := t.writes[string(data)]; dup {
		w.failf("double commit: one client write (%s, data %q) is committed at index %d and again at index %d", what, data, prev, e.Index)
		return
	}
	t.writes[string(data)] = e.Index
}

func (t *sessionsTruth) kindOf(e *raft.Entry) byte {
	if e.Type != raft.EntryNormal || len(e.Data) < 2 {
		return 0
	}
	return e.Data[1]
}

// coreObserved records, from a node's Ready, when a leader proposed a
// session's end and when a leader applied its own renewal, then applies
// what the committed log gained.
func (wl *sessionsWorkload) coreObserved(n *node, rd *hostReady) {
	t, w := &wl.truth, wl.w
	// An entry is written first by the leader that proposed it: its
	// followers get it from the messages of that very Ready. (The Ready
	// may say the node no longer leads: it stepped down between proposing
	// and handing the entry out, and the entry may still commit later.)
	for i := range rd.entries {
		e := &rd.entries[i]
		key := entryKey{e.Index, e.Term}
		if _, seen := t.proposedAt[key]; !seen && t.kindOf(e) == t.closeKind {
			t.proposedAt[key] = w.now
		}
	}
	if rd.soft.State == raft.StateLeader {
		for i := range rd.core.CommittedEntries {
			e := &rd.core.CommittedEntries[i]
			if t.kindOf(e) != t.renewKind {
				continue
			}
			if cmd, err := fsm.Decode(e.Data); err == nil {
				term := cmd.(fsm.RenewAll).Term
				if _, seen := t.renewedAt[term]; !seen && term == n.term {
					t.renewedAt[term] = w.now
				}
			}
		}
	}
	t.advance(wl)
}

// advance applies the committed log as far as it is known.
func (t *sessionsTruth) advance(wl *sessionsWorkload) {
	w := wl.w
	truth := w.check.truth
	for t.applied < uint64(len(truth)) {
		e := &truth[t.applied].entry
		t.applied++
		if e.Type != raft.EntryNormal {
			continue
		}
		t.once(w, e)
		res, events := t.machine.Apply(e.Index, e.Data)
		if err := t.machine.CheckInvariants(); err != nil {
			w.failf("state machine bug: applying the committed entry %d (term %d) breaks an invariant of fsm: %v", e.Index, e.Term, err)
			return
		}
		for _, ev := range events {
			t.events[ev.Path] = append(t.events[ev.Path], ev)
		}
		if res.Code != fsm.OK || res.Session.ID == "" {
			continue
		}
		id := res.Session.ID
		if res.Session.Opened == e.Index {
			t.opened[id] = sessionOpened{index: e.Index, ttl: res.Session.TTLms, committedAt: w.now}
			continue
		}
		end := sessionEnd{index: e.Index, term: e.Term, expired: res.Expired, committedAt: w.now}
		end.proposedAt, end.proposed = t.proposedAt[entryKey{e.Index, e.Term}]
		t.ends[id] = end
		if end.expired {
			wl.checkFalseExpiry(wl.sessions[id])
		}
	}
}

// firstAfter is the position of the first change to path after version.
func (t *sessionsTruth) firstAfter(wl *sessionsWorkload, path string, version uint64) int {
	t.advance(wl)
	evs := t.events[path]
	return sort.Search(len(evs), func(i int) bool { return evs[i].Version > version })
}

func sameEvent(a, b *fsm.Event) bool {
	return a.Path == b.Path && a.Version == b.Version && a.Kind == b.Kind && a.Item == b.Item
}

func describeEvent(ev *fsm.Event) string {
	return fmt.Sprintf("%s of item %d (owner %s, modified %d) at %d", ev.Kind, ev.Item.Version, ev.Item.Owner, ev.Item.Modified, ev.Version)
}

// checkEvent is the watch checker. PROTOCOL.md, "Watches": a watch
// delivers "an event for each later change to that list, in log order, with
// no gaps and no duplicates". So each event a watcher receives must be the
// very next change to its list in the committed log after the last one it
// saw; where the watcher started is set by its registration's answer
// (watchAnswer): after the answer's version, or after `since` when the
// server resumed from it, or after the answer's version again when the
// server answered reset.
func (wl *sessionsWorkload) checkEvent(c *sessClient, conn *sessConn, ev *fsm.Event) {
	w, t := wl.w, &wl.truth
	t.advance(wl)
	wt := c.watches[ev.Path]
	if wt == nil || !wt.active {
		w.failf("watch checker: client %d got an event on connection %d (node %d) for %s, which that connection does not watch: %s",
			c.id, conn.id, conn.node, ev.Path, describeEvent(ev))
		return
	}
	if ev.Version > t.applied {
		w.failf("watch checker: client %d got an event of entry %d for %s from node %d, but the log is committed only through %d: %s",
			c.id, ev.Version, ev.Path, conn.node, t.applied, describeEvent(ev))
		return
	}
	evs := t.events[ev.Path]
	if wt.next < len(evs) && sameEvent(&evs[wt.next], ev) {
		wt.next++
		wt.last = ev.Version
		wl.watchEvents++
		if ev.Version > conn.seen[ev.Path] {
			conn.seen[ev.Path] = ev.Version
		}
		c.saw(ev.Path, ev.Version)
		return
	}
	want := "no event (it has seen every change)"
	if wt.next < len(evs) {
		want = describeEvent(&evs[wt.next])
	}
	found := -1
	for i := sort.Search(len(evs), func(i int) bool { return evs[i].Version >= ev.Version }); i < len(evs) && evs[i].Version == ev.Version; i++ {
		if sameEvent(&evs[i], ev) {
			found = i
			break
		}
	}
	what := "a gap: it skipped"
	switch {
	case found < 0:
		what = "an event that is no change to the list in the committed log, where it expected"
	case found < wt.next:
		what = "a duplicate or out-of-order event, where it expected"
	}
	w.failf("watch checker: client %d's watch of %s on connection %d (node %d) got %s, %s %s",
		c.id, ev.Path, conn.id, conn.node, describeEvent(ev), what, want)
}

// The slack of the no-false-expiry rule (history.ExpiryBounds.Slack) is how
// much earlier than its ttl a session may look silent to
// the checker and still have been expired rightly. The leader measures
// silence with its own clock, in whole ticks:
//
//   - its clock runs up to Drift faster than virtual time (node.localMs), so
//     a ttl of its clock may be as short as ttl·(1−Drift) virtual: ttl·Drift;
//   - it notes when it heard a session as the time of its last tick, up to
//     one tick early, and checks for silence only on ticks, so the time it
//     reads when it proposes is up to a tick late: two ticks in all.

// checkFalseExpiry is the session checker's no-false-expiry rule.
// decisions.md: an OK ping means the leader heard it, so a client that
// keeps getting OK pings within its ttl is never expired, across leader
// changes too. Precisely: a session expired by an entry its leader proposed
// at virtual time T was expired falsely if its client got an OK answer to a
// ping it sent in (T − ttl + slack, T]: the leader, or any leader
// before it, heard that ping less than a ttl before T. (A ping sent after T
// cannot have kept the leader from deciding at T; it is not a false expiry
// if it got an OK answer while the end was being committed.)
func (wl *sessionsWorkload) checkFalseExpiry(rec *sessRecord) {
	if rec == nil {
		return
	}
	end, ok := wl.truth.ends[rec.id]
	if !ok || !end.expired {
		return
	}
	w := wl.w
	if !end.proposed {
		w.failf("session checker: session %s was expired by entry %d (term %d), which no leader was seen proposing", rec.id, end.index, end.term)
		return
	}
	ttl := time.Duration(rec.ttl) * time.Millisecond
	// The rule is linearizability/history's, which real clusters' histories
	// are checked with too.
	if sent, bad := history.FalseExpiry(ttl, end.proposedAt, rec.okPings, wl.expiryBounds()); bad {
		w.failf("session checker: false expiry: session %s (client %d, ttl %v) was expired by entry %d, proposed at %v, "+
			"but a ping its client sent at %v (%v before) was answered OK",
			rec.id, rec.client, ttl, end.index, end.proposedAt, sent, end.proposedAt-sent)
	}
}

// expiryBounds are the no-false-expiry check's tolerances in this run.
func (wl *sessionsWorkload) expiryBounds() history.ExpiryBounds {
	return history.ExpiryBounds{Drift: wl.w.params.Drift, Tick: TickInterval}
}

// maxMessageDelay bounds how long a message between nodes can take with
// the run's parameters: the slow tail, if any, or far out in the
// exponential, plus the hold-back of reordering. (Healing stops the tail
// for new messages; the sessions workload keeps the bound from before.)
func (w *World) maxMessageDelay() time.Duration {
	p := &w.params
	d := 50 * p.LatencyMean
	if p.TailChance > 0 {
		d = max(d, p.TailLimit)
	}
	return p.LatencyMin + d + 20*time.Millisecond
}

// deadSessionBound is the time a session of the given ttl may live after
// nothing keeps it alive any more (its client's last message, and a leader
// stable, whichever is later): the ttl of the leader's clock (up to Drift
// slower than virtual time), three ticks (the follower's keepalive goes
// out on its next tick; the leader notes the time of its last tick and
// checks on ticks), one election timeout for the expiry to commit and be
// applied, and the slowest a message sent before healing may still be on
// the wire.
func (wl *sessionsWorkload) deadSessionBound(ttl uint64) time.Duration {
	w := wl.w
	d := time.Duration(ttl)*time.Millisecond + 3*TickInterval
	return time.Duration(float64(d)*(1+w.params.Drift)) + ElectionTimeout + wl.maxDelay
}

// checkDeadSessions is the session checker's other rule: every dead
// session is ended, and its items removed, within deadSessionBound once a
// leader is stable. It runs while the run settles, when the clients have
// stopped and so every session is dead. A session is dead from the later
// of: the last time a node took one of its requests (or finished
// connecting it, which waits for the open to apply or, for a resume, for a
// read barrier), its opening, the moment the run was found live again (a leader and
// a new write after healing: from then every node knows the leader, and
// nothing that held back a client's message does any more), and the moment
// the current leader applied its renewal (the fresh ttl it grants). It
// reports whether every session has ended.
func (wl *sessionsWorkload) checkDeadSessions() bool {
	t, w := &wl.truth, wl.w
	if t.machine.Stats().Sessions == 0 {
		return true
	}
	l := w.currentLeader()
	if l == nil {
		return false
	}
	renewed, ok := t.renewedAt[l.term]
	if !ok {
		return false
	}
	for _, s := range t.machine.Sessions() {
		// A keepalive the hold-back fault held past the healing renews the
		// session when it finally arrives: count from then too.
		start := max(renewed, t.opened[s.ID].committedAt, w.liveAt, wl.heardAt[s.ID], w.heldLast)
		if deadline := start + wl.deadSessionBound(s.TTLms); w.now > deadline {
			w.failf("session checker: session %s (ttl %d ms, %d items) is still alive %v after nothing kept it alive (a node's last request of it, "+
				"the leader's renewal or the run becoming live again, at %v); dead sessions must end within %v",
				s.ID, s.TTLms, s.Items, w.now-start, start, wl.deadSessionBound(s.TTLms))
			return false
		}
	}
	return false
}
