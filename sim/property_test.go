package sim

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestFaultSchedules draws whole fault schedules — which faults, when, for
// how long, on which nodes — and the network's misbehaviour, and requires
// every check to pass. When one fails, rapid shrinks the schedule to a small
// one that still fails, which is far easier to read than a swarm seed.
func TestFaultSchedules(t *testing.T) {
	const duration = 5 * time.Second
	fault := rapid.Custom(func(t *rapid.T) Fault {
		return Fault{
			At:     time.Duration(rapid.Int64Range(0, int64(duration)).Draw(t, "at")),
			Kind:   FaultKind(rapid.IntRange(0, int(numFaultKinds)-1).Draw(t, "kind")),
			Length: time.Duration(rapid.Int64Range(int64(10*time.Millisecond), int64(2*time.Second)).Draw(t, "length")),
			Nodes:  rapid.Uint32Range(0, 1<<5-1).Draw(t, "nodes"),
			Pick:   rapid.Uint64().Draw(t, "pick"),
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		schedule := rapid.SliceOfN(fault, 0, 12).Draw(t, "schedule")
		slices.SortStableFunc(schedule, func(a, b Fault) int { return int(a.At - b.At) })
		params := calmParams()
		params.Loss = rapid.SampledFrom([]float64{0, 0.02, 0.1}).Draw(t, "loss")
		params.Duplicate = rapid.SampledFrom([]float64{0, 0.05}).Draw(t, "duplicate")
		params.Reorder = rapid.SampledFrom([]float64{0, 0.05}).Draw(t, "reorder")
		params.FsyncMean = rapid.SampledFrom([]time.Duration{200 * time.Microsecond, 5 * time.Millisecond}).Draw(t, "fsync")
		params.CrashPoint = rapid.SampledFrom([]float64{0, 0.01}).Draw(t, "crashpoint")
		params.CompactEvery = rapid.SampledFrom([]uint64{5, 100}).Draw(t, "compact")
		params.MaxMsgBytes = rapid.SampledFrom([]uint64{64, 1 << 20}).Draw(t, "maxmsg")
		params.FaultLength = 100 * time.Millisecond
		params.HotKeys = 0.5
		cfg := Config{
			Seed:     rapid.Uint64().Draw(t, "seed"),
			Nodes:    rapid.SampledFrom([]int{3, 5}).Draw(t, "nodes"),
			Duration: duration,
			Params:   &params,
			Schedule: schedule,
		}
		r := Run(cfg)
		if r.Err != nil {
			t.Fatalf("%v\nschedule:\n%s", r.Err, scheduleString(schedule))
		}
	})
}

func scheduleString(s []Fault) string {
	out := ""
	for _, f := range s {
		out += "  " + f.String() + "\n"
	}
	return out
}
