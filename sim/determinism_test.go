package sim

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSameSeedSameRun runs seeds twice and compares: the same seed must give
// a byte-identical trace, and the run's hash must not depend on whether a
// trace is written, nor on how many seeds run alongside it. It does so for
// both workloads: raft with the key-value store, and the service core.
func TestSameSeedSameRun(t *testing.T) {
	for _, workload := range []string{"kv", "sessions"} {
		t.Run(workload, func(t *testing.T) { sameSeedSameRun(t, workload) })
	}
}

func sameSeedSameRun(t *testing.T, workload string) {
	hashes := map[uint64]uint64{}
	for seed := uint64(1); seed <= 6; seed++ {
		cfg := Config{Seed: seed, Duration: 10 * time.Second, Faults: FaultsSwarm, Workload: workload}
		var first, second bytes.Buffer
		cfg.Trace = &first
		r1 := Run(cfg)
		cfg.Trace = &second
		r2 := Run(cfg)
		cfg.Trace = nil
		r3 := Run(cfg)
		require.NoError(t, r1.Err)
		require.NotZero(t, first.Len())
		require.Equal(t, sha256.Sum256(first.Bytes()), sha256.Sum256(second.Bytes()), "seed %d: traces differ", seed)
		require.Equal(t, r1.TraceHash, r2.TraceHash)
		require.Equal(t, r1.TraceHash, r3.TraceHash, "seed %d: tracing changed the run", seed)
		require.Equal(t, r1.Stats, r3.Stats)
		require.Equal(t, r1.Workload.Ops, r3.Workload.Ops)
		for other, h := range hashes {
			require.NotEqual(t, h, r1.TraceHash, "seeds %d and %d ran alike", other, seed)
		}
		hashes[seed] = r1.TraceHash
	}
	// In parallel, on a worker pool, each seed still runs alike.
	camp := Campaign{Base: Config{Duration: 10 * time.Second, Faults: FaultsSwarm, Workload: workload}, Seeds: seedRange(1, 6), Workers: 3}
	sum := camp.Run()
	requirePassed(t, sum)
	require.Equal(t, hashes, sum.Hashes)
}
