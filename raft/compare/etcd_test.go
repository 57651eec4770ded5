package compare

import (
	"io"
	"log"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

type etcdNode struct {
	rn      *raft.RawNode
	storage *raft.MemoryStorage
	applied int
	last    uint64
	first   uint64
}

type etcdCluster struct {
	nodes  []*etcdNode
	queue  []pb.Message
	spare  []pb.Message
	leader *etcdNode
}

func newEtcdCluster(tb testing.TB) cluster {
	c := &etcdCluster{}
	voters := []uint64{1, 2, 3}
	for _, id := range voters {
		storage := raft.NewMemoryStorage()
		if err := storage.ApplySnapshot(pb.Snapshot{Metadata: pb.SnapshotMetadata{
			Index: 1, Term: 1, ConfState: pb.ConfState{Voters: voters}}}); err != nil {
			tb.Fatal(err)
		}
		rn, err := raft.NewRawNode(&raft.Config{
			ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: storage,
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
			PreVote: true, CheckQuorum: true,
			Logger: &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
		})
		if err != nil {
			tb.Fatal(err)
		}
		c.nodes = append(c.nodes, &etcdNode{rn: rn, storage: storage, first: 1})
	}
	if err := c.nodes[0].rn.Campaign(); err != nil {
		tb.Fatal(err)
	}
	for range 1000 {
		c.round()
		if c.nodes[0].rn.BasicStatus().RaftState == raft.StateLeader {
			c.leader = c.nodes[0]
			for range 5 {
				c.tick()
			}
			return c
		}
		c.tick()
	}
	tb.Fatal("etcd: no leader")
	return nil
}

func (c *etcdCluster) propose(data []byte) bool {
	if c.leader.rn.BasicStatus().RaftState != raft.StateLeader {
		for _, n := range c.nodes {
			if n.rn.BasicStatus().RaftState == raft.StateLeader {
				c.leader = n
			}
		}
	}
	return c.leader.rn.Propose(data) == nil
}

func (c *etcdCluster) tick() {
	for _, n := range c.nodes {
		n.rn.Tick()
	}
	c.round()
}

func (c *etcdCluster) round() bool {
	busy := false
	for _, n := range c.nodes {
		for n.rn.HasReady() {
			busy = true
			rd := n.rn.Ready()
			if !raft.IsEmptyHardState(rd.HardState) {
				_ = n.storage.SetHardState(rd.HardState)
			}
			if len(rd.Entries) > 0 {
				_ = n.storage.Append(rd.Entries)
			}
			c.queue = append(c.queue, rd.Messages...)
			for i := range rd.CommittedEntries {
				e := &rd.CommittedEntries[i]
				if e.Type == pb.EntryNormal && len(e.Data) > 0 {
					n.applied++
				}
				n.last = e.Index
			}
			n.rn.Advance(rd)
			if n.last >= n.first+compactEvery {
				if err := n.storage.Compact(n.last); err == nil {
					n.first = n.last
				}
			}
		}
	}
	msgs := c.queue
	c.queue = c.spare[:0]
	for i := range msgs {
		_ = c.nodes[msgs[i].To-1].rn.Step(msgs[i])
	}
	clear(msgs)
	c.spare = msgs[:0]
	return busy || len(msgs) > 0
}

func (c *etcdCluster) applied() int {
	low := c.nodes[0].applied
	for _, n := range c.nodes[1:] {
		low = min(low, n.applied)
	}
	return low
}
