package sessions

import (
	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/sim"
)

// Finish checks a settled sessions run: every node's state machine is the
// committed log's; watchers missed no change before their session ended;
// every SessionExpired answer is borne out by the log; and the history,
// every outcome a client never learned read from the log and every session
// end in it, is linearizable (linearizability/history.ListsHistory builds
// it from the run's history records).
func (wl *sessionsWorkload) Finish(w *sim.World, _ []sim.Service) (sim.WorkloadReport, error) {
	report := sim.WorkloadReport{Acked: wl.acked, Unknown: wl.unknown, WriteLatency: wl.latency}
	t := &wl.truth
	t.advance(wl)
	report.Sessions = len(t.opened)
	report.WatchEvents = t.watches.Delivered()
	report.Requests = wl.answered

	if err := w.CheckCoreReplicas(t.applied, t.machine.Snapshot()); err != nil {
		return report, err
	}
	// The end of the watch checker: every watch still open has been given
	// every change to its list before its session ended (PROTOCOL.md:
	// events come "for as long as the session lives").
	if err := t.watches.Complete(); err != nil {
		return report, w.Errorf("watch checker: %v", err)
	}
	for _, id := range sortedKeys(wl.sessions) {
		rec := wl.sessions[id]
		end, ended := t.ends[id]
		for _, at := range rec.expiredAnswers {
			if !ended || end.committedAt > at {
				return report, w.Errorf("session %s: its client was told SessionExpired at %v, but the log had not ended it then", id, at)
			}
		}
		wl.checkFalseExpiry(rec)
	}
	if w.Failure() != nil {
		return report, w.Failure()
	}

	h, err := history.ListsHistory(w.History())
	if err != nil {
		return report, err
	}
	ops := h.Operations()
	report.Ops = len(ops)
	err = sim.CheckLinearizable(w, wl.cfg, linearizability.ListsModel, ops, "list operations", &report)
	return report, err
}
