package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Paper tests for linearizable reads without the log (thesis §6.4).

// TestReadIndexOnLeader checks steps 2 and 3 of §6.4: "The leader saves its
// current commit index in a local variable readIndex" and "The leader needs
// to make sure it hasn't been superseded by a newer leader of which it is
// unaware. It issues a new round of heartbeats and waits for their
// acknowledgments from a majority of the cluster." The read index is handed
// out only after that round.
// Reference: §6.4
func TestReadIndexOnLeader(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3, 4, 5}, 1, logOf(1), nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 2})
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: 2})
	drain(r)
	require.Equal(t, uint64(2), r.log.committed)

	require.NoError(t, r.ReadIndex([]byte("r1")))
	rd := readyOnce(r)
	require.Empty(t, rd.ReadStates, "not before a majority confirms")
	beats := ofType(rd.Messages, MsgHeartbeat)
	require.Len(t, beats, 4)
	for _, m := range beats {
		require.Equal(t, beats[0].Round, m.Round, "one round, numbered by the leader")
	}
	round := beats[0].Round
	// A write commits meanwhile; the read index stays what it was.
	_, _, err := r.Propose([]byte("w"))
	require.NoError(t, err)
	drain(r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 3})
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: 3})

	step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Round: round})
	step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Round: round})
	require.Empty(t, readyOnce(r).ReadStates, "two acknowledgements (one repeated) of five")
	step(t, r, Message{From: 5, Type: MsgHeartbeatResp, Term: r.term, Round: round})
	rd = readyOnce(r)
	require.Equal(t, []ReadState{{Index: 2, Context: []byte("r1")}}, rd.ReadStates)
}

// TestReadIndexConfirmsEarlierReads checks that one heartbeat round
// confirms every read queued before it: leadership was held throughout.
// Reference: §6.4
func TestReadIndexConfirmsEarlierReads(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 2})
	drain(r)
	for i := range 3 {
		require.NoError(t, r.ReadIndex([]byte(fmt.Sprintf("r%d", i))))
	}
	beats := ofType(drain(r), MsgHeartbeat)
	last := beats[len(beats)-1].Round
	step(t, r, Message{From: 3, Type: MsgHeartbeatResp, Term: r.term, Round: last})
	rd := readyOnce(r)
	require.Len(t, rd.ReadStates, 3)
	for i, rs := range rd.ReadStates {
		require.Equal(t, fmt.Sprintf("r%d", i), string(rs.Context))
		require.Equal(t, uint64(2), rs.Index)
	}
}

// TestReadIndexWaitsForCurrentTermCommit checks step 1: "If the leader has
// not yet marked an entry from its current term committed, it waits until
// it has done so. The Leader Completeness Property guarantees that a leader
// has all committed entries, but at the start of its term, it may not know
// which those are."
// Reference: §6.4
func TestReadIndexWaitsForCurrentTermCommit(t *testing.T) {
	for _, mode := range []ReadMode{ReadSafe, ReadLease} {
		t.Run(fmt.Sprintf("mode=%d", mode), func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1, 1), func(c *Config) {
				c.ReadMode, c.CheckQuorum = mode, true
			})
			makeLeader(t, r)
			require.NoError(t, r.ReadIndex([]byte("r")))
			msgs := drain(r)
			require.Empty(t, ofType(msgs, MsgHeartbeat), "no round before the no-op commits")
			require.Empty(t, r.readStates)

			step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 3})
			require.Equal(t, uint64(3), r.log.committed)
			rd := readyOnce(r)
			// In lease mode too: no heartbeat round has been answered yet,
			// so there is no lease and the read takes a round.
			require.Empty(t, rd.ReadStates)
			beats := ofType(rd.Messages, MsgHeartbeat)
			require.NotEmpty(t, beats, "the round starts once the no-op commits")
			step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Round: beats[0].Round})
			rd = readyOnce(r)
			require.Equal(t, []ReadState{{Index: 3, Context: []byte("r")}}, rd.ReadStates,
				"the read index covers the no-op, hence every earlier commit")
		})
	}
}

// TestReadIndexOnFollowerServedAfterApply checks: "Followers could also help
// offload the processing of read-only queries. ... To serve reads safely,
// the follower could issue a request to the leader that just asked for a
// current readIndex (the leader would execute steps 1–3 above); the follower
// could then execute steps 4 and 5 on its own state machine" — it serves
// the read once it has applied through that index.
// Reference: §6.4
func TestReadIndexOnFollowerServedAfterApply(t *testing.T) {
	c := newCluster(t, 3, nil)
	// Lose the empty AppendEntries that announce a new commit index, so the
	// followers learn it only with the next entries or heartbeat.
	c.dropFn = func(m Message) bool { return m.Type == MsgApp && len(m.Entries) == 0 }
	for i := range 3 {
		c.propose(fmt.Sprintf("x%d", i))
	}
	c.dropFn = nil
	l := c.leader()
	f := c.others(l)[0]
	// f has not heard of the last commit yet (no heartbeat since).
	require.Less(t, c.node(f).log.committed, c.node(l).log.committed)
	require.Less(t, c.nodes[f].lastApp, c.node(l).log.committed)
	require.NoError(t, c.node(f).ReadIndex([]byte("q")))
	c.deliverAll()
	require.Len(t, c.nodes[f].reads, 1)
	rs := c.nodes[f].reads[0]
	require.Equal(t, c.node(l).log.committed, rs.Index)
	require.Equal(t, "q", string(rs.Context))
	// The read round's heartbeats carry the commit index too, so the
	// follower can serve the read without waiting for another round.
	require.GreaterOrEqual(t, c.nodes[f].lastApp, rs.Index)

	lone := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
	require.ErrorIs(t, lone.ReadIndex([]byte("q")), ErrNoLeader)
}

// TestDeposedLeaderCannotServeReads checks the reason for step 3: "a leader
// might be partitioned from the rest of the cluster, and the rest of the
// cluster might have elected a new leader and committed new entries. If the
// partitioned leader responded to a read-only query without consulting the
// other servers, it would return stale results." In safe mode the cut-off
// leader never answers, with or without CheckQuorum.
// Reference: §6.4
func TestDeposedLeaderCannotServeReads(t *testing.T) {
	for _, checkQuorum := range []bool{true, false} {
		t.Run(fmt.Sprintf("checkQuorum=%v", checkQuorum), func(t *testing.T) {
			c := newCluster(t, 3, func(cfg *Config) { cfg.CheckQuorum = checkQuorum })
			c.propose("x")
			old := c.leader()
			c.isolate(old)
			require.NoError(t, c.node(old).ReadIndex([]byte("early")))
			c.tick(30)
			l := c.leader()
			require.NotEqual(t, old, l)
			c.propose("newer")
			if !checkQuorum {
				require.Equal(t, StateLeader, c.node(old).state, "nothing tells it")
				require.NoError(t, c.node(old).ReadIndex([]byte("late")))
			}
			c.tick(5)
			c.heal()
			c.tick(5)
			require.Empty(t, c.nodes[old].reads, "a deposed leader answered a read")
			require.NotEqual(t, StateLeader, c.node(old).state)
		})
	}
}

// TestLeaseRead checks §6.4.1: "the leader would use the normal heartbeat
// mechanism to maintain a lease. Once the leader's heartbeats were
// acknowledged by a majority of the cluster, it would extend its lease to
// start + election timeout, since the followers shouldn't time out before
// then." Within the lease the leader answers at once, without a round; the
// lease is dated from when the round was sent and runs out after the
// election timeout minus the drift margin. New refuses a lease without
// CheckQuorum (see TestConfigValidation).
// Reference: §6.4.1
func TestLeaseRead(t *testing.T) {
	r := newLeaseLeader(t, ConfState{Voters: []NodeID{1, 2, 3}})
	// No heartbeat answered yet: no lease, the read takes a round.
	require.NoError(t, r.ReadIndex([]byte("first")))
	rd := readyOnce(r)
	require.Empty(t, rd.ReadStates)
	hbs := ofType(rd.Messages, MsgHeartbeat)
	require.NotEmpty(t, hbs)
	sent := hbs[0].Index
	step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Round: hbs[0].Round, Index: sent})
	require.Len(t, readyOnce(r).ReadStates, 1)

	// Within the lease: answered at once, no round.
	require.NoError(t, r.ReadIndex([]byte("fast")))
	rd = readyOnce(r)
	require.Equal(t, []ReadState{{Index: 2, Context: []byte("fast")}}, rd.ReadStates)
	require.Empty(t, ofType(rd.Messages, MsgHeartbeat))

	// Past election timeout minus margin from the send, with no newer
	// answers, the lease is gone.
	for r.ticks < sent+uint64(r.cfg.ElectionTicks-r.cfg.LeaseMarginTicks) {
		r.Tick()
	}
	drain(r)
	require.NoError(t, r.ReadIndex([]byte("late")))
	rd = readyOnce(r)
	require.Empty(t, rd.ReadStates, "an expired lease must not answer")
	require.NotEmpty(t, ofType(rd.Messages, MsgHeartbeat))
}

// TestLeaseRevokedByTransfer checks that a leader which told a target to
// campaign (its vote requests override the voters' leases, §3.10) no longer
// answers from its lease.
// Reference: §6.4.1, §3.10
func TestLeaseRevokedByTransfer(t *testing.T) {
	r := newLeaseLeader(t, ConfState{Voters: []NodeID{1, 2, 3}})
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: 2})
	drain(r)
	r.Tick()
	hbs := ofType(drain(r), MsgHeartbeat)
	require.NotEmpty(t, hbs)
	step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Index: hbs[0].Index})
	require.True(t, r.leaseValid())
	require.NoError(t, r.TransferLeadership(2))
	require.Len(t, ofType(drain(r), MsgTimeoutNow), 1)
	require.False(t, r.leaseValid())
}

// TestReadIndexSingleVoter checks that a lone voter needs nobody's
// confirmation.
// Reference: §6.4
func TestReadIndexSingleVoter(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1}, 1, nil, nil)
	fireElection(r)
	drain(r)
	require.NoError(t, r.ReadIndex([]byte("q")))
	rd := readyOnce(r)
	require.Equal(t, []ReadState{{Index: 1, Context: []byte("q")}}, rd.ReadStates)
}

// TestLeaseStartupGuard checks the vote guard the lease relies on across
// restarts: a server may have answered a heartbeat just before it crashed,
// and the leader's lease counts on it not voting for another candidate for
// an election timeout after that (§4.2.3). With lease reads, a server that
// (re)starts therefore ignores vote requests for its first election
// timeout; without them it answers at once.
// Reference: §6.4.1, §4.2.3
func TestLeaseStartupGuard(t *testing.T) {
	for _, mode := range []ReadMode{ReadLease, ReadSafe} {
		t.Run(fmt.Sprintf("mode=%d", mode), func(t *testing.T) {
			r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 3, logOf(1, 3), func(c *Config) {
				c.ReadMode, c.CheckQuorum = mode, true
				c.Rand = fixedRand(9) // no campaign of its own in the window
			})
			vote := Message{From: 3, Type: MsgVote, Term: 4, Index: 2, LogTerm: 3}
			step(t, r, vote)
			if mode == ReadSafe {
				require.Len(t, ofType(drain(r), MsgVoteResp), 1)
				return
			}
			require.Empty(t, drain(r), "just restarted: it may have promised a leader its lease")
			for range r.cfg.ElectionTicks {
				r.Tick()
			}
			step(t, r, vote)
			resps := ofType(drain(r), MsgVoteResp)
			require.Len(t, resps, 1)
			require.False(t, resps[0].Reject)
		})
	}
}

// TestLeaseNeverOutlivesNewLeader checks the lease end to end: "the leader
// could rely on the heartbeat mechanism to provide a form of lease, but
// this would rely on timing for safety (it assumes bounded clock skew)". A
// leader cut off from the others keeps answering lease reads only until its
// lease runs out, which is before the others can elect a new leader. Every
// tick the old leader is asked to read; no read may be answered once a
// newer leader exists.
// Reference: §8, §6.4.1
func TestLeaseNeverOutlivesNewLeader(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.ReadMode, cfg.CheckQuorum = ReadLease, true })
	c.propose("x")
	c.tick(2)
	old := c.leader()
	c.isolate(old)
	answeredInLease := 0
	for i := range 60 {
		if c.node(old).state == StateLeader {
			require.NoError(t, c.node(old).ReadIndex([]byte(fmt.Sprintf("r%d", i))))
		}
		before := len(c.nodes[old].reads)
		newer := None
		if l := c.leader(); l != None && l != old {
			newer = l
		}
		c.tick(1)
		if len(c.nodes[old].reads) > before {
			answeredInLease++
			require.Equal(t, None, newer, "tick %d: a lease read answered while %d leads a newer term", i, newer)
		}
	}
	require.Positive(t, answeredInLease, "the lease served reads while it held")
	require.NotEqual(t, old, c.leader(), "the others elected a new leader")
}

// TestLeaseStaysRevokedAfterTransfer checks that once TimeoutNow is sent,
// later heartbeat answers do not bring the lease back: the target's vote
// requests override the voters' promise not to vote (§4.2.3), so for the
// rest of the term only a ReadIndex round can confirm leadership.
// Reference: §6.4.1, §3.10
func TestLeaseStaysRevokedAfterTransfer(t *testing.T) {
	r := newLeaseLeader(t, ConfState{Voters: []NodeID{1, 2, 3}})
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: 2})
	drain(r)
	require.NoError(t, r.TransferLeadership(2))
	require.Len(t, ofType(drain(r), MsgTimeoutNow), 1)
	r.Tick()
	hbs := ofType(drain(r), MsgHeartbeat)
	require.NotEmpty(t, hbs)
	step(t, r, Message{From: 3, Type: MsgHeartbeatResp, Term: r.term, Index: hbs[0].Index})
	require.False(t, r.leaseValid(), "a fresh answer after TimeoutNow is no lease")
	require.NoError(t, r.ReadIndex([]byte("q")))
	rd := readyOnce(r)
	require.Empty(t, rd.ReadStates)
	require.NotEmpty(t, ofType(rd.Messages, MsgHeartbeat), "falls back to a ReadIndex round")
}

// TestReadDoesNotOutliveItsTerm checks that a read is answered only in the
// term it was asked in. Before answering with the read index it saved, the
// leader "needs to make sure it hasn't been superseded by a newer leader of
// which it is unaware" (§6.4, step 3). Leader 1 of term 2 is already
// superseded: 2 leads term 3 and commits index 3. 1 saves read index 2;
// its heartbeats are lost. It learns of term 3, catches up and wins term
// 4. A round of term 4 shows that 1 leads now, not that it still led when
// it saved index 2: the read must have been dropped with term 2.
// Reference: §6.4
func TestReadDoesNotOutliveItsTerm(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 2})
	drain(r)
	require.NoError(t, r.ReadIndex([]byte("old")))
	drain(r) // the read's heartbeats are lost

	// Leader 2 of term 3 brings 1 up to date: index 3 is committed.
	step(t, r, Message{From: 2, Type: MsgApp, Term: 3, Index: 2, LogTerm: 2,
		Entries: []Entry{{Index: 3, Term: 3}}, Commit: 3})
	require.Equal(t, StateFollower, r.state)
	require.Equal(t, uint64(3), r.log.committed)
	drain(r)

	makeLeader(t, r) // term 4
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 4, Index: 4})
	r.Tick()
	hb := heartbeatTo(t, drain(r), 3)
	step(t, r, Message{From: 3, Type: MsgHeartbeatResp, Term: 4, Index: hb.Index, Round: hb.Round})
	require.Empty(t, readyOnce(r).ReadStates,
		"a read asked in term 2 was answered in term 4, with a read index from before index 3 was committed")
}
