package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTestClockRunsAtItsRateAndOnlyJumpsForward(t *testing.T) {
	c := &testClock{realAt: time.Now(), rate: 1}
	require.True(t, c.set(1, 10*time.Second))
	e := c.elapsed()
	require.GreaterOrEqual(t, e, 10*time.Second, "jumped 10 s")
	require.False(t, c.set(1, 5*time.Second), "a smaller total does not jump back")
	require.GreaterOrEqual(t, c.elapsed(), e, "never back")
	require.True(t, c.set(4, 10*time.Second))
	before := c.elapsed()
	time.Sleep(50 * time.Millisecond)
	gained := c.elapsed() - before
	require.GreaterOrEqual(t, gained, 200*time.Millisecond, "four times as fast: %v in 50 ms", gained)
}

func TestLoopClockIsTheMachinesWithoutTheHook(t *testing.T) {
	t.Setenv(envClockControl, "")
	f := loopClock(nil)
	time.Sleep(10 * time.Millisecond)
	e := f()
	require.GreaterOrEqual(t, e, 10*time.Millisecond)
	require.Less(t, e, 5*time.Second)
}
