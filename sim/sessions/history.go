package sessions

import (
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/sim"
)

// What the sessions workload adds to the run's history (sim's history.go
// writes the committed log): when each entry was known committed, its list
// operations with their call and return times, its sessions, the pings
// answered OK or SessionExpired, the leaders' expiry decisions, and (when
// the history is written) its watch registrations, stops and deliveries in
// the order they happened.

// CommittedAt is when the entry at index was first known committed.
func (wl *sessionsWorkload) CommittedAt(index uint64) int64 {
	if index == 0 || index > uint64(len(wl.truth.committedAt)) {
		return 0
	}
	return int64(wl.truth.committedAt[index-1])
}

// HistoryRecords adds the workload's list operations, sessions, pings,
// expiry decisions and watch records to the history.
func (wl *sessionsWorkload) HistoryRecords(w *sim.World, recs []history.Record) []history.Record {
	for i := range wl.ops {
		op := &wl.ops[i]
		rec := &history.Op{Client: op.client, Call: int64(op.call), Return: -1, Input: op.input}
		switch op.state {
		case opAnswered:
			out := op.out
			rec.Return, rec.Output = int64(op.ret), &out
		case opResolve:
			rec.NotApplied = op.certainlyNot
		}
		recs = append(recs, history.Record{Op: rec})
	}
	t := &wl.truth
	for _, id := range sortedKeys(wl.sessions) {
		rec := wl.sessions[id]
		opened := t.opened[id]
		s := &history.Session{ID: id, Client: rec.client, TTLms: rec.ttl, Opened: opened.index, OpenedAt: int64(opened.committedAt)}
		end, ended := t.ends[id]
		if ended {
			s.Ended, s.Expired, s.EndedAt = end.index, end.expired, int64(end.committedAt)
		}
		recs = append(recs, history.Record{Session: s})
		for _, sent := range rec.okPings {
			recs = append(recs, history.Record{Ping: &history.Ping{Client: rec.client, Session: id, Sent: int64(sent), Answer: "ok"}})
		}
		for _, at := range rec.expiredAnswers {
			recs = append(recs, history.Record{Ping: &history.Ping{Client: rec.client, Session: id, Answer: "SessionExpired", At: int64(at)}})
		}
		if ended && end.expired && end.proposed {
			e := &history.Expiry{Session: id, TTLms: rec.ttl, Index: end.index, ProposedAt: int64(end.proposedAt)}
			recs = append(recs, history.Record{Expiry: e})
		}
	}
	return append(recs, wl.watchRecords...)
}
