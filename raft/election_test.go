package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Paper tests for leader election: Figure 2's rules for servers, followers
// and candidates, the RequestVote receiver, and §5.2's randomized timeouts.

// TestStartAsFollower checks: "When servers start up, they begin as
// followers." — both a brand new server and one restarted from storage.
// Reference: §5.2
func TestStartAsFollower(t *testing.T) {
	fresh := newTestRaft(t, 1, []NodeID{1, 2, 3}, 0, nil, nil)
	require.Equal(t, StateFollower, fresh.state)

	restarted := newTestRaft(t, 1, []NodeID{1, 2, 3}, 7, logOf(1, 3, 7), nil)
	require.Equal(t, StateFollower, restarted.state)
	require.Equal(t, uint64(7), restarted.term)
	require.Equal(t, None, restarted.lead)
}

// TestHigherTermMakesFollower checks Figure 2, Rules for Servers, All
// Servers: "If RPC request or response contains term T > currentTerm: set
// currentTerm = T, convert to follower." A leader that learns of a newer
// term "immediately reverts to follower state".
// Reference: §5.1
func TestHigherTermMakesFollower(t *testing.T) {
	states := []StateType{StateFollower, StateCandidate, StateLeader}
	msgs := []Message{
		{From: 2, Type: MsgApp, Term: 10},
		{From: 2, Type: MsgHeartbeat, Term: 10},
		{From: 2, Type: MsgSnap, Term: 10, Snapshot: &Snapshot{Meta: SnapshotMeta{Index: 1, Term: 1}}},
		{From: 2, Type: MsgVote, Term: 10, Index: 10, LogTerm: 9},
		{From: 2, Type: MsgVoteResp, Term: 10, Reject: true},
		{From: 2, Type: MsgAppResp, Term: 10},
		{From: 2, Type: MsgHeartbeatResp, Term: 10},
	}
	for _, state := range states {
		for _, m := range msgs {
			t.Run(fmt.Sprintf("%s/%s", state, m.Type), func(t *testing.T) {
				r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, logOf(1, 2), nil)
				switch state {
				case StateCandidate:
					fireElection(r)
				case StateLeader:
					makeLeader(t, r)
				}
				require.Equal(t, state, r.state)
				step(t, r, m)
				require.Equal(t, StateFollower, r.state)
				require.Equal(t, uint64(10), r.term)
				switch m.Type {
				case MsgApp, MsgHeartbeat, MsgSnap:
					require.Equal(t, NodeID(2), r.lead, "the sender leads term 10")
				case MsgVote:
					require.Equal(t, NodeID(2), r.vote, "fresh term: the vote goes to the candidate")
				default:
					require.Equal(t, None, r.lead)
					require.Equal(t, None, r.vote, "a new term starts with no vote")
				}
			})
		}
	}
}

// TestStaleTermRejected checks: "If a server receives a request with a
// stale term number, it rejects the request." (AppendEntries and
// RequestVote receiver, rule 1: "Reply false if term < currentTerm.") The
// rejection of a stale AppendEntries carries our term, "for leader to update
// itself": the stale leader steps down. A stale vote request is refused,
// with our term too, "for candidate to update itself".
// Reference: §5.1
func TestStaleTermRejected(t *testing.T) {
	for _, checkQuorum := range []bool{false, true} {
		t.Run(fmt.Sprintf("checkQuorum=%v", checkQuorum), func(t *testing.T) {
			cfg := func(c *Config) { c.CheckQuorum = checkQuorum }
			r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 5, logOf(1, 5), cfg)
			step(t, r, Message{From: 2, Type: MsgApp, Term: 4, Index: 2, LogTerm: 4,
				Entries: []Entry{{Index: 3, Term: 4}}, Commit: 3})
			step(t, r, Message{From: 3, Type: MsgVote, Term: 4, Index: 9, LogTerm: 4})
			require.Equal(t, []uint64{1, 5}, termsOf(r), "a stale leader's entries are refused")
			require.Zero(t, r.log.committed)
			require.Equal(t, None, r.vote, "a stale candidate gets no vote")
			require.Equal(t, uint64(5), r.term)

			msgs := drain(r)
			votes := ofType(msgs, MsgVoteResp)
			require.Len(t, votes, 1)
			require.True(t, votes[0].Reject)
			require.Equal(t, uint64(5), votes[0].Term, "the refusal teaches the stale candidate our term")
			resps := ofType(msgs, MsgAppResp)
			require.Len(t, resps, 1)
			require.Equal(t, uint64(5), resps[0].Term, "the answer teaches the stale leader our term")

			stale := newTestRaft(t, 2, []NodeID{1, 2, 3}, 3, logOf(1), cfg)
			makeLeader(t, stale)
			step(t, stale, resps[0])
			require.Equal(t, StateFollower, stale.state)
			require.Equal(t, uint64(5), stale.term)
		})
	}
}

// TestFollowerStartsElectionOnTimeout checks Figure 2, Followers: "If
// election timeout elapses without receiving AppendEntries RPC from current
// leader or granting vote to candidate: convert to candidate." It must not
// happen a tick earlier.
// Reference: §5.2
func TestFollowerStartsElectionOnTimeout(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
	timeout := r.randomizedElectionTimeout
	for range timeout - 1 {
		r.Tick()
		require.Equal(t, StateFollower, r.state)
	}
	r.Tick()
	require.Equal(t, StateCandidate, r.state)
	require.Equal(t, uint64(2), r.term)
}

// TestAppendEntriesResetsElectionTimer checks: "A server remains in follower
// state as long as it receives valid RPCs from a leader or candidate.
// Leaders send periodic heartbeats ... to all followers in order to maintain
// their authority."
// Reference: §5.2
func TestAppendEntriesResetsElectionTimer(t *testing.T) {
	for _, typ := range []MessageType{MsgApp, MsgHeartbeat} {
		t.Run(typ.String(), func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
			for tick := range 10 * r.cfg.ElectionTicks {
				if tick%(r.cfg.ElectionTicks-1) == 0 {
					step(t, r, Message{From: 2, Type: typ, Term: 1})
				}
				r.Tick()
				require.Equal(t, StateFollower, r.state, "tick %d", tick)
				require.Equal(t, NodeID(2), r.lead)
			}
			// Silence: the timer fires.
			for range 2 * r.cfg.ElectionTicks {
				r.Tick()
			}
			require.Equal(t, StateCandidate, r.state)
		})
	}
}

// TestGrantingVoteResetsElectionTimer checks the other half of the
// follower rule: the timeout counts from "receiving AppendEntries RPC from
// current leader or granting vote to candidate". A vote granted in the
// current term (no term change to reset the timer) must reset it.
// Reference: §5.2
func TestGrantingVoteResetsElectionTimer(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, nil, nil)
	timeout := r.randomizedElectionTimeout
	for range timeout - 1 {
		r.Tick()
	}
	step(t, r, Message{From: 2, Type: MsgVote, Term: 2})
	require.Equal(t, NodeID(2), r.vote)
	for range timeout - 1 {
		r.Tick()
		require.Equal(t, StateFollower, r.state, "granting a vote restarts the timeout")
	}
}

// TestRefusingAVoteDoesNotResetElectionTimer checks the other half of
// Figure 2, Followers: the timer restarts on AppendEntries from the current
// leader or on granting a vote, not on a new term alone. A follower that
// refuses a candidate whose log is behind its own moves to the candidate's
// term and keeps counting, so it campaigns when its own timeout runs out.
// Restarting the timer at every new term let two servers with shorter logs,
// campaigning in turn, keep the only server able to win from ever
// campaigning first, when the three had to be unanimous: the simulator
// found no leader within 2 s of healing (sessions, backpressure, seed 767).
// Reference: Figure 2; §5.2, §5.4.1
func TestRefusingAVoteDoesNotResetElectionTimer(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, logOf(1, 2), nil)
	timeout := r.randomizedElectionTimeout
	for range timeout - 1 {
		r.Tick()
	}
	// Node 2's log ends at (1, 1), behind ours at (2, 2).
	step(t, r, Message{From: 2, Type: MsgVote, Term: 3, Index: 1, LogTerm: 1})
	require.Equal(t, uint64(3), r.term, "a higher term is taken")
	require.Equal(t, None, r.vote, "the vote is refused")
	require.Equal(t, StateFollower, r.state)
	r.Tick()
	require.NotEqual(t, StateFollower, r.state, "the timeout that was running when the vote was refused has run out")
}

// TestCandidateStartsElection checks Figure 2, Candidates: "On conversion to
// candidate, start election: Increment currentTerm; Vote for self; Reset
// election timer; Send RequestVote RPCs to all other servers." Each request
// carries the candidate's lastLogIndex and lastLogTerm, and the new term and
// vote are durable before the requests go out.
// Reference: §5.2
func TestCandidateStartsElection(t *testing.T) {
	voters := []NodeID{1, 2, 3, 4, 5}
	r := newTestRaft(t, 1, voters, 2, logOf(1, 1, 2), nil)
	fireElection(r)
	require.Equal(t, StateCandidate, r.state)
	require.Equal(t, uint64(3), r.term)
	require.Equal(t, NodeID(1), r.vote)
	require.Zero(t, r.electionElapsed)

	rd := readyOnce(r)
	require.Equal(t, HardState{Term: 3, Vote: 1}, rd.HardState)
	require.True(t, rd.MustSync)
	var to []NodeID
	for _, m := range rd.Messages {
		require.Equal(t, MsgVote, m.Type)
		require.Equal(t, uint64(3), m.Term)
		require.Equal(t, uint64(3), m.Index, "lastLogIndex")
		require.Equal(t, uint64(2), m.LogTerm, "lastLogTerm")
		to = append(to, m.To)
	}
	require.Equal(t, []NodeID{2, 3, 4, 5}, to)
}

// TestCandidateWinsWithMajority checks: "A candidate wins an election if it
// receives votes from a majority of the servers in the full cluster for the
// same term." A candidate that a majority refused stops campaigning and
// waits as a follower; short of either it stays a candidate.
// Reference: §5.2
func TestCandidateWinsWithMajority(t *testing.T) {
	tests := []struct {
		size    int
		granted []NodeID
		refused []NodeID
		want    StateType
	}{
		{1, nil, nil, StateLeader},
		{3, []NodeID{2}, nil, StateLeader},
		{3, []NodeID{2, 3}, nil, StateLeader},
		{3, nil, []NodeID{2}, StateCandidate},
		{3, nil, []NodeID{2, 3}, StateFollower},
		{5, []NodeID{2}, nil, StateCandidate},
		{5, []NodeID{2, 3}, nil, StateLeader},
		{5, []NodeID{2}, []NodeID{3, 4}, StateCandidate},
		{5, nil, []NodeID{2, 3, 4}, StateFollower},
		{5, []NodeID{2}, []NodeID{3, 4, 5}, StateFollower},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%v/%v", tt.size, tt.granted, tt.refused), func(t *testing.T) {
			var voters []NodeID
			for i := range tt.size {
				voters = append(voters, NodeID(i+1))
			}
			r := newTestRaft(t, 1, voters, 1, nil, nil)
			fireElection(r)
			for _, id := range tt.granted {
				step(t, r, Message{From: id, Type: MsgVoteResp, Term: r.term})
			}
			for _, id := range tt.refused {
				step(t, r, Message{From: id, Type: MsgVoteResp, Term: r.term, Reject: true})
			}
			require.Equal(t, tt.want, r.state)
			require.Equal(t, uint64(2), r.term)
		})
	}
}

// TestVotesCountOncePerVoter checks that a duplicated vote response (the
// network may deliver a message twice) is not a second vote: "each server
// will vote for at most one candidate in a given term".
// Reference: §5.2
func TestVotesCountOncePerVoter(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3, 4, 5}, 1, nil, nil)
	fireElection(r)
	for range 3 {
		step(t, r, Message{From: 2, Type: MsgVoteResp, Term: r.term})
	}
	require.Equal(t, StateCandidate, r.state, "one voter counted three times is not a majority")
}

// TestCandidateFollowsLeaderOfItsTerm checks Figure 2, Candidates: "If
// AppendEntries RPC received from new leader: convert to follower" — "If the
// leader's term (included in its RPC) is at least as large as the
// candidate's current term, then the candidate recognizes the leader as
// legitimate and returns to follower state. If the term in the RPC is
// smaller than the candidate's current term, then the candidate rejects the
// RPC and continues in candidate state."
// Reference: §5.2
func TestCandidateFollowsLeaderOfItsTerm(t *testing.T) {
	for _, typ := range []MessageType{MsgApp, MsgHeartbeat} {
		t.Run(typ.String(), func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
			fireElection(r)
			step(t, r, Message{From: 2, Type: typ, Term: 1})
			require.Equal(t, StateCandidate, r.state, "a stale leader is refused")
			step(t, r, Message{From: 2, Type: typ, Term: 2})
			require.Equal(t, StateFollower, r.state)
			require.Equal(t, NodeID(2), r.lead)
			require.Equal(t, uint64(2), r.term)
			require.Equal(t, NodeID(1), r.vote, "the vote of the term stays cast")
		})
	}
}

// TestCandidateRestartsElectionOnTimeout checks Figure 2, Candidates: "If
// election timeout elapses: start new election" — "each candidate will time
// out and start a new election by incrementing its term and initiating
// another round of RequestVote RPCs."
// Reference: §5.2
func TestCandidateRestartsElectionOnTimeout(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
	fireElection(r)
	require.Equal(t, uint64(2), r.term)
	drain(r)
	for range 2 * r.cfg.ElectionTicks {
		r.Tick()
	}
	require.Equal(t, StateCandidate, r.state)
	require.Equal(t, uint64(3), r.term)
	votes := ofType(drain(r), MsgVote)
	require.Len(t, votes, 2)
	require.Equal(t, uint64(3), votes[0].Term)
}

// TestRandomizedElectionTimeout checks: "Raft uses randomized election
// timeouts to ensure that split votes are rare and that they are resolved
// quickly. To prevent split votes in the first place, election timeouts are
// chosen randomly from a fixed interval." Here the interval is
// [ElectionTicks, 2*ElectionTicks), drawn anew at every term.
// Reference: §5.2
func TestRandomizedElectionTimeout(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
	seen := map[int]bool{}
	for term := uint64(2); term < 500; term++ {
		r.becomeFollower(term, None)
		timeout := r.randomizedElectionTimeout
		require.GreaterOrEqual(t, timeout, r.cfg.ElectionTicks)
		require.Less(t, timeout, 2*r.cfg.ElectionTicks)
		seen[timeout] = true
	}
	require.Len(t, seen, r.cfg.ElectionTicks, "every value of the interval is drawn")
}

// TestRandomizedTimeoutsAvoidSplitVotes checks the purpose of the
// randomization: with every server timing out at the same tick, each votes
// for itself and no election ever succeeds; randomized, a leader is elected.
// Reference: §5.2
func TestRandomizedTimeoutsAvoidSplitVotes(t *testing.T) {
	lockstep := newCluster(t, 5, func(c *Config) {
		c.PreVote, c.CheckQuorum = false, false
		c.Rand = fixedRand(0)
	})
	lockstep.tick(200)
	require.Equal(t, None, lockstep.leader(), "identical timeouts split every vote")
	require.Greater(t, lockstep.node(1).term, uint64(10))

	for seed := uint64(1); seed <= 20; seed++ {
		c := newCluster(t, 5, func(c *Config) {
			c.PreVote, c.CheckQuorum = false, false
			c.Rand = newRand(seed*100 + uint64(c.ID))
		})
		l := c.waitLeader()
		require.LessOrEqual(t, c.node(l).term, uint64(4), "seed %d: split votes resolve within a few terms", seed)
	}
}

// TestVoteGranting checks the RequestVote receiver, rule 2: "If votedFor is
// null or candidateId, and candidate's log is at least as up-to-date as
// receiver's log, grant vote." A repeated request from the candidate we
// voted for is granted again (RPCs are retried, §5.5); any other is refused.
// A server that follows a leader of this term also refuses: the term has a
// leader, so no candidate can win it.
// Reference: §5.2
func TestVoteGranting(t *testing.T) {
	tests := []struct {
		name  string
		vote  NodeID
		lead  NodeID
		grant bool
	}{
		{"no vote yet", None, None, true},
		{"same candidate again", 2, None, true},
		{"voted for another", 3, None, false},
		{"follows a leader of the term", None, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 4, logOf(1, 4), nil)
			r.vote, r.lead = tt.vote, tt.lead
			drain(r)
			step(t, r, Message{From: 2, Type: MsgVote, Term: 4, Index: 2, LogTerm: 4})
			rd := readyOnce(r)
			resps := ofType(rd.Messages, MsgVoteResp)
			require.Len(t, resps, 1)
			require.Equal(t, !tt.grant, resps[0].Reject)
			if tt.grant {
				require.Equal(t, NodeID(2), r.vote)
			} else {
				require.Equal(t, tt.vote, r.vote)
			}
		})
	}
}

// TestElectionRestriction checks: "Raft determines which of two logs is
// more up-to-date by comparing the index and term of the last entries in
// the logs. If the logs have last entries with different terms, then the
// log with the later term is more up-to-date. If the logs end with the same
// term, then whichever log is longer is more up-to-date." — "the voter
// denies its vote if its own log is more up-to-date than that of the
// candidate."
// Reference: §5.4.1
func TestElectionRestriction(t *testing.T) {
	// The voter's log is [1 1 2]: last index 3, last term 2.
	tests := []struct {
		lastIndex, lastTerm uint64
		grant               bool
	}{
		{3, 2, true},  // identical
		{4, 2, true},  // same term, longer
		{2, 2, false}, // same term, shorter
		{1, 3, true},  // later term wins even if shorter
		{9, 1, false}, // earlier term loses even if longer
		{3, 1, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.lastIndex, tt.lastTerm), func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 3, logOf(1, 1, 2), nil)
			step(t, r, Message{From: 2, Type: MsgVote, Term: 4, Index: tt.lastIndex, LogTerm: tt.lastTerm})
			resps := ofType(drain(r), MsgVoteResp)
			require.Len(t, resps, 1)
			require.Equal(t, !tt.grant, resps[0].Reject)
			require.Equal(t, uint64(4), r.term, "the term moves either way")
		})
	}
}

// TestLeaderAnnouncesItselfAndHeartbeats checks Figure 2, Leaders: "Upon
// election: send initial empty AppendEntries RPCs (heartbeat) to each
// server; repeat during idle periods to prevent election timeouts." Here
// the first AppendEntries carries the leader's no-op entry (§8), and idle
// heartbeats go out every HeartbeatTicks.
// Reference: §5.2
func TestLeaderAnnouncesItselfAndHeartbeats(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, func(c *Config) { c.HeartbeatTicks = 3 })
	fireElection(r)
	step(t, r, Message{From: 2, Type: MsgVoteResp, Term: 2})
	require.Equal(t, StateLeader, r.state)
	apps := ofType(drain(r), MsgApp)
	require.Len(t, apps, 2)
	for _, m := range apps {
		require.Equal(t, uint64(2), m.Term)
	}
	for round := range 3 {
		for range 2 {
			r.Tick()
			require.Empty(t, ofType(drain(r), MsgHeartbeat), "round %d: not yet", round)
		}
		r.Tick()
		beats := ofType(drain(r), MsgHeartbeat)
		require.Len(t, beats, 2, "round %d", round)
		require.ElementsMatch(t, []NodeID{2, 3}, []NodeID{beats[0].To, beats[1].To})
	}
}

// TestLeaderAppendsNoopOnElection checks: "Raft handles this by having each
// leader commit a blank no-op entry into the log at the start of its term."
// Reference: §8
func TestLeaderAppendsNoopOnElection(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1, 1), nil)
	makeLeader(t, r)
	require.Equal(t, uint64(3), r.log.lastIndex())
	noop := r.log.entry(3)
	require.Equal(t, r.term, noop.Term)
	require.Equal(t, EntryNormal, noop.Type)
	require.Empty(t, noop.Data)
}
