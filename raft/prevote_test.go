package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Paper tests for the election extensions of the thesis: PreVote (§9.6),
// CheckQuorum (§6.2) and ignoring vote requests while a leader is heard
// from (§4.2.3), including the traps they set for each other.

func preVoteConfig(c *Config) { c.PreVote = true }

// TestPreVoteKeepsTermWhilePartitioned checks: "A candidate would first ask
// other servers whether its log was up-to-date enough to get their vote.
// Only if the candidate believed it could get votes from a majority of the
// cluster would it increment its term and start a normal election." A
// partitioned server therefore does not inflate its term, and does not
// depose the leader when it comes back. Without PreVote it does both.
// Reference: §9.6
func TestPreVoteKeepsTermWhilePartitioned(t *testing.T) {
	for _, preVote := range []bool{true, false} {
		t.Run(fmt.Sprintf("preVote=%v", preVote), func(t *testing.T) {
			c := newCluster(t, 3, func(cfg *Config) { cfg.PreVote, cfg.CheckQuorum = preVote, false })
			c.propose("x")
			l := c.leader()
			leaderTerm := c.node(l).term
			cut := c.others(l)[0]
			c.isolate(cut)
			c.tick(100)
			c.heal()
			c.tick(50)
			if preVote {
				require.Equal(t, leaderTerm, c.node(cut).term, "pre-elections do not raise the term")
				require.Equal(t, l, c.leader())
				require.Equal(t, leaderTerm, c.node(l).term, "the leader was not disturbed")
			} else {
				require.Greater(t, c.node(l).term, leaderTerm, "the returning server deposed the leader")
			}
			// Either way the cluster works afterwards.
			c.propose("y")
			c.tick(3)
			for _, id := range c.ids {
				require.Equal(t, []string{"x", "y"}, appliedData(c.nodes[id]))
			}
		})
	}
}

// TestPreVoteChangesNoState checks that answering a pre-vote commits the
// voter to nothing: it grants on the log check alone and keeps its term and
// vote ("a pre-vote does not change anyone's term"). The grant carries the
// term asked about, so the pre-candidate counts it.
// Reference: §9.6
func TestPreVoteChangesNoState(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 3, logOf(1, 3), preVoteConfig)
	r.vote = 3
	step(t, r, Message{From: 1, Type: MsgPreVote, Term: 4, Index: 2, LogTerm: 3})
	resps := ofType(drain(r), MsgPreVoteResp)
	require.Len(t, resps, 1)
	require.False(t, resps[0].Reject)
	require.Equal(t, uint64(4), resps[0].Term)
	require.Equal(t, uint64(3), r.term)
	require.Equal(t, NodeID(3), r.vote)

	// The log check still applies.
	step(t, r, Message{From: 1, Type: MsgPreVote, Term: 4, Index: 1, LogTerm: 1})
	resps = ofType(drain(r), MsgPreVoteResp)
	require.Len(t, resps, 1)
	require.True(t, resps[0].Reject)
}

// TestPreCandidateBecomesCandidateWithMajority checks the second half of
// the pre-election: with a majority of pre-votes the server increments its
// term and starts a normal election; the pre-election itself changed
// neither its term nor its vote.
// Reference: §9.6
func TestPreCandidateBecomesCandidateWithMajority(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3, 4, 5}, 3, logOf(1, 3), preVoteConfig)
	fireElection(r)
	require.Equal(t, StatePreCandidate, r.state)
	require.Equal(t, uint64(3), r.term)
	require.Equal(t, None, r.vote)
	rd := readyOnce(r)
	require.True(t, rd.HardState.IsEmpty(), "nothing durable changes in a pre-election")
	pre := ofType(rd.Messages, MsgPreVote)
	require.Len(t, pre, 4)
	require.Equal(t, uint64(4), pre[0].Term, "asks about the next term")

	step(t, r, Message{From: 2, Type: MsgPreVoteResp, Term: 4})
	require.Equal(t, StatePreCandidate, r.state)
	step(t, r, Message{From: 3, Type: MsgPreVoteResp, Term: 4})
	require.Equal(t, StateCandidate, r.state)
	require.Equal(t, uint64(4), r.term)
	require.Equal(t, NodeID(1), r.vote)
	require.Len(t, ofType(drain(r), MsgVote), 4)
}

// TestPreCandidateGivesUpOnMajorityRefusal checks that a pre-candidate a
// majority refused waits as a follower, at its old term.
// Reference: §9.6
func TestPreCandidateGivesUpOnMajorityRefusal(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 3, logOf(1), preVoteConfig)
	fireElection(r)
	step(t, r, Message{From: 2, Type: MsgPreVoteResp, Term: 3, Reject: true})
	step(t, r, Message{From: 3, Type: MsgPreVoteResp, Term: 3, Reject: true})
	require.Equal(t, StateFollower, r.state)
	require.Equal(t, uint64(3), r.term)
}

// TestLowerTermPreVoteRejectedWithTerm checks the trap of PreVote with a
// server whose term is behind: since pre-votes never raise terms, a server
// left at a lower term would keep asking at a term nobody accepts. The
// rejection must carry the responder's term so the asker catches up and
// can take part in the next election.
// Reference: §9.6
func TestLowerTermPreVoteRejectedWithTerm(t *testing.T) {
	high := newTestRaft(t, 2, []NodeID{1, 2, 3}, 7, logOf(1, 7), preVoteConfig)
	low := newTestRaft(t, 1, []NodeID{1, 2, 3}, 3, logOf(1), preVoteConfig)
	fireElection(low)
	req := ofType(drain(low), MsgPreVote)[0]
	require.Equal(t, uint64(4), req.Term)
	step(t, high, req)
	resps := ofType(drain(high), MsgPreVoteResp)
	require.Len(t, resps, 1)
	require.True(t, resps[0].Reject)
	require.Equal(t, uint64(7), resps[0].Term, "the rejection carries the responder's term")
	require.Equal(t, uint64(7), high.term)

	step(t, low, resps[0])
	require.Equal(t, StateFollower, low.state)
	require.Equal(t, uint64(7), low.term, "the asker learns the cluster's term")
}

// TestPreCandidateForgetsLeader checks the trap of PreVote with the lease of
// §4.2.3: a server that starts a pre-election has given up on its leader.
// If it remembered the leader it would refuse the pre-votes of the other
// servers that lost the same leader ("within the minimum election timeout
// of hearing from a current leader"), and with two such servers no
// election could ever succeed.
// Reference: §9.6
func TestPreCandidateForgetsLeader(t *testing.T) {
	cfg := func(c *Config) {
		c.PreVote, c.CheckQuorum = true, true
		c.Rand = fixedRand(0) // the timer fires after exactly ElectionTicks
	}
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, logOf(1, 2), cfg)
	step(t, r, Message{From: 2, Type: MsgHeartbeat, Term: 2})
	require.Equal(t, NodeID(2), r.lead)
	for range r.cfg.ElectionTicks {
		r.Tick()
	}
	require.Equal(t, StatePreCandidate, r.state)
	require.Equal(t, None, r.lead)
	drain(r)

	step(t, r, Message{From: 3, Type: MsgPreVote, Term: 3, Index: 2, LogTerm: 2})
	resps := ofType(drain(r), MsgPreVoteResp)
	require.Len(t, resps, 1, "a pre-candidate answers other pre-candidates")
	require.False(t, resps[0].Reject)
}

// TestLeaseIgnoresVoteRequests checks: "if a server receives a RequestVote
// request within the minimum election timeout of hearing from a current
// leader, it does not update its term or grant its vote." With CheckQuorum
// this holds for votes and pre-votes; after an election timeout of silence
// the request is answered. A request from a leadership transfer is granted
// even inside the lease: "I have permission to disrupt the leader—it told
// me to!"
// Reference: §4.2.3
func TestLeaseIgnoresVoteRequests(t *testing.T) {
	cfg := func(c *Config) {
		c.PreVote, c.CheckQuorum = true, true
		c.Rand = fixedRand(9) // election timeout 19 ticks, lease 10
	}
	for _, typ := range []MessageType{MsgVote, MsgPreVote} {
		t.Run(typ.String(), func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, logOf(1, 2), cfg)
			step(t, r, Message{From: 2, Type: MsgHeartbeat, Term: 2})
			drain(r)
			req := Message{From: 3, Type: typ, Term: 3, Index: 2, LogTerm: 2}
			step(t, r, req)
			require.Empty(t, drain(r), "ignored inside the lease")
			require.Equal(t, uint64(2), r.term)
			require.Equal(t, NodeID(2), r.lead)

			// The promise holds for a whole election timeout of its own
			// ticks, to the last one: the lease counts on every tick.
			for range r.cfg.ElectionTicks - 1 {
				r.Tick()
			}
			step(t, r, req)
			require.Empty(t, drain(r), "ignored one tick before the lease ran out")
			r.Tick()
			require.Equal(t, StateFollower, r.state)
			step(t, r, req)
			resps := drain(r)
			require.Len(t, resps, 1, "answered once the lease ran out")
			require.False(t, resps[0].Reject)
		})
	}
	t.Run("transfer", func(t *testing.T) {
		r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, logOf(1, 2), cfg)
		step(t, r, Message{From: 2, Type: MsgHeartbeat, Term: 2})
		drain(r)
		step(t, r, Message{From: 3, Type: MsgVote, Term: 3, Index: 2, LogTerm: 2, Context: []byte(campaignTransfer)})
		resps := ofType(drain(r), MsgVoteResp)
		require.Len(t, resps, 1)
		require.False(t, resps[0].Reject)
		require.Equal(t, uint64(3), r.term)
		require.Equal(t, NodeID(3), r.vote)
	})
}

// TestCheckQuorumLeaderStepsDown checks: "a leader in Raft steps down if an
// election timeout elapses without a successful round of heartbeats to a
// majority of its cluster; this allows clients to retry their requests
// with another server." One answering follower of two is a majority with
// the leader; none is not.
// Reference: §6.2
func TestCheckQuorumLeaderStepsDown(t *testing.T) {
	for _, answering := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("answering=%d", answering), func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, func(c *Config) { c.CheckQuorum = true })
			makeLeader(t, r)
			// The first round after election counts every peer as active.
			for range 3 * r.cfg.ElectionTicks {
				r.Tick()
				for _, m := range ofType(drain(r), MsgHeartbeat) {
					if int(m.To) <= answering+1 {
						step(t, r, Message{From: m.To, Type: MsgHeartbeatResp, Term: r.term})
					}
				}
			}
			if answering >= 1 {
				require.Equal(t, StateLeader, r.state)
			} else {
				require.Equal(t, StateFollower, r.state)
				require.Equal(t, None, r.lead)
			}
		})
	}
}

// TestCheckQuorumDeposesPartitionedLeader runs §6.2 over the network: the
// old leader, cut off, steps down on its own while the rest elect a new one.
// Reference: §6.2
func TestCheckQuorumDeposesPartitionedLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.waitLeader()
	c.isolate(old)
	for range 3 * 10 {
		c.tick(1)
	}
	require.NotEqual(t, StateLeader, c.node(old).state)
	l := c.leader()
	require.NotEqual(t, None, l)
	require.NotEqual(t, old, l)
}

// TestCheckQuorumCountsOnlyVoters checks that only voters keep a leader in
// office. A leader "steps down if an election timeout elapses without a
// successful round of heartbeats to a majority of its cluster" (§6.2), and
// a learner is "not yet counted towards majorities" (§4.2.1). Here the
// leader of voters 1, 2, 3 hears from its learner 4 alone.
// Reference: §6.2, §4.2.1
func TestCheckQuorumCountsOnlyVoters(t *testing.T) {
	conf := ConfState{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{4}}
	r := newTestRaftConf(t, 1, conf, 1, nil, func(c *Config) { c.CheckQuorum = true })
	makeLeader(t, r)
	// The first check after election counts every peer as active; the
	// second one steps down.
	for range 2 * r.cfg.ElectionTicks {
		r.Tick()
		for _, m := range ofType(drain(r), MsgHeartbeat) {
			if m.To == 4 {
				step(t, r, Message{From: 4, Type: MsgHeartbeatResp, Term: r.term, Index: m.Index, Round: m.Round})
			}
		}
	}
	require.Equal(t, StateFollower, r.state, "a leader that heard from its learner alone for an election timeout is still %s", r.state)
}
