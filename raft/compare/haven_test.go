package compare

import (
	"math/rand/v2"
	"testing"

	"github.com/havenproject/haven/raft"
)

type havenNode struct {
	r       *raft.Raft
	stored  []raft.Entry // the durable log, as a host keeps it
	applied int
	last    uint64
}

type havenCluster struct {
	nodes  []*havenNode
	queue  []raft.Message
	spare  []raft.Message
	leader *havenNode
}

func newHavenCluster(tb testing.TB) cluster {
	c := &havenCluster{}
	voters := []raft.NodeID{1, 2, 3}
	for _, id := range voters {
		r, err := raft.New(raft.Config{
			ID: id, Voters: voters, Bootstrap: true,
			ElectionTicks: 10, HeartbeatTicks: 1,
			Rand:    seqRand{rand.New(rand.NewPCG(uint64(id), 7))},
			PreVote: true, CheckQuorum: true,
			MaxMsgBytes: 1 << 20, MaxInflightMsgs: 256,
			MaxUncommittedEntries: 1 << 20,
		}, raft.RestoredState{})
		if err != nil {
			tb.Fatal(err)
		}
		c.nodes = append(c.nodes, &havenNode{r: r})
	}
	for range 1000 {
		for _, n := range c.nodes {
			if n.r.SoftState().State == raft.StateLeader {
				c.leader = n
			}
		}
		if c.leader != nil {
			// Let the leader commit its no-op everywhere.
			for range 5 {
				c.tick()
			}
			return c
		}
		c.tick()
	}
	tb.Fatal("haven: no leader")
	return nil
}

func (c *havenCluster) propose(data []byte) bool {
	if c.leader.r.SoftState().State != raft.StateLeader {
		for _, n := range c.nodes {
			if n.r.SoftState().State == raft.StateLeader {
				c.leader = n
			}
		}
	}
	_, _, err := c.leader.r.Propose(data)
	return err == nil
}

func (c *havenCluster) tick() {
	for _, n := range c.nodes {
		n.r.Tick()
	}
	c.round()
}

func (c *havenCluster) round() bool {
	busy := false
	for _, n := range c.nodes {
		for n.r.HasReady() {
			busy = true
			rd := n.r.Ready()
			if len(rd.Entries) > 0 {
				first := rd.Entries[0].Index
				keep := len(n.stored)
				for keep > 0 && n.stored[keep-1].Index >= first {
					keep--
				}
				n.stored = append(n.stored[:keep], rd.Entries...)
			}
			c.queue = append(c.queue, rd.Messages...)
			for i := range rd.CommittedEntries {
				e := &rd.CommittedEntries[i]
				if e.Type == raft.EntryNormal && len(e.Data) > 0 {
					n.applied++
				}
				n.last = e.Index
			}
			n.r.Advance()
			if n.last >= n.stored0()+compactEvery {
				if _, err := n.r.Compact(n.last, nil); err == nil {
					n.compactStored(n.last)
				}
			}
		}
	}
	msgs := c.queue
	c.queue = c.spare[:0]
	for i := range msgs {
		m := &msgs[i]
		_ = c.nodes[m.To-1].r.Step(*m)
	}
	clear(msgs)
	c.spare = msgs[:0]
	return busy || len(msgs) > 0
}

func (n *havenNode) stored0() uint64 {
	if len(n.stored) == 0 {
		return 0
	}
	return n.stored[0].Index
}

func (n *havenNode) compactStored(index uint64) {
	i := 0
	for i < len(n.stored) && n.stored[i].Index <= index {
		i++
	}
	n.stored = append(n.stored[:0], n.stored[i:]...)
}

func (c *havenCluster) applied() int {
	low := c.nodes[0].applied
	for _, n := range c.nodes[1:] {
		low = min(low, n.applied)
	}
	return low
}
