package raft

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Scenario tests over the in-memory network for known regressions of Raft
// implementations. Each one failed somewhere once; each one must keep
// passing here.

// TestScenarioNodeWithSmallerTermCanCompleteElection replays etcd-io/etcd
// #8501: with PreVote, a server that fell behind rejoins just as the leader
// is cut off. The remaining two must still elect a leader: the lagging
// server learns the higher term from a rejected pre-vote, and a granted
// pre-vote carries the term asked about, so the other server counts it.
// Reference: §9.6
func TestScenarioNodeWithSmallerTermCanCompleteElection(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.PreVote, cfg.CheckQuorum = true, false })
	c.process()
	c.partition([]NodeID{1, 2}, []NodeID{3})

	c.campaign(1)
	c.deliverAll()
	require.Equal(t, StateLeader, c.node(1).state)
	c.campaign(3)
	c.deliverAll()
	require.Equal(t, StatePreCandidate, c.node(3).state)
	c.campaign(2)
	c.deliverAll()
	require.Equal(t, StateLeader, c.node(2).state)
	require.Equal(t, []uint64{3, 3, 1}, []uint64{c.node(1).term, c.node(2).term, c.node(3).term})

	// Bring 3 back and cut 2 (the leader) off.
	c.heal()
	c.isolate(2)
	c.campaign(3)
	c.deliverAll()
	require.Equal(t, uint64(3), c.node(3).term, "the rejected pre-vote taught 3 the term")
	c.campaign(1)
	c.deliverAll()
	require.True(t, c.node(1).state == StateLeader || c.node(3).state == StateLeader, "no leader")
}

// TestScenarioPreVoteCheckQuorumElectsLeader is the same trap driven only
// by clocks, with PreVote and CheckQuorum both on: a follower partitioned
// while the cluster moved on to newer terms comes back as the leader dies.
// The two survivors (one behind in term and log) must elect a leader.
// Reference: §9.6, §6.2
func TestScenarioPreVoteCheckQuorumElectsLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	first := c.leader()
	lagging := c.others(first)[0]
	c.isolate(lagging)
	// The cluster moves on: a new leader of a higher term, new entries.
	require.NoError(t, c.node(first).TransferLeadership(c.others(first, lagging)[0]))
	c.tick(5)
	second := c.leader()
	require.NotEqual(t, first, second)
	c.propose("y")
	require.Less(t, c.node(lagging).term, c.node(second).term)

	c.heal()
	c.crash(second)
	l := c.waitLeader()
	require.NotEqual(t, second, l)
	c.propose("z")
	c.tick(3)
	require.Equal(t, []string{"x", "y", "z"}, appliedData(c.nodes[lagging]))
}

// TestScenarioRemovedLeaderStepsDown replays the "removed leader stuck"
// regression: a leader that removes itself keeps leading until the removal
// commits, then steps down (§4.2.2) — without telling the others the entry
// committed. They must still elect a leader among themselves, and the
// removed server must not come back as one.
// Reference: §4.2.2
func TestScenarioRemovedLeaderStepsDown(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	old := c.leader()
	idx, _, err := c.node(old).ProposeConfChange(ConfChange{Type: RemoveNode, Node: old})
	require.NoError(t, err)
	require.Equal(t, StateLeader, c.node(old).state, "leads until the removal commits")
	c.deliverAll()
	require.GreaterOrEqual(t, c.node(old).log.committed, idx)
	require.Equal(t, StateFollower, c.node(old).state)

	l := c.waitLeader()
	require.NotEqual(t, old, l)
	require.Equal(t, c.others(old), c.node(l).Status().Conf.Voters)
	c.propose("y")
	c.tick(50)
	require.Equal(t, l, c.leader())
	require.NotEqual(t, StateLeader, c.node(old).state)
	for _, id := range c.others(old) {
		require.Equal(t, []string{"x", "y"}, appliedData(c.nodes[id]))
	}
}

// TestScenarioSnapshotConflictAtLastIndex replays the trap of Figure 13
// rule 7: a deposed leader holds uncommitted entries; the new leader's
// snapshot ends exactly at one of their indexes, with another term. The
// follower must drop its whole log, not keep the entries after the
// snapshot's index as if rule 6 applied.
// Reference: §7
func TestScenarioSnapshotConflictAtLastIndex(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	old := c.leader()
	c.isolate(old)
	for _, cmd := range []string{"lost1", "lost2", "lost3"} {
		_, _, err := c.node(old).Propose([]byte(cmd))
		require.NoError(t, err)
	}
	c.process()
	oldLast := c.node(old).log.lastIndex()

	c.tick(30)
	l := c.leader()
	require.NotEqual(t, old, l)
	for i := range 5 {
		c.propose(fmt.Sprintf("y%d", i))
	}
	c.tick(1)
	// The new leader snapshots exactly at the deposed leader's last index.
	snapAt := oldLast - 1
	n := c.nodes[l]
	snap, err := n.raft.Compact(snapAt, []byte("image"))
	require.NoError(t, err)
	n.store.snap = &snap
	oldTerm, _ := c.node(old).log.term(snapAt)
	require.NotEqual(t, snap.Meta.Term, oldTerm, "a conflicting entry at the snapshot's index")

	var installed bool
	c.onReady = func(id NodeID, rd Ready) { installed = installed || (id == old && rd.Snapshot != nil) }
	c.heal()
	c.tick(5)
	require.True(t, installed)
	require.Equal(t, c.node(l).log.lastIndex(), c.node(old).log.lastIndex())
	for i := snapAt + 1; i <= c.node(l).log.lastIndex(); i++ {
		lt, _ := c.node(l).log.term(i)
		require.True(t, c.node(old).log.matchTerm(i, lt), "index %d", i)
	}
	for _, e := range c.node(old).Entries(1, c.node(old).log.lastIndex()+1) {
		require.NotContains(t, string(e.Data), "lost")
	}
}

// TestScenarioReadIndexBeforeCurrentTermCommit replays the stale read of a
// new leader: the old leader committed a write and crashed before the
// others learned the commit index. The new leader's commit index is behind
// until it commits its no-op; a read answered before that would miss the
// acknowledged write.
// Reference: §6.4
func TestScenarioReadIndexBeforeCurrentTermCommit(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	c.tick(1)
	old := c.leader()
	// The commit announcement (an empty AppendEntries) is lost.
	c.dropFn = func(m Message) bool { return m.Type == MsgApp && len(m.Entries) == 0 }
	w := c.propose("acknowledged")
	c.dropFn = nil
	require.GreaterOrEqual(t, c.node(old).log.committed, w, "the client was told it committed")
	c.crash(old)
	for _, id := range c.others(old) {
		require.Less(t, c.node(id).log.committed, w, "but the others do not know yet")
	}

	// Whichever of them is elected cannot commit its no-op.
	c.dropFn = func(m Message) bool { return m.Type == MsgApp }
	c.tick(30)
	next := c.leader()
	require.NotEqual(t, old, next)
	require.Less(t, c.node(next).log.committed, w)
	require.NoError(t, c.node(next).ReadIndex([]byte("read")))
	c.tick(3)
	require.Empty(t, c.nodes[next].reads, "no answer before the no-op commits")

	c.dropFn = nil
	c.tick(3)
	require.Len(t, c.nodes[next].reads, 1)
	require.GreaterOrEqual(t, c.nodes[next].reads[0].Index, w, "the read sees the acknowledged write")
}

// TestScenarioCrashAfterEveryTermOrVoteChange crashes each server right
// after every Ready that changed its term or vote (once the Ready is
// persisted and its messages sent; for its own candidacies, every other
// time, so that elections can still be won), and restarts it from its
// store.
// Elections keep happening (random partitions); the harness checks that no
// server ever grants two votes in one term and that every Ready made its
// term, vote and acknowledged entries durable before sending.
// Reference: §5.2 (Figure 2, "Persistent state on all servers")
func TestScenarioCrashAfterEveryTermOrVoteChange(t *testing.T) {
	c := newCluster(t, 5, func(cfg *Config) { cfg.PreVote, cfg.CheckQuorum = false, false })
	lastHard := map[NodeID]HardState{}
	crashes := 0
	candidacies := map[NodeID]int{}
	c.crashAfter = func(id NodeID, rd Ready) bool {
		hs := rd.HardState
		if hs.IsEmpty() {
			return false
		}
		prev := lastHard[id]
		lastHard[id] = hs
		if hs.Term == prev.Term && hs.Vote == prev.Vote {
			return false
		}
		if hs.Vote == id {
			// A candidate that always crashed right after voting for
			// itself would never win: crash every other candidacy.
			candidacies[id]++
			if candidacies[id]%2 == 0 {
				return false
			}
		}
		crashes++
		return true
	}
	restartDown := func() {
		for _, id := range c.ids {
			if c.nodes[id].down {
				c.restart(id)
			}
		}
	}
	proposed := 0
	for round := range 400 {
		if round%40 == 0 {
			c.heal()
			if cut := NodeID(c.rng.IntN(6)); cut > 0 {
				c.isolate(cut)
			}
		}
		for _, id := range c.ids {
			c.node(id).Tick()
		}
		for range 20 {
			c.process()
			restartDown()
			if len(c.queue) == 0 {
				break
			}
			msgs := c.queue
			c.queue = nil
			for _, m := range msgs {
				c.deliver(m)
			}
		}
		if l := c.leader(); l != None && round%10 == 0 {
			if _, _, err := c.node(l).Propose([]byte(fmt.Sprintf("p%d", proposed))); err == nil {
				proposed++
			}
		}
	}
	require.Greater(t, crashes, 20, "the scenario must crash often to mean anything")
	require.Greater(t, len(c.grants), 10, "and see many votes")
	require.Greater(t, proposed, 5, "and leaders")
	c.heal()
	c.crashAfter = nil
	restartDown()
	c.tick(50) // let the last disruptive candidacies settle
	c.propose("final")
	c.tick(3)
	l := c.leader()
	require.Contains(t, appliedData(c.nodes[l]), "final")
	for _, id := range c.ids {
		require.Equal(t, appliedData(c.nodes[l]), appliedData(c.nodes[id]), "node %d", id)
	}
}

// TestScenarioRemovedByUncommittedChangeCanStillLead replays a deadlock the
// property test found: a leader appends its own removal and loses
// leadership before the entry reaches anyone. It holds the longest log, so
// nobody else can win its vote; and if it refused to stand because its
// latest configuration excludes it, no election could ever succeed. "Before
// this point [Cnew committed], it may be the case that only a server from
// Cold can be elected leader": it must stand, win with the votes of Cnew,
// commit the change, and then step down.
// Reference: §4.2.2
func TestScenarioRemovedByUncommittedChangeCanStillLead(t *testing.T) {
	// CheckQuorum keeps the removed server 2 from disrupting (§4.2.3).
	c := newCluster(t, 3, func(cfg *Config) { cfg.PreVote, cfg.CheckQuorum = false, true })
	c.process()
	c.campaign(1)
	c.deliverAll()
	require.Equal(t, StateLeader, c.node(1).state)
	c.changeConf(ConfChange{Type: RemoveNode, Node: 2})
	c.tick(1)
	require.Equal(t, []NodeID{1, 3}, c.node(3).conf.voters)

	// 1 removes itself; the entry never leaves it, and 1 steps down when
	// nobody answers (CheckQuorum).
	c.dropFn = func(m Message) bool { return m.From == 1 }
	_, _, err := c.node(1).ProposeConfChange(ConfChange{Type: RemoveNode, Node: 1})
	require.NoError(t, err)
	require.Equal(t, []NodeID{3}, c.node(1).conf.voters)
	c.tick(30)
	require.NotEqual(t, StateLeader, c.node(1).state)
	require.Equal(t, None, c.leader(), "3 cannot win: 1's log is longer")
	require.Greater(t, c.node(1).log.lastIndex(), c.node(3).log.lastIndex())

	c.dropFn = nil
	c.waitLeader()
	c.tick(30)
	require.Equal(t, NodeID(3), c.leader(), "1 led only long enough to commit its removal")
	require.Equal(t, []NodeID{3}, c.node(3).conf.voters)
	require.NotEqual(t, StateLeader, c.node(1).state)
	c.propose("after")
	require.Equal(t, []string{"after"}, appliedData(c.nodes[3]))
}

// TestScenarioLearnerLeaseExpires replays a deadlock the property test
// found: a learner being promoted has not yet received its promotion, so it
// is no candidate in its own eyes — but the leader's restarted successor
// needs its vote. A server that never campaigns must still see its leader's
// lease run out (§4.2.3: votes are ignored only "within the minimum
// election timeout of hearing from a current leader"), or it ignores every
// vote request forever.
// Reference: §4.2.3, §4.2.1
func TestScenarioLearnerLeaseExpires(t *testing.T) {
	c := newCluster(t, 2, nil)
	c.propose("x")
	c.addNode(3)
	base := c.cfg
	c.cfg = func(id NodeID) Config {
		cfg := base(id)
		if id == 3 {
			cfg.Rand = fixedRand(0) // its timer fires exactly every ElectionTicks
		}
		return cfg
	}
	c.nodes[3].raft.cfg.Rand = fixedRand(0)
	c.nodes[3].raft.resetRandomizedElectionTimeout()
	l := c.leader()
	c.changeConf(ConfChange{Type: AddLearner, Node: 3})
	c.tick(2)
	require.Equal(t, []NodeID{3}, c.node(3).conf.learners)

	other := c.others(l, 3)[0]
	c.crash(other)
	// Promote 3; the entry never reaches it.
	c.dropFn = func(m Message) bool {
		return m.To == 3 && slices.ContainsFunc(m.Entries, func(e Entry) bool { return e.Type == EntryConfChange })
	}
	_, _, err := c.node(l).ProposeConfChange(ConfChange{Type: AddVoter, Node: 3})
	require.NoError(t, err)
	c.deliverAll()
	c.crash(l)
	c.restart(l)
	c.dropFn = nil
	require.Equal(t, []NodeID{1, 2, 3}, c.node(l).conf.voters)
	require.Equal(t, []NodeID{3}, c.node(3).conf.learners)

	require.Equal(t, l, c.waitLeader(), "the restarted server wins with the learner's vote")
	c.propose("y")
	require.Equal(t, []string{"x", "y"}, appliedData(c.nodes[l]))
}

// TestScenarioStaleLeaderLearnsTermFromReply replays a deadlock the
// property test found (plain Raft: no PreVote, no CheckQuorum), on servers
// whose latest configurations differ, as they may during membership
// changes: leader 1 of term 3 works with {1, 3}; 3, at term 9, still has
// {2, 3} and so never asks 1 for a vote; 2 holds {1} and never campaigns.
// 3 cannot win (2's log is longer), and 1 never learns of term 9 unless 3
// answers its stale AppendEntries as Figure 2 says: "Reply false if term <
// currentTerm", with currentTerm "for leader to update itself".
// Reference: §5.1 (Figure 2, AppendEntries RPC, receiver rule 1)
func TestScenarioStaleLeaderLearnsTermFromReply(t *testing.T) {
	s1 := newTestRaftConf(t, 1, ConfState{Voters: []NodeID{1, 3}}, 2, logOf(1, 2, 2), nil)
	s2 := newTestRaftConf(t, 2, ConfState{Voters: []NodeID{1}}, 9, logOf(1, 2), nil)
	s3 := newTestRaftConf(t, 3, ConfState{Voters: []NodeID{2, 3}}, 9, logOf(1), nil)
	makeLeader(t, s1)
	servers := map[NodeID]*Raft{1: s1, 2: s2, 3: s3}
	for range 100 {
		for _, id := range sortedIDs(servers) {
			servers[id].Tick()
		}
		var msgs []Message
		for _, id := range sortedIDs(servers) {
			msgs = append(msgs, drain(servers[id])...)
		}
		pump(t, servers, msgs)
		if s1.state == StateLeader && s1.term > 9 {
			break
		}
	}
	require.Equal(t, StateLeader, s1.state)
	require.Greater(t, s1.term, uint64(9), "1 learned term 9 from 3's answer and won a later term")
	require.Equal(t, s1.log.lastIndex(), s3.log.lastIndex(), "and 3 follows it")
}

// TestScenarioStaleCandidateLearnsTermFromReply is the RequestVote side of
// the same asymmetry, also found by the property test: 3 can only win with
// 1's vote, but 1's configuration does not hold 3, so 1's own (hopeless)
// candidacies never reach 3 and 1's term runs ahead. Unless 1 answers 3's
// stale requests with its term ("Reply false if term < currentTerm", term
// "for candidate to update itself"), 3's term falls behind and it catches
// up only if its timer happens to fire more often than 1's. With the
// answer, each of 3's timeouts is an even race with 1's.
// Reference: §5.1 (Figure 2, RequestVote RPC, receiver rule 1)
func TestScenarioStaleCandidateLearnsTermFromReply(t *testing.T) {
	s1 := newTestRaftConf(t, 1, ConfState{Voters: []NodeID{1, 2}}, 9, logOf(1, 1), nil)
	s2 := newTestRaftConf(t, 2, ConfState{Voters: []NodeID{3}}, 9, logOf(1, 2, 2), nil)
	s3 := newTestRaftConf(t, 3, ConfState{Voters: []NodeID{1, 3}}, 4, logOf(1, 2, 2, 3), nil)
	servers := map[NodeID]*Raft{1: s1, 2: s2, 3: s3}
	for range 300 {
		for _, id := range sortedIDs(servers) {
			servers[id].Tick()
		}
		var msgs []Message
		for _, id := range sortedIDs(servers) {
			msgs = append(msgs, drain(servers[id])...)
		}
		pump(t, servers, msgs)
		if s3.state == StateLeader {
			break
		}
	}
	require.Equal(t, StateLeader, s3.state)

	// The rule itself, on one server.
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 5, nil, nil)
	step(t, r, Message{From: 2, Type: MsgVote, Term: 3})
	resps := ofType(drain(r), MsgVoteResp)
	require.Len(t, resps, 1)
	require.True(t, resps[0].Reject)
	require.Equal(t, uint64(5), resps[0].Term)
}
