package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramPercentiles(t *testing.T) {
	var h Histogram
	require.Zero(t, h.Percentile(50))
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}}
	for _, tt := range tests {
		got := h.Percentile(tt.p)
		// Buckets are 10 per decade: within 26% above the true value.
		require.GreaterOrEqual(t, got, tt.want, "p%v", tt.p)
		require.LessOrEqual(t, float64(got), float64(tt.want)*1.26, "p%v", tt.p)
	}
	require.Equal(t, 100*time.Millisecond, h.Max)
	var other Histogram
	other.Record(2 * time.Second)
	h.Merge(&other)
	require.Equal(t, uint64(101), h.Count)
	require.Equal(t, 2*time.Second, h.Percentile(100))
}
