package sim

import (
	"fmt"
	"os"

	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/raft"
)

// The run's history in the format of package linearizability/history, the
// one real clusters' recorders write too (havensim -history FILE). Every
// workload writes the committed log; the sessions workload adds when each
// entry was known committed, its list operations with their call and
// return times, its sessions, the pings answered OK or SessionExpired, the
// leaders' expiry decisions, and (when the history is written) its watch
// registrations, stops and deliveries in the order they happened. The same
// records are what the sessions workload's lists history is built from
// (history.ListsHistory), so a written history re-checks to the run's
// verdict.

// historyRecorder is a workload that adds its own records to the history.
type historyRecorder interface {
	// committedAt is when the entry at index was first known committed
	// (0 if it does not keep that).
	committedAt(index uint64) int64
	historyRecords(w *World, out []history.Record) []history.Record
}

// historyRecords is the run's history.
func (w *World) historyRecords() []history.Record {
	h, _ := w.workload.(historyRecorder)
	log := w.CommittedLog()
	recs := make([]history.Record, 0, len(log))
	for _, e := range log {
		rec := &history.Entry{Index: e.Index, Term: e.Term, Data: e.Data}
		if e.Type == raft.EntryConfChange {
			rec.Type = "confchange"
		}
		if h != nil {
			rec.At = h.committedAt(e.Index)
		}
		recs = append(recs, history.Record{Entry: rec})
	}
	if h != nil {
		recs = h.historyRecords(w, recs)
	}
	return recs
}

// writeHistory writes the run's history to path.
func (w *World) writeHistory(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	hw := history.NewWriter(f)
	for _, r := range w.historyRecords() {
		if err := hw.Write(r); err != nil {
			return err
		}
	}
	if err := hw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func (wl *sessionsWorkload) committedAt(index uint64) int64 {
	if index == 0 || index > uint64(len(wl.truth.committedAt)) {
		return 0
	}
	return int64(wl.truth.committedAt[index-1])
}

func (wl *sessionsWorkload) historyRecords(w *World, recs []history.Record) []history.Record {
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

// historyError wraps a failure to write the history file.
func historyError(path string, err error) error {
	return fmt.Errorf("sim: writing the history to %s: %w", path, err)
}
