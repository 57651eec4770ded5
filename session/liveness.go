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

	// Leader only.
	lastHeard map[string]int64
	active    bool            // RenewAll of this term applied: expiry runs
	renewTerm uint64          // term whose RenewAll was proposed
	expiring  map[string]bool // expiry proposed, not yet applied
}

func (l *liveness) init() {
	l.heardHere = map[string]bool{}
	l.lastHeard = map[string]int64{}
	l.expiring = map[string]bool{}
}

// heard records that a session's client spoke to this node.
func (l *liveness) heard(c *Core, session string) {
	if c.soft.State == raft.StateLeader {
		l.lastHeard[session] = c.now
		return
	}
	l.heardHere[session] = true
}

func (l *liveness) handleKeepAlive(c *Core, ka *KeepAlive) {
	if c.soft.State != raft.StateLeader {
		return
	}
	for _, s := range ka.Sessions {
		l.lastHeard[s] = c.now
	}
}

func (l *liveness) becameLeader(c *Core, term uint64) {
	l.active = false
	l.lastHeard = map[string]int64{}
	l.expiring = map[string]bool{}
	// Sessions heard here while following count from now.
	for s := range l.heardHere {
		l.lastHeard[s] = c.now
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
	l.lastHeard = map[string]int64{}
	l.expiring = map[string]bool{}
	l.renewTerm = 0
}

// applied reacts to entries that open, end or renew sessions.
func (l *liveness) applied(c *Core, e *raft.Entry, res fsm.Result) {
	if res.Code != fsm.OK {
		return
	}
	leader := c.soft.State == raft.StateLeader
	switch cmd := decodeKind(e.Data); cmd.(type) {
	case fsm.OpenSession:
		if leader {
			l.lastHeard[res.Session.ID] = c.now
		}
	case fsm.CloseSession:
		delete(l.lastHeard, res.Session.ID)
		delete(l.expiring, res.Session.ID)
		delete(l.heardHere, res.Session.ID)
		c.endSessionWatches(res.Session.ID)
	case fsm.RenewAll:
		if leader && cmd.(fsm.RenewAll).Term == c.raft.Term() {
			// Every session gets a fresh full ttl from now.
			l.active = true
			for _, s := range c.fsm.Sessions() {
				l.lastHeard[s.ID] = c.now
			}
		}
	}
}

// decodeKind decodes an entry's command, or returns nil.
func decodeKind(data []byte) fsm.Command {
	cmd, err := fsm.Decode(data)
	if err != nil {
		return nil
	}
	return cmd
}

// tick sends keepalives (followers) or expires sessions (leader).
func (l *liveness) tick(c *Core) {
	switch {
	case c.soft.State == raft.StateLeader:
		if l.renewTerm != c.raft.Term() {
			l.proposeRenewal(c, c.raft.Term())
		}
		if l.active {
			l.expire(c)
		}
	case c.soft.Lead != raft.None && len(l.heardHere) > 0:
		sessions := make([]string, 0, len(l.heardHere))
		for s := range l.heardHere {
			sessions = append(sessions, s)
		}
		slices.Sort(sessions)
		c.send(c.soft.Lead, PeerMessage{KeepAlive: &KeepAlive{Sessions: sessions}})
		l.heardHere = map[string]bool{}
	}
}

// expire proposes the end of every session silent for longer than its ttl.
func (l *liveness) expire(c *Core) {
	for _, s := range c.fsm.Sessions() {
		last, ok := l.lastHeard[s.ID]
		if !ok {
			l.lastHeard[s.ID] = c.now
			continue
		}
		if l.expiring[s.ID] || c.now-last <= int64(s.TTLms) {
			continue
		}
		if _, _, err := c.raft.Propose(fsm.Encode(fsm.CloseSession{ID: s.ID, Expired: true})); err == nil {
			l.expiring[s.ID] = true
		}
	}
}
