package raft

import (
	"testing"
)

// BenchmarkClusterThroughput measures proposals committed per second through
// a 3-server in-memory cluster (no disk, no encoding): each round the leader
// takes 64 proposals, then the network settles, so each Ready cycle
// persists, sends and applies many entries at once (batching). A proposal
// counts once it is applied on every server. Logs are compacted as a host
// would, to keep memory flat.
func BenchmarkClusterThroughput(b *testing.B) {
	const batch = 64
	c := newCluster(b, 3, func(cfg *Config) {
		cfg.MaxInflightMsgs = 256
		cfg.MaxMsgBytes = 1 << 20
	})
	c.checks = false
	l := c.waitLeader()
	c.tick(1)
	leader := c.node(l)
	payload := make([]byte, 64)

	b.ReportAllocs()
	b.ResetTimer()
	var last uint64
	for round, proposed := 0, 0; proposed < b.N; round++ {
		for i := 0; i < batch && proposed < b.N; i++ {
			index, _, err := leader.Propose(payload)
			if err != nil {
				b.Fatal(err)
			}
			last = index
			proposed++
		}
		c.deliverAll()
		if round%256 == 255 {
			for _, id := range c.ids {
				c.compact(id)
			}
		}
	}
	// The followers learn the last commit index from the next heartbeat.
	for !appliedEverywhere(c, last) {
		c.tick(1)
	}
	b.StopTimer()
	if leader.state != StateLeader {
		b.Fatal("leadership changed during the benchmark")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func appliedEverywhere(c *cluster, index uint64) bool {
	for _, id := range c.ids {
		if c.nodes[id].lastApp < index {
			return false
		}
	}
	return true
}
