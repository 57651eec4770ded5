package sessions

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/sim"
	"github.com/stretchr/testify/require"
)

// TestHistoryFileIsCheckedByTheSharedCheckers: a run writes its history as
// JSON lines, and the checkers of linearizability/history — the ones a real
// cluster's recorded history goes through — read it back and come to the
// run's verdict: the watch checker passes the same number of events, the
// lists history has the run's operations and is linearizable, no expiry is
// false. The same history with one delivery dropped, or one delivered
// twice, fails the watch checker.
func TestHistoryFileIsCheckedByTheSharedCheckers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	r := sim.Run(sim.Config{Seed: 5, Duration: 10 * time.Second, Faults: sim.FaultsHeavy, Workload: "sessions", HistoryPath: path})
	require.NoError(t, r.Err)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := history.Read(f)
	require.NoError(t, err)
	counts := map[string]int{}
	lastAt := int64(0)
	for _, rec := range recs {
		switch {
		case rec.Entry != nil:
			counts["entry"]++
			require.GreaterOrEqual(t, rec.Entry.At, lastAt, "entry %d: its commit time", rec.Entry.Index)
			lastAt = rec.Entry.At
		case rec.Op != nil:
			counts["op"]++
		case rec.Session != nil:
			counts["session"]++
		case rec.Ping != nil:
			counts["ping"]++
		case rec.Expiry != nil:
			counts["expiry"]++
		case rec.Watch != nil && rec.Watch.Stop:
			counts["stop"]++
		case rec.Watch != nil:
			counts["watch"]++
		case rec.Delivery != nil:
			counts["delivery"]++
		}
	}
	for _, kind := range []string{"entry", "op", "session", "ping", "expiry", "watch", "stop", "delivery"} {
		require.Positive(t, counts[kind], "%s records", kind)
	}
	require.Positive(t, lastAt, "commit times are recorded")
	require.Equal(t, r.Workload.WatchEvents, counts["delivery"], "every delivery the run checked is in the history")

	require.NoError(t, history.CheckNoFalseExpiry(recs, history.ExpiryBounds{Drift: r.Params.Drift, Tick: sim.TickInterval}))
	require.NoError(t, history.CheckWatches(recs))
	h, err := history.ListsHistory(recs)
	require.NoError(t, err)
	ops := h.Operations()
	require.Equal(t, r.Workload.Ops, len(ops), "the lists history read back is the run's")
	res, err := linearizability.Check(linearizability.ListsModel, ops, time.Minute)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictOk, res.Verdict)

	// Tamper with a stream: one delivery that has a later one of the same
	// watch dropped (a gap), or delivered twice (a duplicate).
	i := deliveryWithAnother(recs)
	require.GreaterOrEqual(t, i, 0, "a watch got two events")
	gap := append(append([]history.Record{}, recs[:i]...), recs[i+1:]...)
	require.ErrorContains(t, history.CheckWatches(gap), "a gap")
	dup := append(append([]history.Record{}, recs[:i+1]...), recs[i:]...)
	require.ErrorContains(t, history.CheckWatches(dup), "a duplicate or out-of-order event")

	// And the file is exactly what a second write of the records gives.
	var buf bytes.Buffer
	hw := history.NewWriter(&buf)
	for _, rec := range recs {
		require.NoError(t, hw.Write(rec))
	}
	require.NoError(t, hw.Flush())
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(file), buf.String(), "written, read and written again")
}

// deliveryWithAnother finds a delivery after which its watch gets
// another event, with no registration or stop in between.
func deliveryWithAnother(recs []history.Record) int {
	for i, rec := range recs {
		if d := rec.Delivery; d != nil && hasLaterDelivery(recs[i+1:], d.Client, d.Path) {
			return i
		}
	}
	return -1
}

func hasLaterDelivery(recs []history.Record, client int, path string) bool {
	for _, rec := range recs {
		if w := rec.Watch; w != nil && w.Client == client && w.Path == path {
			return false
		}
		if d := rec.Delivery; d != nil && d.Client == client && d.Path == path {
			return true
		}
	}
	return false
}
