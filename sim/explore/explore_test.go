package explore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExploreCorrectRaft(t *testing.T) {
	b := DefaultBounds()
	b.Depth = 8
	rep, err := Explore(b, time.Now().Add(time.Minute))
	require.NoError(t, err)
	t.Log(rep.String())
	require.Empty(t, rep.Violation, rep.String())
}

// A copy must be exact and independent: the same actions on the original
// and on the copy give states that hash equal, and acting on the copy does
// not change the original.
func TestCopyIsExactAndIndependent(t *testing.T) {
	b := DefaultBounds()
	w, err := newWorld(b)
	require.NoError(t, err)
	before := w.hash()
	c := deepCopy(w)
	require.Equal(t, before, c.hash())
	for step := 0; step < 6; step++ {
		acts := c.actions(b)
		require.NotEmpty(t, acts)
		a := acts[step%len(acts)]
		_, err := c.apply(a, b)
		require.NoError(t, err)
	}
	require.Equal(t, before, w.hash(), "acting on the copy changed the original")
	require.NotEqual(t, before, c.hash())

	// Replaying the same actions on a fresh copy of the original arrives at
	// the same state as the first copy.
	d := deepCopy(w)
	e := deepCopy(w)
	for step := 0; step < 6; step++ {
		ad, ae := d.actions(b), e.actions(b)
		require.Equal(t, len(ad), len(ae))
		a := ad[step%len(ad)]
		_, err := d.apply(a, b)
		require.NoError(t, err)
		_, err = e.apply(a, b)
		require.NoError(t, err)
		require.Equal(t, d.hash(), e.hash(), "step %d", step)
		e = deepCopy(e)
	}
	require.Equal(t, c.hash(), d.hash())
}
