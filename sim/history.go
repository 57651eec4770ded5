package sim

import (
	"fmt"
	"os"

	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/raft"
)

// The run's history in the format of package linearizability/history, the
// one real clusters' recorders write too (havensim -history FILE). Every
// workload writes the committed log; the sessions workload adds its list
// operations with their call and return times, its sessions, the pings
// answered OK or SessionExpired, and the leaders' expiry decisions.
// (Watch registrations and deliveries are not recorded yet.)

// historyWriter is a workload that adds its own records to the history.
type historyWriter interface {
	writeHistory(w *World, hw *history.Writer) error
}

// writeHistory writes the run's history to path.
func (w *World) writeHistory(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	hw := history.NewWriter(f)
	for _, e := range w.CommittedLog() {
		rec := &history.Entry{Index: e.Index, Term: e.Term, Data: e.Data}
		if e.Type == raft.EntryConfChange {
			rec.Type = "confchange"
		}
		if err := hw.Write(history.Record{Entry: rec}); err != nil {
			return err
		}
	}
	if h, ok := w.workload.(historyWriter); ok {
		if err := h.writeHistory(w, hw); err != nil {
			return err
		}
	}
	if err := hw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func (wl *sessionsWorkload) writeHistory(w *World, hw *history.Writer) error {
	for i := range wl.ops {
		op := &wl.ops[i]
		rec := &history.Op{Client: op.client, Call: int64(op.call), Return: -1, Input: op.input}
		if op.state == opAnswered {
			out := op.out
			rec.Return, rec.Output = int64(op.ret), &out
		}
		if err := hw.Write(history.Record{Op: rec}); err != nil {
			return err
		}
	}
	t := &wl.truth
	for _, id := range sortedKeys(wl.sessions) {
		rec := wl.sessions[id]
		s := &history.Session{ID: id, Client: rec.client, TTLms: rec.ttl, Opened: t.opened[id].index}
		end, ended := t.ends[id]
		if ended {
			s.Ended, s.Expired = end.index, end.expired
		}
		if err := hw.Write(history.Record{Session: s}); err != nil {
			return err
		}
		for _, sent := range rec.okPings {
			if err := hw.Write(history.Record{Ping: &history.Ping{Client: rec.client, Session: id, Sent: int64(sent), Answer: "ok"}}); err != nil {
				return err
			}
		}
		for _, at := range rec.expiredAnswers {
			if err := hw.Write(history.Record{Ping: &history.Ping{Client: rec.client, Session: id, Answer: "SessionExpired", At: int64(at)}}); err != nil {
				return err
			}
		}
		if ended && end.expired && end.proposed {
			e := &history.Expiry{Session: id, TTLms: rec.ttl, Index: end.index, ProposedAt: int64(end.proposedAt)}
			if err := hw.Write(history.Record{Expiry: e}); err != nil {
				return err
			}
		}
	}
	return nil
}

// historyError wraps a failure to write the history file.
func historyError(path string, err error) error {
	return fmt.Errorf("sim: writing the history to %s: %w", path, err)
}
