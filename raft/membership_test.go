package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Paper tests for cluster membership changes, one server at a time
// (thesis chapter 4).

// TestLearnerCatchesUpWithoutVoting checks: "the new server joins the
// cluster as a non-voting member. The leader replicates log entries to it,
// but it is not yet counted towards majorities for voting or commitment
// purposes."
// Reference: §4.2.1
func TestLearnerCatchesUpWithoutVoting(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 5 {
		c.propose(fmt.Sprintf("x%d", i))
	}
	c.addNode(4)
	c.changeConf(ConfChange{Type: AddLearner, Node: 4})
	c.tick(2)
	l := c.leader()
	require.Equal(t, ConfState{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{4}}, c.node(4).Status().Conf)
	require.Equal(t, []string{"x0", "x1", "x2", "x3", "x4"}, appliedData(c.nodes[4]), "the learner caught up")
	require.Equal(t, c.node(l).log.committed, c.node(4).log.committed)

	// Not counted for commitment: with both other voters down, the
	// learner's acknowledgement does not commit anything.
	for _, id := range c.others(l, 4) {
		c.crash(id)
	}
	idx, _, err := c.node(l).Propose([]byte("y"))
	require.NoError(t, err)
	c.deliverAll()
	require.True(t, c.node(4).log.matchTerm(idx, c.node(l).term), "the learner has it")
	require.Less(t, c.node(l).log.committed, idx, "but it does not count")

	// Not a candidate: a learner never campaigns.
	term := c.node(4).term
	for range 100 {
		c.node(4).Tick()
	}
	require.Equal(t, StateFollower, c.node(4).state)
	require.Equal(t, term, c.node(4).term)
}

// TestLearnerGetsNoVoteRequests checks the voting half on one server: a
// candidate asks only voters, and a learner's answer is not counted.
// Reference: §4.2.1
func TestLearnerGetsNoVoteRequests(t *testing.T) {
	conf := ConfState{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{4}}
	r := newTestRaftConf(t, 1, conf, 1, nil, nil)
	fireElection(r)
	var asked []NodeID
	for _, m := range ofType(drain(r), MsgVote) {
		asked = append(asked, m.To)
	}
	require.Equal(t, []NodeID{2, 3}, asked)
	step(t, r, Message{From: 4, Type: MsgVoteResp, Term: r.term})
	require.Equal(t, StateCandidate, r.state, "a learner's vote does not count")
	step(t, r, Message{From: 2, Type: MsgVoteResp, Term: r.term})
	require.Equal(t, StateLeader, r.state)
	require.True(t, r.progress.get(4).learner)
}

// TestPromoteLearner checks the second step of adding a server: once caught
// up, the learner becomes a voter, and counts towards majorities from the
// moment the change is in the leader's log.
// Reference: §4.2.1
func TestPromoteLearner(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	c.addNode(4)
	c.changeConf(ConfChange{Type: AddLearner, Node: 4})
	c.changeConf(ConfChange{Type: AddVoter, Node: 4})
	c.tick(2)
	for _, id := range c.ids {
		conf := c.node(id).Status().Conf
		require.Equal(t, []NodeID{1, 2, 3, 4}, conf.Voters, "node %d", id)
		require.Empty(t, conf.Learners, "node %d", id)
	}
	l := c.leader()
	require.False(t, c.node(l).progress.get(4).learner)
	// Four voters need three: with two voters down nothing commits.
	down := c.others(l, 4)
	c.crash(down[0])
	c.propose("y")
	require.Equal(t, []string{"x", "y"}, appliedData(c.nodes[l]), "leader + 4 + one more commit")
	c.crash(down[1])
	idx, _, err := c.node(l).Propose([]byte("z"))
	require.NoError(t, err)
	c.deliverAll()
	require.Less(t, c.node(l).log.committed, idx)
}

// TestRemoveFollower checks removal: once the change is in the leader's log
// the removed server is neither replicated to nor counted, and the smaller
// configuration commits without it.
// Reference: §4.1
func TestRemoveFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	l := c.leader()
	gone := c.others(l)[0]
	c.changeConf(ConfChange{Type: RemoveNode, Node: gone})
	c.tick(2)
	require.Nil(t, c.node(l).progress.get(gone))
	require.Equal(t, c.others(gone), c.node(l).Status().Conf.Voters)
	c.crash(gone)
	c.propose("y")
	require.Equal(t, []string{"x", "y"}, appliedData(c.nodes[l]))
}

// TestConfigurationInForceWhenAppended checks: "The new configuration takes
// effect on each server as soon as it is added to that server's log ...
// This means that servers do not wait for configuration entries to be
// committed, and each server always uses the latest configuration found in
// its log." When a conflicting leader removes the entry, the server falls
// back to the configuration before it.
// Reference: §4.1
func TestConfigurationInForceWhenAppended(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1), nil)
	add4 := Entry{Term: 2, Index: 2, Type: EntryConfChange, Data: ConfChange{Type: AddVoter, Node: 4}.Marshal()}
	step(t, r, Message{From: 1, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1, Entries: []Entry{add4}})
	require.Zero(t, r.log.committed)
	require.Equal(t, []NodeID{1, 2, 3, 4}, r.conf.voters, "in force, uncommitted")

	step(t, r, Message{From: 3, Type: MsgApp, Term: 3, Index: 1, LogTerm: 1, Entries: []Entry{{Term: 3, Index: 2}}})
	require.Equal(t, []NodeID{1, 2, 3}, r.conf.voters, "truncated away: back to the previous one")
}

// TestOneChangeAtATime checks: "It is only safe to start another membership
// change once a majority of the old cluster has moved to operating under
// the rules of Cnew." The leader refuses a second change until the first
// one is committed.
// Reference: §4.1
func TestOneChangeAtATime(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 1})
	drain(r)

	idx, _, err := r.ProposeConfChange(ConfChange{Type: AddLearner, Node: 4})
	require.NoError(t, err)
	_, _, err = r.ProposeConfChange(ConfChange{Type: AddLearner, Node: 5})
	require.ErrorIs(t, err, ErrConfChangePending)
	drain(r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: idx})
	require.Equal(t, idx, r.log.committed)
	_, _, err = r.ProposeConfChange(ConfChange{Type: AddLearner, Node: 5})
	require.NoError(t, err)
}

// TestNewLeaderCommitsBeforeChange checks the fix to single-server changes
// (Ongaro, raft-dev, "bug in single-server membership changes", 2015): "a
// leader may not append a new configuration entry until it has committed an
// entry from its current term." Otherwise a change from an earlier term it
// does not know about could still commit, and two changes would overlap.
// Reference: §4.1 (raft-dev erratum)
func TestNewLeaderCommitsBeforeChange(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	r.log.committed = 1
	makeLeader(t, r)
	_, _, err := r.ProposeConfChange(ConfChange{Type: AddLearner, Node: 4})
	require.ErrorIs(t, err, ErrConfChangePending, "nothing of term %d committed yet", r.term)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 2})
	require.Equal(t, uint64(2), r.log.committed)
	_, _, err = r.ProposeConfChange(ConfChange{Type: AddLearner, Node: 4})
	require.NoError(t, err)
}

// TestRemovedLeaderStepsDown checks: "the leader steps down (returns to
// follower state) once it has committed the Cnew log entry. This means that
// there will be a period of time (while it is committing Cnew) when the
// leader is managing a cluster that does not include itself; it replicates
// log entries but does not count itself in majorities."
// Reference: §4.2.2
func TestRemovedLeaderStepsDown(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 1})
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: 1})
	drain(r)

	idx, _, err := r.ProposeConfChange(ConfChange{Type: RemoveNode, Node: 1})
	require.NoError(t, err)
	require.Equal(t, []NodeID{2, 3}, r.conf.voters)
	_, _, err = r.Propose([]byte("x"))
	require.ErrorIs(t, err, ErrProposalDropped, "no new work for a leader on its way out")
	apps := ofType(drain(r), MsgApp)
	require.Len(t, apps, 2, "it still replicates")

	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: idx})
	require.Equal(t, StateLeader, r.state, "itself and 2 are no majority of {2, 3}")
	require.Less(t, r.log.committed, idx)
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: idx})
	require.Equal(t, idx, r.log.committed)
	require.Equal(t, StateFollower, r.state)

	// Out of the configuration, it never campaigns.
	for range 100 {
		r.Tick()
	}
	require.Equal(t, StateFollower, r.state)
}

// TestRemovedServerCannotDisrupt checks: "servers disregard RequestVote
// RPCs when they believe a current leader exists" — a server removed while
// cut off never hears of it from the leader, which stops replicating to it
// once the change is in its log. Without PreVote it campaigns at a higher
// term; with CheckQuorum the cluster ignores that, without it the leader is
// deposed. Either way the voters it asks tell it (MsgRemoved) that it is no
// member of their committed configuration, and it never campaigns again:
// it disrupts at most once.
// Reference: §4.2.3
func TestRemovedServerCannotDisrupt(t *testing.T) {
	for _, checkQuorum := range []bool{true, false} {
		t.Run(fmt.Sprintf("checkQuorum=%v", checkQuorum), func(t *testing.T) {
			c := newCluster(t, 3, func(cfg *Config) { cfg.PreVote, cfg.CheckQuorum = false, checkQuorum })
			c.propose("x")
			l := c.leader()
			gone := c.others(l)[0]
			c.isolate(gone)
			c.changeConf(ConfChange{Type: RemoveNode, Node: gone})
			c.tick(2)
			require.Contains(t, c.node(gone).conf.voters, gone, "it never heard")
			c.heal()
			term := c.node(l).term
			c.tick(100)
			require.Equal(t, term+1, c.node(gone).term, "it campaigned once, then learned")
			require.NotZero(t, c.node(gone).Status().RemovedAt)
			if checkQuorum {
				require.Equal(t, l, c.leader())
				require.Equal(t, term, c.node(l).term)
			} else {
				require.Greater(t, c.node(c.waitLeader()).term, term, "deposed once")
			}
			l = c.waitLeader()
			term = c.node(l).term
			for range 10 {
				c.campaign(gone)
				c.deliverAll()
			}
			c.tick(100)
			require.Equal(t, StateFollower, c.node(gone).state, "told, it no longer campaigns")
			require.Equal(t, l, c.leader(), "and never disrupts again")
			require.Equal(t, term, c.node(l).term)
		})
	}
}

// TestRemovedServerLearnsItWhenItAsksForVotes checks the notice both ways.
// A voter answers a vote request from a server that is neither in its
// latest configuration nor in its committed one with MsgRemoved, carrying
// its commit index, and answers the request itself as before. The asker
// stops campaigning if it knows no configuration change after that index;
// one it knows of (it was added back) makes the notice stale.
// Reference: §4.2.3
func TestRemovedServerLearnsItWhenItAsksForVotes(t *testing.T) {
	removal := Entry{Term: 1, Index: 2, Type: EntryConfChange, Data: ConfChange{Type: RemoveNode, Node: 3}.Marshal()}

	t.Run("a voter tells a server it committed the removal of", func(t *testing.T) {
		r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, []Entry{{Term: 1, Index: 1}, removal}, nil)
		r.log.commitTo(2)
		step(t, r, Message{From: 3, Type: MsgPreVote, Term: 2, Index: 1, LogTerm: 1})
		msgs := drain(r)
		require.Equal(t, []Message{{Type: MsgRemoved, From: 1, To: 3, Index: 2}}, ofType(msgs, MsgRemoved))
		require.Len(t, ofType(msgs, MsgPreVoteResp), 1, "the pre-vote is answered as before")
	})
	t.Run("not while the removal is uncommitted", func(t *testing.T) {
		// §4.2.2: until then the server may still be needed to elect.
		r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, []Entry{{Term: 1, Index: 1}, removal}, nil)
		r.log.commitTo(1)
		require.NotContains(t, r.conf.voters, NodeID(3))
		step(t, r, Message{From: 3, Type: MsgPreVote, Term: 2, Index: 2, LogTerm: 1})
		require.Empty(t, ofType(drain(r), MsgRemoved))
	})
	t.Run("not to a server it has not heard of being added", func(t *testing.T) {
		// The voter lags: 4 was added after its commit index, and its vote
		// may be the one 4 needs.
		r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
		r.log.commitTo(1)
		step(t, r, Message{From: 4, Type: MsgVote, Term: 2, Index: 5, LogTerm: 1})
		msgs := drain(r)
		require.Equal(t, []Message{{Type: MsgRemoved, From: 1, To: 4, Index: 1}}, ofType(msgs, MsgRemoved))
		granted := ofType(msgs, MsgVoteResp)
		require.Len(t, granted, 1)
		require.False(t, granted[0].Reject, "the vote is granted all the same")
	})
	t.Run("a told server stops campaigning", func(t *testing.T) {
		r := newTestRaft(t, 3, []NodeID{1, 2, 3}, 1, logOf(1), func(cfg *Config) { cfg.PreVote = true })
		for r.state != StatePreCandidate {
			r.Tick()
		}
		drain(r)
		step(t, r, Message{From: 1, Type: MsgRemoved, Index: 2})
		require.Equal(t, StateFollower, r.state, "its pre-election is over")
		require.Equal(t, uint64(2), r.Status().RemovedAt)
		for range 100 {
			r.Tick()
		}
		require.Empty(t, ofType(drain(r), MsgPreVote))
		require.Equal(t, StateFollower, r.state)

		// Added back: a leader's entries bring a later configuration.
		readd := Entry{Term: 2, Index: 2, Type: EntryConfChange, Data: ConfChange{Type: AddLearner, Node: 4}.Marshal()}
		step(t, r, Message{From: 1, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1, Entries: []Entry{{Term: 2, Index: 2}, {Term: 2, Index: 3, Type: EntryConfChange, Data: readd.Data}}, Commit: 1})
		drain(r)
		require.Zero(t, r.Status().RemovedAt, "the notice is stale now")
		for range 100 {
			r.Tick()
		}
		require.NotEmpty(t, ofType(drain(r), MsgPreVote), "it campaigns again")
	})
	t.Run("a notice older than its snapshot is ignored", func(t *testing.T) {
		// Its configuration came with the snapshot at 10: the notice at 5
		// is older, whatever removed it then (found by the simulator, with
		// a mutant that kept a server that had rejoined from campaigning).
		cfg := plainConfig(3)
		cfg.PreVote = true
		r, err := New(cfg, RestoredState{HardState: HardState{Term: 1},
			Snapshot: &Snapshot{Meta: SnapshotMeta{Index: 10, Term: 1, Conf: ConfState{Voters: []NodeID{1, 2, 3}}}}})
		require.NoError(t, err)
		step(t, r, Message{From: 1, Type: MsgRemoved, Index: 5})
		require.Zero(t, r.Status().RemovedAt)
		for range 100 {
			r.Tick()
		}
		require.NotEmpty(t, ofType(drain(r), MsgPreVote))
	})
	t.Run("a notice older than a configuration it knows is ignored", func(t *testing.T) {
		readd := Entry{Term: 1, Index: 3, Type: EntryConfChange, Data: ConfChange{Type: AddLearner, Node: 4}.Marshal()}
		r := newTestRaft(t, 3, []NodeID{1, 2, 3}, 1, []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}, readd}, func(cfg *Config) { cfg.PreVote = true })
		step(t, r, Message{From: 1, Type: MsgRemoved, Index: 2})
		require.Zero(t, r.Status().RemovedAt)
		for range 100 {
			r.Tick()
		}
		require.NotEmpty(t, ofType(drain(r), MsgPreVote))
	})
}

// TestRemovedLearnerLearnsItWhenItAsksForAReadIndex: a learner never asks
// for votes, so the only request a removed one still sends is a read
// index, forwarded to the leader it knew. The member that gets it tells it
// as it would tell a vote request (MsgRemoved), so that the learner's host
// answers its reads at once instead of at their timeout.
func TestRemovedLearnerLearnsItWhenItAsksForAReadIndex(t *testing.T) {
	removal := Entry{Term: 1, Index: 2, Type: EntryConfChange, Data: ConfChange{Type: RemoveNode, Node: 3}.Marshal()}
	conf := ConfState{Voters: []NodeID{1, 2}, Learners: []NodeID{3}}

	t.Run("the leader tells it", func(t *testing.T) {
		r := newTestRaftConf(t, 1, conf, 1, []Entry{{Term: 1, Index: 1}, removal}, nil)
		r.log.commitTo(2)
		makeLeader(t, r)
		step(t, r, Message{From: 3, Type: MsgReadIndex, Context: []byte("q")})
		msgs := drain(r)
		require.Equal(t, []Message{{Type: MsgRemoved, From: 1, To: 3, Index: 2}}, ofType(msgs, MsgRemoved))
		require.Empty(t, ofType(msgs, MsgReadIndexResp), "no read index for a server that is no member")
	})
	t.Run("a follower tells it too", func(t *testing.T) {
		// The learner still forwards to the leader it knew, which may
		// have lost its leadership since.
		r := newTestRaftConf(t, 1, conf, 1, []Entry{{Term: 1, Index: 1}, removal}, nil)
		r.log.commitTo(2)
		step(t, r, Message{From: 3, Type: MsgReadIndex, Context: []byte("q")})
		require.Equal(t, []Message{{Type: MsgRemoved, From: 1, To: 3, Index: 2}}, ofType(drain(r), MsgRemoved))
	})
	t.Run("not while the removal is uncommitted", func(t *testing.T) {
		r := newTestRaftConf(t, 1, conf, 1, []Entry{{Term: 1, Index: 1}, removal}, nil)
		r.log.commitTo(1)
		makeLeader(t, r)
		step(t, r, Message{From: 3, Type: MsgReadIndex, Context: []byte("q")})
		require.Empty(t, ofType(drain(r), MsgRemoved))
	})
	t.Run("not to a member", func(t *testing.T) {
		r := newTestRaftConf(t, 1, conf, 1, logOf(1), nil)
		r.log.commitTo(1)
		makeLeader(t, r)
		step(t, r, Message{From: 3, Type: MsgReadIndex, Context: []byte("q")})
		require.Empty(t, ofType(drain(r), MsgRemoved))
	})
	t.Run("the learner takes the notice", func(t *testing.T) {
		r := newTestRaftConf(t, 3, conf, 1, []Entry{{Term: 1, Index: 1}, removal}, nil)
		step(t, r, Message{From: 1, Type: MsgApp, Term: 1, Index: 2, LogTerm: 1, Commit: 2})
		drain(r)
		step(t, r, Message{From: 1, Type: MsgRemoved, Index: 2})
		require.Equal(t, uint64(2), r.Status().RemovedAt)
		require.Equal(t, StateFollower, r.state)
	})
}

// TestLearnerThatHearsNoLeaderAsksTheVoters: a removed learner that
// restarts knows no leader and never campaigns, so it sends the members
// nothing, and without a question of its own it is never told. A learner
// that has heard from no leader for an election timeout asks the voters of
// its configuration whether it is still a member (MsgMemberQuery), once per
// election timeout; a voter that no longer counts it one tells it
// (MsgRemoved), and the question changes nothing else anywhere.
func TestLearnerThatHearsNoLeaderAsksTheVoters(t *testing.T) {
	removal := Entry{Term: 1, Index: 2, Type: EntryConfChange, Data: ConfChange{Type: RemoveNode, Node: 3}.Marshal()}
	conf := ConfState{Voters: []NodeID{1, 2}, Learners: []NodeID{3}}
	asks := []Message{{Type: MsgMemberQuery, From: 3, To: 1}, {Type: MsgMemberQuery, From: 3, To: 2}}
	tickTimeout := func(r *Raft) []Message {
		var msgs []Message
		for range r.cfg.ElectionTicks {
			require.Empty(t, ofType(msgs, MsgMemberQuery), "asked before an election timeout passed")
			r.Tick()
			msgs = append(msgs, drain(r)...)
		}
		return msgs
	}

	t.Run("it asks once per election timeout", func(t *testing.T) {
		r := newTestRaftConf(t, 3, conf, 1, logOf(1), nil)
		require.Equal(t, asks, tickTimeout(r))
		require.Equal(t, asks, tickTimeout(r))
		require.Equal(t, StateFollower, r.state, "a learner never campaigns")
		require.Equal(t, uint64(1), r.term)
	})
	t.Run("not while a leader is heard", func(t *testing.T) {
		r := newTestRaftConf(t, 3, conf, 1, logOf(1), nil)
		for range 3 * r.cfg.ElectionTicks {
			step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 1})
			r.Tick()
			require.Empty(t, ofType(drain(r), MsgMemberQuery))
		}
	})
	t.Run("not once told", func(t *testing.T) {
		// As it restarted: its own log still makes it a learner, and
		// only the notice says otherwise.
		r := newTestRaftConf(t, 3, conf, 1, logOf(1), nil)
		step(t, r, Message{From: 1, Type: MsgRemoved, Index: 2})
		require.Equal(t, uint64(2), r.Status().RemovedAt)
		require.Contains(t, r.Status().Conf.Learners, NodeID(3))
		require.Empty(t, ofType(append(tickTimeout(r), tickTimeout(r)...), MsgMemberQuery))
	})
	t.Run("a voter that committed its removal tells it", func(t *testing.T) {
		r := newTestRaftConf(t, 1, conf, 1, []Entry{{Term: 1, Index: 1}, removal}, nil)
		r.log.commitTo(2)
		step(t, r, Message{From: 3, Type: MsgMemberQuery})
		require.Equal(t, []Message{{Type: MsgRemoved, From: 1, To: 3, Index: 2}}, drain(r))
	})
	t.Run("a member is told nothing, even by the leader", func(t *testing.T) {
		r := newTestRaftConf(t, 1, conf, 1, logOf(1), nil)
		r.log.commitTo(1)
		makeLeader(t, r)
		drain(r)
		before := r.Status()
		step(t, r, Message{From: 3, Type: MsgMemberQuery, Term: 7})
		require.Empty(t, drain(r))
		require.Equal(t, before, r.Status())
	})
}

// TestConfChangeValidation checks that changes that do not fit the current
// configuration are refused with ErrBadConfChange.
// Reference: §4.1
func TestConfChangeValidation(t *testing.T) {
	conf := ConfState{Voters: []NodeID{1, 2}, Learners: []NodeID{3}}
	tests := []struct {
		cc ConfChange
		ok bool
	}{
		{ConfChange{Type: AddLearner, Node: 4}, true},
		{ConfChange{Type: AddVoter, Node: 4}, true},
		{ConfChange{Type: AddVoter, Node: 3}, true}, // promotion
		{ConfChange{Type: RemoveNode, Node: 3}, true},
		{ConfChange{Type: RemoveNode, Node: 2}, true},
		{ConfChange{Type: AddLearner, Node: 2}, false}, // demotion is not a step
		{ConfChange{Type: AddLearner, Node: 3}, false},
		{ConfChange{Type: AddVoter, Node: 1}, false},
		{ConfChange{Type: RemoveNode, Node: 9}, false},
		{ConfChange{Type: AddVoter, Node: None}, false},
		{ConfChange{Type: 9, Node: 4}, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.cc.Type, tt.cc.Node), func(t *testing.T) {
			err := checkConfChange(conf, tt.cc)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrBadConfChange)
			}
		})
	}
	require.ErrorIs(t, checkConfChange(ConfState{Voters: []NodeID{1}}, ConfChange{Type: RemoveNode, Node: 1}), ErrBadConfChange)
}

// TestConfChangeEncoding checks that a change survives the log and that
// malformed data is refused with an error, not a panic.
func TestConfChangeEncoding(t *testing.T) {
	for _, cc := range []ConfChange{
		{Type: AddLearner, Node: 7},
		{Type: AddVoter, Node: 1 << 40, Context: []byte("10.0.0.7:4000")},
		{Type: RemoveNode, Node: 3},
	} {
		got, err := UnmarshalConfChange(cc.Marshal())
		require.NoError(t, err)
		require.Equal(t, cc, got)
	}
	good := ConfChange{Type: AddVoter, Node: 5, Context: []byte("ctx")}.Marshal()
	for _, bad := range [][]byte{nil, {byte(AddVoter)}, good[:len(good)-1], append(good, 0), {9, 1, 0}} {
		_, err := UnmarshalConfChange(bad)
		require.Error(t, err, "%v", bad)
	}
}
