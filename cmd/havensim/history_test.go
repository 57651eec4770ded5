package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/stretchr/testify/require"
)

// TestHistoryReadsBackToTheSameVerdict: the history `havensim -history`
// writes reads back, and the checkers of linearizability/history come to
// the run's verdict on it: as many watch events checked, the lists history
// as many operations and linearizable, no false expiry.
func TestHistoryReadsBackToTheSameVerdict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	code, out, errOut := havensim("-seed", "4", "-duration", "5s", "-workload", "sessions", "-faults", "swarm", "-history", path, "-json")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum struct {
		Ops    int `json:"ops"`
		Events int `json:"watch_events_checked"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &sum))
	require.Positive(t, sum.Events)

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := history.Read(f)
	require.NoError(t, err)
	deliveries := 0
	for _, r := range recs {
		if r.Delivery != nil {
			deliveries++
		}
	}
	require.Equal(t, sum.Events, deliveries)
	require.NoError(t, history.CheckWatches(recs))
	// A run draws its drift at most 10% (sim/params.go): with that slack
	// the expiries of a passing run are not false.
	require.NoError(t, history.CheckNoFalseExpiry(recs, history.ExpiryBounds{Drift: 0.1, Tick: 10 * time.Millisecond}))
	h, err := history.ListsHistory(recs)
	require.NoError(t, err)
	ops := h.Operations()
	require.Equal(t, sum.Ops, len(ops))
	res, err := linearizability.Check(linearizability.ListsModel, ops, time.Minute)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictOk, res.Verdict)
}
