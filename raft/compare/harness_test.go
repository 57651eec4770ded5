package compare

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// cluster is three servers of either implementation, as the harness
// drives them.
type cluster interface {
	// propose submits one command on the leader; false if it was refused.
	propose(data []byte) bool
	// round lets every server carry out its Readys and delivers every
	// message they sent, once; false if there was nothing to do.
	round() bool
	// tick advances every server's clock.
	tick()
	// applied is the number of commands every server has applied.
	applied() int
}

const compactEvery = 4096

// run keeps window proposals outstanding until n have been applied on
// every server, and returns the CPU time it took.
func run(b *testing.B, c cluster, window, n int) time.Duration {
	payload := make([]byte, 64)
	proposed := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	idle := 0
	for c.applied() < n {
		for proposed < n && proposed-c.applied() < window {
			if !c.propose(payload) {
				break
			}
			proposed++
		}
		if c.round() {
			idle = 0
			continue
		}
		// Quiet: only time moves things on (an election, a heartbeat).
		c.tick()
		if idle++; idle > 1000 {
			b.Fatalf("no progress: %d applied of %d", c.applied(), n)
		}
	}
	elapsed := cpuTime() - start
	b.StopTimer()
	return elapsed
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "proposals/CPU-s")
}

var windows = []int{1, 64, 1024}

func BenchmarkCompare(b *testing.B) {
	for _, window := range windows {
		b.Run("impl=haven/window="+itoa(window), func(b *testing.B) {
			report(b, run(b, newHavenCluster(b), window, b.N))
		})
		b.Run("impl=etcd/window="+itoa(window), func(b *testing.B) {
			report(b, run(b, newEtcdCluster(b), window, b.N))
		})
	}
}

// TestBothClustersApply checks the harness itself: both clusters elect a
// leader and apply what they are given, at every window.
func TestBothClustersApply(t *testing.T) {
	for _, window := range windows {
		for name, mk := range map[string]func(testing.TB) cluster{"haven": newHavenCluster, "etcd": newEtcdCluster} {
			c := mk(t)
			payload := make([]byte, 64)
			proposed := 0
			for range 100000 {
				if c.applied() >= 5000 {
					break
				}
				for proposed-c.applied() < window && c.propose(payload) {
					proposed++
				}
				c.round()
				c.tick()
			}
			if c.applied() < 5000 {
				t.Fatalf("%s window %d: applied %d", name, window, c.applied())
			}
		}
	}
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}

type seqRand struct{ r *rand.Rand }

func (s seqRand) Intn(n int) int { return s.r.IntN(n) }
