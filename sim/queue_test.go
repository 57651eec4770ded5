package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestQueueOrder: events come out by time, and events of the same time in
// the order they were scheduled, however they were interleaved.
func TestQueueOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q eventQueue
		type key struct {
			at  time.Duration
			ref int32
		}
		var want []key
		ops := rapid.SliceOfN(rapid.Int64Range(-1, 20), 1, 200).Draw(t, "ops")
		var got []key
		for i, op := range ops {
			if op < 0 {
				if q.len() > 0 {
					e := q.pop()
					got = append(got, key{e.at, e.ref})
				}
				continue
			}
			at := time.Duration(op)
			if len(got) > 0 && at < got[len(got)-1].at {
				at = got[len(got)-1].at // never schedule into the past
			}
			q.push(event{at: at, ref: int32(i)})
			want = append(want, key{at, int32(i)})
		}
		for q.len() > 0 {
			e := q.pop()
			got = append(got, key{e.at, e.ref})
		}
		slices.SortStableFunc(want, func(a, b key) int { return int(a.at - b.at) })
		if !slices.Equal(got, want) {
			t.Fatalf("popped %v, want %v", got, want)
		}
	})
}

func TestQueueDoesNotAllocateOnceGrown(t *testing.T) {
	var q eventQueue
	for i := range 1000 {
		q.push(event{at: time.Duration(i % 37)})
	}
	for q.len() > 0 {
		q.pop()
	}
	allocs := testing.AllocsPerRun(100, func() {
		for i := range 500 {
			q.push(event{at: time.Duration(i * 7 % 101)})
		}
		for q.len() > 0 {
			q.pop()
		}
	})
	require.Zero(t, allocs)
}
