package sim

import (
	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
)

// Finish checks a settled sessions run: every node's state machine is the
// committed log's; watchers missed no change before their session ended;
// every SessionExpired answer is borne out by the log; and the history,
// every outcome a client never learned read from the log and every session
// end in it, is linearizable (linearizability/history.ListsHistory builds
// it from the run's history records).
func (wl *sessionsWorkload) Finish(w *World, _ []Service) (WorkloadReport, error) {
	report := WorkloadReport{Acked: wl.acked, Unknown: wl.unknown, WriteLatency: wl.latency}
	t := &wl.truth
	t.advance(wl)
	report.Sessions = len(t.opened)
	report.WatchEvents = t.watches.Delivered()
	report.Requests = wl.answered

	want := bytesDigest(t.machine.Snapshot())
	for _, n := range w.nodes {
		if c, ok := n.app.(*coreReplica); ok && n.up && n.applied == t.applied && c.digest() != want {
			return report, w.errorf("node %d applied the committed log through %d but its state machine differs from the log's", n.id, n.applied)
		}
	}
	// The end of the watch checker: every watch still open has been given
	// every change to its list before its session ended (PROTOCOL.md:
	// events come "for as long as the session lives").
	if err := t.watches.Complete(); err != nil {
		return report, w.errorf("watch checker: %v", err)
	}
	for _, id := range sortedKeys(wl.sessions) {
		rec := wl.sessions[id]
		end, ended := t.ends[id]
		for _, at := range rec.expiredAnswers {
			if !ended || end.committedAt > at {
				return report, w.errorf("session %s: its client was told SessionExpired at %v, but the log had not ended it then", id, at)
			}
		}
		wl.checkFalseExpiry(rec)
	}
	if w.failure != nil {
		return report, w.failure
	}

	h, err := history.ListsHistory(w.historyRecords())
	if err != nil {
		return report, err
	}
	ops := h.Operations()
	report.Ops = len(ops)
	err = checkLinearizable(w, wl.cfg, linearizability.ListsModel, ops, "list operations", &report)
	return report, err
}
