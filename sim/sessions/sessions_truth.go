package sessions

import (
	"time"

	"github.com/havenproject/haven/session"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/sim"
)

// entryKey names an entry of the log.
type entryKey struct{ index, term uint64 }

// sessionsTruth is the ground truth of a sessions run: the committed log
// (the checker's, built from what the nodes report) applied to a reference
// state machine of its own. Its changes to every list, in log order, feed
// the watch checker (linearizability/history.Watches); from it come when
// each session opened and ended.
type sessionsTruth struct {
	machine *fsm.Machine
	// applied is how far the committed log has been applied to machine.
	applied uint64
	// committedAt is, per index (committedAt[i-1]), when the entry was
	// first known committed: its time in the history.
	committedAt []time.Duration
	// watches is the watch checker, fed the log's changes as they commit.
	watches *history.Watches
	// opened and ends say when each session opened and ended.
	opened map[string]sessionOpened
	ends   map[string]sessionEnd
	// proposedAt is when each CloseSession entry was first written, by
	// the leader that proposed it; renewedAt when the leader of a term
	// applied its own RenewAll (from then on it expires sessions).
	proposedAt map[entryKey]time.Duration
	renewedAt  map[uint64]time.Duration
	// closing are the sessions whose end a leader has written and the log
	// has not committed yet: the latest term's proposal of each.
	closing map[string]closeProposal
	// closeKind and renewKind are the kind bytes of those commands;
	// pushKind and updateKind those of the writes whose data is unique.
	closeKind, renewKind, pushKind, updateKind byte
	// writes maps the data of each committed push and update (unique per
	// client write) to its index: a client write is committed once.
	writes map[string]uint64
}

type closeProposal struct {
	term uint64
	at   time.Duration
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
	t.watches = history.NewWatches()
	t.opened = map[string]sessionOpened{}
	t.ends = map[string]sessionEnd{}
	t.proposedAt = map[entryKey]time.Duration{}
	t.renewedAt = map[uint64]time.Duration{}
	t.closing = map[string]closeProposal{}
	t.closeKind = fsm.Encode(fsm.CloseSession{ID: "x"})[1]
	t.renewKind = fsm.Encode(fsm.RenewAll{Term: 1})[1]
	t.pushKind = fsm.Encode(fsm.Push{Session: "x", Path: "/x"})[1]
	t.updateKind = fsm.Encode(fsm.Update{Session: "x", Path: "/x"})[1]
	t.writes = map[string]uint64{}
}

// once checks that the client write an entry carries was not committed
// before.
func (t *sessionsTruth) once(w *sim.World, e *raft.Entry) {
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
		w.Failf("double commit: one client write (%s, data %q) is committed at index %d and again at index %d", what, data, prev, e.Index)
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

// CoreObserved records, from a node's Ready, when a leader proposed a
// session's end and when a leader applied its own renewal, then applies
// what the committed log gained.
func (wl *sessionsWorkload) CoreObserved(term uint64, rd *session.Ready) {
	t, w := &wl.truth, wl.w
	// An entry is written first by the leader that proposed it: its
	// followers get it from the messages of that very Ready. (The Ready
	// may say the node no longer leads: it stepped down between proposing
	// and handing the entry out, and the entry may still commit later.)
	for i := range rd.Entries {
		e := &rd.Entries[i]
		key := entryKey{e.Index, e.Term}
		if _, seen := t.proposedAt[key]; !seen && t.kindOf(e) == t.closeKind {
			t.proposedAt[key] = w.Now()
			if cmd, err := fsm.Decode(e.Data); err == nil {
				if id := cmd.(fsm.CloseSession).ID; t.closing[id].term < e.Term {
					t.closing[id] = closeProposal{term: e.Term, at: w.Now()}
				}
			}
		}
	}
	if rd.SoftState.State == raft.StateLeader {
		for i := range rd.CommittedEntries {
			e := &rd.CommittedEntries[i]
			if t.kindOf(e) != t.renewKind {
				continue
			}
			if cmd, err := fsm.Decode(e.Data); err == nil {
				renewed := cmd.(fsm.RenewAll).Term
				if _, seen := t.renewedAt[renewed]; !seen && renewed == term {
					t.renewedAt[renewed] = w.Now()
				}
			}
		}
	}
	t.advance(wl)
}

// advance applies the committed log as far as it is known.
func (t *sessionsTruth) advance(wl *sessionsWorkload) {
	w := wl.w
	for t.applied < w.CommittedIndex() {
		e := w.Committed(t.applied + 1)
		t.applied++
		t.committedAt = append(t.committedAt, w.Now())
		if e.Type != raft.EntryNormal {
			t.watches.Committed(e.Index, int64(w.Now()), nil)
			continue
		}
		t.once(w, e)
		if t.kindOf(e) == t.closeKind {
			if cmd, err := fsm.Decode(e.Data); err == nil {
				delete(t.closing, cmd.(fsm.CloseSession).ID)
			}
		}
		res, events := t.machine.Apply(e.Index, e.Data)
		if err := t.machine.CheckInvariants(); err != nil {
			w.Failf("state machine bug: applying the committed entry %d (term %d) breaks an invariant of fsm: %v", e.Index, e.Term, err)
			return
		}
		for i := range events {
			if err := history.EventShape(e.Index, &events[i]); err != nil {
				w.Failf("state machine bug: %v", err)
				return
			}
		}
		t.watches.Committed(e.Index, int64(w.Now()), events)
		if res.Code != fsm.OK || res.Session.ID == "" {
			continue
		}
		id := res.Session.ID
		if res.Session.Opened == e.Index {
			t.opened[id] = sessionOpened{index: e.Index, ttl: res.Session.TTLms, committedAt: w.Now()}
			continue
		}
		t.watches.Ended(id, e.Index)
		end := sessionEnd{index: e.Index, term: e.Term, expired: res.Expired, committedAt: w.Now()}
		end.proposedAt, end.proposed = t.proposedAt[entryKey{e.Index, e.Term}]
		t.ends[id] = end
		if end.expired {
			wl.checkFalseExpiry(wl.sessions[id])
		}
	}
}

// checkEvent hands an event the client received to the watch checker
// (linearizability/history.Watches), which holds it to the committed log.
func (wl *sessionsWorkload) checkEvent(c *sessClient, conn *sessConn, ev *fsm.Event) {
	t := &wl.truth
	t.advance(wl)
	if wl.recordWatches {
		wl.watchRecords = append(wl.watchRecords, history.Record{Delivery: &history.Delivery{
			Client: c.id, Conn: uint64(conn.id), Path: ev.Path, At: int64(wl.w.Now()), Kind: string(ev.Kind),
			Version: ev.Version, Item: ev.Item.Version, Owner: ev.Item.Owner, Modified: ev.Item.Modified, Data: []byte(ev.Item.Data)}})
	}
	if err := t.watches.DeliverEvent(c.id, uint64(conn.id), int64(wl.w.Now()), ev); err != nil {
		wl.w.Failf("watch checker: %v (node %d)", err, conn.node)
		return
	}
	if ev.Version > conn.seen[ev.Path] {
		conn.seen[ev.Path] = ev.Version
	}
	c.saw(ev.Path, ev.Version)
	if wt := c.watches[ev.Path]; wt != nil {
		wt.last = ev.Version
	}
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
		w.Failf("session checker: session %s was expired by entry %d (term %d), which no leader was seen proposing", rec.id, end.index, end.term)
		return
	}
	ttl := time.Duration(rec.ttl) * time.Millisecond
	// The rule is linearizability/history's, which real clusters' histories
	// are checked with too.
	if sent, bad := history.FalseExpiry(ttl, end.proposedAt, rec.okPings, wl.expiryBounds()); bad {
		w.Failf("session checker: false expiry: session %s (client %d, ttl %v) was expired by entry %d, proposed at %v, "+
			"but a ping its client sent at %v (%v before) was answered OK",
			rec.id, rec.client, ttl, end.index, end.proposedAt, sent, end.proposedAt-sent)
	}
}

// expiryBounds are the no-false-expiry check's tolerances in this run.
func (wl *sessionsWorkload) expiryBounds() history.ExpiryBounds {
	return history.ExpiryBounds{Drift: wl.w.Params().Drift, Tick: sim.TickInterval}
}

// deadSessionBounds are the dead-session check's tolerances in this run
// (linearizability/history.DeadSessionBounds): a session may live the ttl
// of the leader's clock (up to Drift slower than virtual time), three
// ticks (the follower's keepalive goes out on its next tick; the leader
// notes the time of its last tick and checks on ticks), one election
// timeout for the expiry to commit and be applied, and the slowest a
// message sent before healing may still be on the wire, after nothing
// keeps it alive any more.
func (wl *sessionsWorkload) deadSessionBounds() history.DeadSessionBounds {
	return history.DeadSessionBounds{Drift: wl.w.Params().Drift, Tick: sim.TickInterval, Commit: sim.ElectionTimeout, Delay: wl.maxDelay}
}

// deadSessionBound is that bound for a session of the given ttl.
func (wl *sessionsWorkload) deadSessionBound(ttl uint64) time.Duration {
	return wl.deadSessionBounds().Bound(time.Duration(ttl) * time.Millisecond)
}

// checkDeadSessions is the session checker's other rule
// (linearizability/history.DeadSession): every dead session is ended, and
// its items removed, within deadSessionBound once a leader is stable. It runs while the run settles, when the clients have
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
	term, led := w.LeaderTerm()
	if !led {
		return false
	}
	renewed, ok := t.renewedAt[term]
	if !ok {
		return false
	}
	for _, s := range t.machine.Sessions() {
		// A keepalive the hold-back fault held past the healing renews the
		// session when it finally arrives: count from then too.
		start := max(renewed, t.opened[s.ID].committedAt, w.LiveAt(), wl.heardAt[s.ID], w.HeldLast())
		ttl := time.Duration(s.TTLms) * time.Millisecond
		if p, ok := t.closing[s.ID]; ok && p.term == term {
			// The leader decided: the time its entry takes to commit is
			// raft's, which a run with small batching caps (one entry a
			// message, one message in flight) spends on every session
			// expiring at once; the settling deadline bounds it. Held
			// here is that it decided in time.
			decide := wl.deadSessionBounds()
			decide.Commit = 0
			if p.at <= start+decide.Bound(ttl) {
				continue
			}
			w.Failf("session checker: session %s (ttl %v), silent since %v, was expired by the leader of term %d only at %v, past the %v allowed for deciding",
				s.ID, ttl, start, term, p.at, decide.Bound(ttl))
			return false
		}
		if err := history.DeadSession(s.ID, ttl, start, w.Now(), wl.deadSessionBounds()); err != nil {
			w.Failf("session checker: %v (%d items; what kept it alive last: a node's last request of it, "+
				"the leader's renewal or the run becoming live again)", err, s.Items)
			return false
		}
	}
	return false
}
