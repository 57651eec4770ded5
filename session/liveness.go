package session

import (
	"slices"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// Session liveness (PROTOCOL.md, "Sessions"). The leader decides expiry:
// it remembers when it last heard from each session — directly, or through
// the keepalives followers send every tick for the sessions their clients
// spoke on — and proposes the end of a session not heard from for its ttl.
// A follower sends one at once, without waiting for the tick, when a ping
// it holds comes from a connection with watch events waiting: events leave
// only with an OK pong, and would otherwise wait up to a tick.
//
// A new leader knows nothing of when sessions were last heard. It proposes
// RenewAll for its term; once that entry is applied (so it has applied the
// whole log before it, and every session that exists), it starts every
// session's clock afresh at that moment. Until then it expires nothing, so
// no session is expired because the cluster itself was unavailable.
type liveness struct {
	// heardHere are sessions heard on this node since the last keepalive
	// (followers), sorted when sent.
	heardHere map[string]bool
	// pings wait on a follower until the leader acknowledges a keepalive
	// that carries their session: an OK ping then means "the leader heard
	// you", so a client that gets OK pings within its ttl is never expired.
	// A node that cannot reach a leader answers no ping, and the client
	// moves to another node in time.
	pings      []*pendingRead
	keepalives []*keepaliveBatch
	nextBatch  uint64

	// Leader only.
	lastHeard map[string]int64
	due       expiryHeap      // one entry per session in queued (expiry.go)
	queued    map[string]bool // sessions with an entry in due
	active    bool            // RenewAll of this term applied: expiry runs
	renewTerm uint64          // term whose RenewAll was proposed
	expiring  map[string]bool // expiry proposed, not yet applied
}

// keepaliveBatch is one keepalive sent to the leader and the pings that
// wait for its acknowledgement.
type keepaliveBatch struct {
	id     uint64
	sentAt int64
	pings  []*pendingRead
}

func (l *liveness) init() {
	l.heardHere = map[string]bool{}
	l.untrack()
}

// heard records that a session's client spoke to this node.
func (l *liveness) heard(c *Core, session string) {
	if c.soft.State == raft.StateLeader {
		l.track(c.now, session)
		return
	}
	l.heardHere[session] = true
}

func (l *liveness) handleKeepAlive(c *Core, from raft.NodeID, ka *KeepAlive) {
	if c.soft.State != raft.StateLeader {
		return
	}
	for _, s := range ka.Sessions {
		l.track(c.now, s)
	}
	// The acknowledgment waits for the leadership to be confirmed.
	l.confirm(c, &pendingRead{keepalive: ka, from: from})
}

// confirm holds a ping (or a keepalive's acknowledgment) on the leader
// until a round of heartbeats sent after it was heard confirms that this
// node still leads: a ReadIndex (§6.4). A leader cut off from its quorum
// believes it leads until CheckQuorum says otherwise, while another may be
// elected, renew every session and start expiring them; an OK from the old
// leader then would promise a ttl the new one does not grant (the
// simulator found such a false expiry: sessions workload, heavy faults,
// seed 146). Once a quorum answered a heartbeat sent after the ping, any
// later leader is elected after the ping was heard, and renews the session
// after it.
func (l *liveness) confirm(c *Core, r *pendingRead) {
	r.term = c.raft.Term()
	if r.deadline == 0 {
		r.deadline = c.now + c.cfg.RequestTimeoutMs
	}
	c.reads.queue = append(c.reads.queue, r)
}

// confirmed answers a ping or a keepalive once its read index came: OK if
// this node still leads the term it heard it in. Otherwise a ping goes the
// follower's way, to be carried to the leader there is now.
func (l *liveness) confirmed(c *Core, r *pendingRead) {
	leads := c.soft.State == raft.StateLeader && c.raft.Term() == r.term
	switch {
	case r.keepalive != nil && leads:
		var refused []string
		for _, s := range r.keepalive.Sessions {
			if !l.vouches(c, s) {
				refused = append(refused, s)
			}
		}
		c.send(r.from, PeerMessage{KeepAliveAck: &KeepAliveAck{ID: r.keepalive.ID, Refused: refused}})
	case r.keepalive != nil:
		// The follower asks again.
	case leads:
		l.answerPing(c, &r.req)
	default:
		r.ping = false
		l.pings = append(l.pings, r)
	}
}

// vouches reports whether the leader may tell a client its session was
// heard. An OK ping promises the session a ttl from when the ping was sent;
// a leader that has already proposed the session's end, or has applied it,
// cannot keep that promise (the simulator found pings answered OK a few
// milliseconds before the expiry they raced: sessions workload, heavy
// faults, seed 12). Such pings are answered Unavailable, and the client
// learns the session's fate when it resumes elsewhere.
func (l *liveness) vouches(c *Core, session string) bool {
	_, alive := c.fsm.Session(session)
	return alive && !l.expiring[session]
}

// answerPing answers a ping on the leader.
func (l *liveness) answerPing(c *Core, req *Request) {
	if cn := c.conns[req.Conn]; cn != nil && !l.vouches(c, cn.session) {
		c.fail(req, fsm.Unavailable, "the leader is ending this session")
		return
	}
	c.reply(Reply{Conn: req.Conn, ID: req.ID, Op: req.Op})
}

// ping is answered on the leader once its leadership is confirmed; a
// follower holds it for the next keepalive round trip.
func (l *liveness) ping(c *Core, req *Request) {
	if c.soft.State == raft.StateLeader {
		l.confirm(c, &pendingRead{req: *req, ping: true})
		return
	}
	l.pings = append(l.pings, &pendingRead{req: *req, deadline: c.now + c.cfg.RequestTimeoutMs})
	if cn := c.conns[req.Conn]; cn != nil && cn.owed {
		l.sendKeepAlive(c)
	}
}

// carryOwedPings sends a keepalive now, on a follower, if a ping it holds
// for the next one belongs to a connection that has events waiting.
func (l *liveness) carryOwedPings(c *Core) {
	if c.soft.State == raft.StateLeader {
		return
	}
	for _, p := range l.pings {
		if cn := c.conns[p.req.Conn]; cn != nil && cn.owed {
			l.sendKeepAlive(c)
			return
		}
	}
}

func (l *liveness) handleKeepAliveAck(c *Core, ack *KeepAliveAck) {
	kept := l.keepalives[:0]
	for _, b := range l.keepalives {
		if b.id > ack.ID {
			kept = append(kept, b)
			continue
		}
		// An acknowledged keepalive proves every earlier one's sessions
		// were heard too, since each carried its pings' sessions again.
		if b.id == ack.ID {
			for _, p := range b.pings {
				if cn := c.conns[p.req.Conn]; cn != nil && slices.Contains(ack.Refused, cn.session) {
					c.fail(&p.req, fsm.Unavailable, "the leader did not renew this session")
					continue
				}
				c.reply(Reply{Conn: p.req.Conn, ID: p.req.ID, Op: p.req.Op})
			}
		} else {
			l.pings = append(l.pings, b.pings...)
		}
	}
	clear(l.keepalives[len(kept):])
	l.keepalives = kept
}

func (l *liveness) becameLeader(c *Core, term uint64) {
	l.active = false
	l.untrack()
	// Sessions heard here while following count from now.
	for s := range l.heardHere {
		l.track(c.now, s)
	}
	l.heardHere = map[string]bool{}
	l.renewTerm = 0
	l.proposeRenewal(c, term)
}

func (l *liveness) proposeRenewal(c *Core, term uint64) {
	if _, _, err := c.raft.Propose(fsm.Encode(fsm.RenewAll{Term: term})); err == nil {
		l.renewTerm = term
	}
}

func (l *liveness) lostLeadership() {
	l.active = false
	l.untrack()
	l.renewTerm = 0
}

// applied reacts to entries that open, end or renew sessions. It tells
// them apart from the result alone, without decoding the entry again: an
// open reports the session it opened at this index, a close the session as
// it was, and a renewal moves the machine's renewal index here.
func (l *liveness) applied(c *Core, e *raft.Entry, res fsm.Result) {
	if res.Code != fsm.OK {
		return
	}
	leader := c.soft.State == raft.StateLeader
	switch {
	case res.Session.ID != "" && res.Session.Opened == e.Index:
		if leader {
			l.track(c.now, res.Session.ID)
		}
	case res.Session.ID != "":
		delete(l.lastHeard, res.Session.ID)
		delete(l.expiring, res.Session.ID)
		delete(l.heardHere, res.Session.ID)
		c.endSessionWatches(res.Session.ID)
	case c.fsm.LastRenewal() == e.Index:
		if leader && c.fsm.LastRenewalTerm() == c.raft.Term() {
			// Every session gets a fresh full ttl from now.
			l.active = true
			for _, s := range c.fsm.Sessions() {
				l.track(c.now, s.ID)
			}
		}
	}
}

// tick sends keepalives (followers) or expires sessions (leader).
func (l *liveness) tick(c *Core) {
	if c.soft.State == raft.StateLeader {
		// Pings that waited while this node followed are answered once
		// its leadership is confirmed.
		for _, p := range l.pings {
			p.ping = true
			l.confirm(c, p)
		}
		l.pings = nil
		for _, b := range l.keepalives {
			for _, p := range b.pings {
				p.ping = true
				l.confirm(c, p)
			}
		}
		l.keepalives = nil
		if l.renewTerm != c.raft.Term() {
			l.proposeRenewal(c, c.raft.Term())
		}
		if l.active {
			l.expire(c)
		}
		return
	}
	// Keepalives unanswered for a retry interval give their pings back to
	// the next one; pings past their deadline fail.
	kept := l.keepalives[:0]
	for _, b := range l.keepalives {
		if c.now-b.sentAt >= c.cfg.ReadRetryMs {
			l.pings = append(l.pings, b.pings...)
			continue
		}
		kept = append(kept, b)
	}
	clear(l.keepalives[len(kept):])
	l.keepalives = kept
	l.pings = failExpired(c, l.pings, "no leader heard this keepalive in time")
	l.sendKeepAlive(c)
}

// sendKeepAlive sends the leader, from a follower, the sessions heard here
// since the last keepalive and the pings held for it.
func (l *liveness) sendKeepAlive(c *Core) {
	if c.soft.Lead == raft.None || (len(l.heardHere) == 0 && len(l.pings) == 0) {
		return
	}
	for _, p := range l.pings {
		if cn := c.conns[p.req.Conn]; cn != nil && cn.session != "" {
			l.heardHere[cn.session] = true
		}
	}
	sessions := make([]string, 0, len(l.heardHere))
	for s := range l.heardHere {
		sessions = append(sessions, s)
	}
	slices.Sort(sessions)
	l.nextBatch++
	c.send(c.soft.Lead, PeerMessage{KeepAlive: &KeepAlive{ID: l.nextBatch, Sessions: sessions}})
	l.keepalives = append(l.keepalives, &keepaliveBatch{id: l.nextBatch, sentAt: c.now, pings: l.pings})
	l.pings = nil
	l.heardHere = map[string]bool{}
}

// expire proposes the end of every session silent for longer than its ttl.
// It looks only at the sessions due (expiry.go).
func (l *liveness) expire(c *Core) {
	for len(l.due) > 0 && l.due[0].at < c.now {
		id := l.due.pop().session
		delete(l.queued, id)
		s, alive := c.fsm.Session(id)
		last, heard := l.lastHeard[id]
		switch {
		case !alive || !heard:
			// Ended (or named by a keepalive but never opened): forget it.
			delete(l.lastHeard, id)
		case l.expiring[id]:
			// Its end is proposed; applying it forgets the session.
		case c.now-last <= int64(s.TTLms):
			l.queued[id] = true
			l.due.push(expiry{at: last + int64(s.TTLms), session: id})
		default:
			if _, _, err := c.raft.Propose(fsm.Encode(fsm.CloseSession{ID: id, Expired: true})); err == nil {
				l.expiring[id] = true
			} else {
				// Try again at the next tick.
				l.queued[id] = true
				l.due.push(expiry{at: c.now, session: id})
			}
		}
	}
}
