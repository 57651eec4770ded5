package sim

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/havenproject/haven/linearizability/history"
	"github.com/stretchr/testify/require"
)

// TestHistoryFileIsCheckedByTheSharedCheckers: a run writes its history as
// JSON lines, and the checkers of linearizability/history — the ones a real
// cluster's recorded history goes through — accept it.
func TestHistoryFileIsCheckedByTheSharedCheckers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	r := Run(Config{Seed: 5, Duration: 10 * time.Second, Faults: FaultsHeavy, Workload: "sessions", HistoryPath: path})
	require.NoError(t, r.Err)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := history.Read(f)
	require.NoError(t, err)
	counts := map[string]int{}
	for _, rec := range recs {
		switch {
		case rec.Entry != nil:
			counts["entry"]++
		case rec.Op != nil:
			counts["op"]++
		case rec.Session != nil:
			counts["session"]++
		case rec.Ping != nil:
			counts["ping"]++
		case rec.Expiry != nil:
			counts["expiry"]++
		}
	}
	for _, kind := range []string{"entry", "op", "session", "ping", "expiry"} {
		require.Positive(t, counts[kind], "%s records", kind)
	}
	require.NoError(t, history.CheckNoFalseExpiry(recs, history.ExpiryBounds{Drift: r.Params.Drift, Tick: TickInterval}))
}
