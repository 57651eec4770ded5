package main

import (
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// closeSessionKind is the kind byte (the second) of an encoded CloseSession.
var closeSessionKind = fsm.Encode(fsm.CloseSession{})[1]

// logExpiries logs every session end this node itself proposed as leader
// because the session was silent for its ttl: the leader's decision, with
// the time it was made (within a loop turn: the entries of a Ready are the
// proposals of the ticks and requests just handled). A test of a real
// cluster reads these lines back as the expiry records of its history and
// checks them against its clients' pings (linearizability/history,
// CheckNoFalseExpiry). entries are the Ready's entries to persist; those
// of the term this node last led are its own proposals (one leader per
// term), also in a Ready that already says it stepped down.
//
//	level=INFO msg="session expiry decided" session=ID index=I term=T decided_at=RFC3339Nano reason="silent for its ttl"
func (n *node) logExpiries(entries []raft.Entry) {
	if n.soft.State == raft.StateLeader {
		n.ledTerm = n.hs.Term
	}
	if n.ledTerm == 0 {
		return
	}
	var now time.Time
	for i := range entries {
		e := &entries[i]
		if e.Term != n.ledTerm || e.Type != raft.EntryNormal || len(e.Data) < 2 || e.Data[1] != closeSessionKind {
			continue // decoding every entry would cost the leader's loop
		}
		cmd, err := fsm.Decode(e.Data)
		if err != nil {
			continue
		}
		if c, ok := cmd.(fsm.CloseSession); ok && c.Expired {
			if now.IsZero() {
				now = time.Now()
			}
			n.log.Info("session expiry decided", "session", c.ID, "index", e.Index, "term", e.Term,
				"decided_at", now.UTC().Format(time.RFC3339Nano), "reason", "silent for its ttl")
		}
	}
}
