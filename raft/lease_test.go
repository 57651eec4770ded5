package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Paper tests for the promise the leader lease rests on (issue 7, item 3).
// §6.4.1: "the leader would use the normal heartbeat mechanism to maintain
// a lease. Once the leader's heartbeats were acknowledged by a majority of
// the cluster, it would extend its lease to start + election timeout,
// since the followers shouldn't time out before then." What the lease
// counts on is the voters' promise of §4.2.3 — no vote for another
// candidate within an election timeout of hearing from the leader — and
// nothing may take that promise back early.

// TestLeasePromiseSurvivesTermBump: a follower hears leader 1's heartbeat,
// then a message of a higher term that is no vote request (here the stale-
// term reply to an old AppendEntries it once sent as leader, Figure 2,
// AppendEntries rule 1) makes it a follower of that term with no leader.
// With PreVote off the candidate of that term then asks for its vote at an
// equal term. The follower promised leader 1 not to vote before an election
// timeout has passed since the heartbeat: it must not vote yet.
// Reference: §6.4.1, §4.2.3
func TestLeasePromiseSurvivesTermBump(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1, 2), func(c *Config) {
		c.ReadMode, c.CheckQuorum, c.PreVote = ReadLease, true, false
		c.Rand = fixedRand(9) // no campaign of its own in the window
	})
	for range r.cfg.ElectionTicks {
		r.Tick() // past the startup guard
	}
	drain(r)
	step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 2, Index: 40})
	drain(r)
	require.Equal(t, NodeID(1), r.lead)

	step(t, r, Message{From: 3, Type: MsgAppResp, Term: 3})
	require.Equal(t, uint64(3), r.term)
	require.Equal(t, None, r.lead, "the higher term leaves it without a leader")

	vote := Message{From: 3, Type: MsgVote, Term: 3, Index: 2, LogTerm: 2}
	step(t, r, vote)
	for _, m := range ofType(drain(r), MsgVoteResp) {
		require.True(t, m.Reject, "voted within an election timeout of hearing from leader 1")
	}
	require.Equal(t, None, r.vote)

	// Once an election timeout has passed since the heartbeat, it may vote.
	for range r.cfg.ElectionTicks {
		r.Tick()
	}
	drain(r)
	step(t, r, vote)
	resps := ofType(drain(r), MsgVoteResp)
	require.Len(t, resps, 1)
	require.False(t, resps[0].Reject)
}

// TestScenarioLeaseSurvivesTermBumpWithoutPreVote runs the same story in
// a cluster: 3 is cut off and campaigns (no PreVote), raising its term; an
// old AppendEntries of 2's reaches it and its stale-term reply moves 2 to
// 3's term. 2 must not help elect 3 while leader 1's lease, which counts on
// 2, may still be answering reads.
// Reference: §6.4.1, §4.2.3
func TestScenarioLeaseSurvivesTermBumpWithoutPreVote(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.ReadMode, cfg.PreVote = ReadLease, false })
	c.propose("x")
	c.tick(12) // every server past its startup guard
	l := c.leader()
	f, cand := c.others(l)[0], c.others(l)[1]
	c.tick(1)
	require.True(t, c.node(l).leaseValid())
	// cand is cut off from the leader only, and campaigns at once.
	c.cut[[2]NodeID{l, cand}], c.cut[[2]NodeID{cand, l}] = true, true
	c.campaign(cand)
	c.deliverAll()
	require.Equal(t, StateCandidate, c.node(cand).state, "f ignores it: it heard the leader")
	// The stale-term reply bumps f to cand's term.
	step(t, c.node(f), Message{From: cand, To: f, Type: MsgAppResp, Term: c.node(cand).term})
	require.Equal(t, c.node(cand).term, c.node(f).term)
	c.campaign(cand) // its next election, at the next term
	c.deliverAll()
	require.NotEqual(t, cand, c.node(f).vote, "f voted within an election timeout of hearing from %d", l)
	require.False(t, c.node(cand).state == StateLeader && c.node(l).state == StateLeader && c.node(l).leaseValid(),
		"%d leads a newer term while %d's lease still holds", cand, l)
}

// TestLeaseMarginValidated checks that a lease margin below one tick, or
// one that leaves no lease at all, is refused; the default is at least one
// tick.
// Reference: §6.4.1
func TestLeaseMarginValidated(t *testing.T) {
	for _, tt := range []struct {
		margin, election int
		ok               bool
	}{
		{-1, 10, false}, {10, 10, false}, {12, 10, false},
		{1, 10, true}, {9, 10, true}, {0, 10, true}, {0, 3, true},
	} {
		t.Run(fmt.Sprintf("margin=%d,election=%d", tt.margin, tt.election), func(t *testing.T) {
			cfg := plainConfig(1)
			cfg.ReadMode, cfg.CheckQuorum = ReadLease, true
			cfg.ElectionTicks, cfg.LeaseMarginTicks = tt.election, tt.margin
			r, err := New(cfg, RestoredState{})
			if !tt.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.GreaterOrEqual(t, r.cfg.LeaseMarginTicks, 1)
			require.Less(t, r.cfg.LeaseMarginTicks, r.cfg.ElectionTicks)
		})
	}
}

// TestLeaseDatedFromSendNotAnswer checks where the lease starts when a
// heartbeat's answer is slow: "Once the leader's heartbeats were
// acknowledged by a majority of the cluster, it would extend its lease to
// start + election timeout", start being when the leader sent them. The
// follower's promise runs from when it received the heartbeat, which may
// be long before its answer reaches the leader; a lease dated by the
// answer's arrival would outlive that promise.
// Reference: §6.4.1
func TestLeaseDatedFromSendNotAnswer(t *testing.T) {
	r := newLeaseLeader(t, ConfState{Voters: []NodeID{1, 2, 3}})
	r.Tick()
	hb := heartbeatTo(t, drain(r), 2)
	lease := uint64(r.cfg.ElectionTicks - r.cfg.LeaseMarginTicks)
	for r.ticks < hb.Index+lease-1 {
		r.Tick()
		drain(r) // these heartbeats go unanswered
	}
	// 2's answer to the first heartbeat arrives in the lease's last tick.
	step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Index: hb.Index, Round: hb.Round})
	drain(r)
	require.True(t, r.leaseValid(), "within the lease counted from the send at tick %d", hb.Index)

	r.Tick()
	drain(r)
	require.NoError(t, r.ReadIndex([]byte("q")))
	require.Empty(t, readyOnce(r).ReadStates,
		"tick %d: lease read answered on a heartbeat sent at tick %d, as if the lease ran from its answer's arrival at tick %d",
		r.ticks, hb.Index, r.ticks-1)
}

// TestLeaseCountsOnlyVoters checks that a learner's answer extends no
// lease: the lease holds because a majority of voters promised not to vote
// for another candidate within an election timeout (§4.2.3), and a learner
// has no vote to withhold; it is "not yet counted towards majorities"
// (§4.2.1).
// Reference: §6.4.1, §4.2.1
func TestLeaseCountsOnlyVoters(t *testing.T) {
	r := newLeaseLeader(t, ConfState{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{4}})
	r.Tick()
	hb := heartbeatTo(t, drain(r), 4)
	step(t, r, Message{From: 4, Type: MsgHeartbeatResp, Term: r.term, Index: hb.Index, Round: hb.Round})
	drain(r)

	require.NoError(t, r.ReadIndex([]byte("q")))
	rd := readyOnce(r)
	require.Empty(t, rd.ReadStates, "a lease read answered on the word of learner 4 alone")
	hb = heartbeatTo(t, rd.Messages, 2)
	step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Index: hb.Index, Round: hb.Round})
	require.Equal(t, []ReadState{{Index: 2, Context: []byte("q")}}, readyOnce(r).ReadStates, "voter 2 confirms the read")
}

// newLeaseLeader is server 1 of conf reading by lease, leader of term 2
// with its no-op at index 2 acknowledged by server 2 (so committed), and
// no heartbeat answered yet: no lease.
func newLeaseLeader(t *testing.T, conf ConfState) *Raft {
	t.Helper()
	r := newTestRaftConf(t, 1, conf, 1, logOf(1), func(c *Config) {
		c.ReadMode, c.CheckQuorum = ReadLease, true
	})
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 2})
	drain(r)
	return r
}
