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

// HistoryRecorder is a workload that adds its own records to the history.
type HistoryRecorder interface {
	// CommittedAt is when the entry at index was first known committed
	// (0 if it does not keep that).
	CommittedAt(index uint64) int64
	// HistoryRecords appends the workload's records to out, after the
	// committed log's.
	HistoryRecords(w *World, out []history.Record) []history.Record
}

// History is the run's history: the committed log, then the records the
// workload adds if it is a HistoryRecorder.
func (w *World) History() []history.Record {
	h, _ := w.workload.(HistoryRecorder)
	log := w.CommittedLog()
	recs := make([]history.Record, 0, len(log))
	for _, e := range log {
		rec := &history.Entry{Index: e.Index, Term: e.Term, Data: e.Data}
		if e.Type == raft.EntryConfChange {
			rec.Type = "confchange"
		}
		if h != nil {
			rec.At = h.CommittedAt(e.Index)
		}
		recs = append(recs, history.Record{Entry: rec})
	}
	if h != nil {
		recs = h.HistoryRecords(w, recs)
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
	for _, r := range w.History() {
		if err := hw.Write(r); err != nil {
			return err
		}
	}
	if err := hw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// historyError wraps a failure to write the history file.
func historyError(path string, err error) error {
	return fmt.Errorf("sim: writing the history to %s: %w", path, err)
}
