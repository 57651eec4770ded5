package sim

import (
	"math"
	"time"
)

// Rand is the simulator's one source of randomness: xoshiro256** seeded by
// splitmix64. Every choice of a run — delays, losses, faults, election
// timeouts inside the raft cores, client operations — is drawn from the one
// Rand of its World, in the order the events happen, so a seed names a run.
// It is written out here rather than taken from math/rand so that its
// output can never change under us between Go releases.
type Rand struct{ s [4]uint64 }

func newRand(seed uint64) *Rand {
	r := &Rand{}
	x := seed
	for i := range r.s {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		r.s[i] = z ^ (z >> 31)
	}
	return r
}

func rotl(x uint64, k uint) uint64 { return (x << k) | (x >> (64 - k)) }

// Uint64 returns 64 random bits.
func (r *Rand) Uint64() uint64 {
	s := &r.s
	result := rotl(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = rotl(s[3], 45)
	return result
}

// Intn returns a number in [0, n); it implements raft.RandomSource. The
// modulo bias is below 2^-40 for the small n the simulator uses.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("sim: Intn of a non-positive bound")
	}
	return int(r.Uint64() % uint64(n))
}

// Float64 returns a number in [0, 1).
func (r *Rand) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// Chance reports true with probability p.
func (r *Rand) Chance(p float64) bool { return p > 0 && r.Float64() < p }

// Range returns a number in [lo, hi).
func (r *Rand) Range(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// Duration returns a duration in [lo, hi).
func (r *Rand) Duration(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Uint64()%uint64(hi-lo))
}

// Exp returns an exponentially distributed duration with the given mean.
func (r *Rand) Exp(mean time.Duration) time.Duration {
	if mean <= 0 {
		return 0
	}
	return time.Duration(-math.Log(1-r.Float64()) * float64(mean))
}

// Pareto returns a Pareto-distributed duration (scale, shape alpha), capped
// at limit: the heavy tail of network delays, where most messages are quick
// and a few take very long.
func (r *Rand) Pareto(scale time.Duration, alpha float64, limit time.Duration) time.Duration {
	d := time.Duration(float64(scale) / math.Pow(1-r.Float64(), 1/alpha))
	if d > limit || d < 0 {
		return limit
	}
	return d
}
