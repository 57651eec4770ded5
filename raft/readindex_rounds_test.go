package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Paper tests for how a leader matches heartbeat answers to the reads they
// confirm (issue 7, item 2). §6.4, step 3: "The leader needs to make sure it
// hasn't been superseded by a newer leader of which it is unaware. It
// issues a new round of heartbeats and waits for their acknowledgments from
// a majority of the cluster." An acknowledgement confirms a read only if it
// answers a round the leader began after the read arrived.

// answerOf delivers m to server r, which plays a follower, and returns the
// heartbeat answer it sends back.
func answerOf(t *testing.T, r *Raft, m Message) Message {
	t.Helper()
	step(t, r, m)
	resps := ofType(drain(r), MsgHeartbeatResp)
	require.Len(t, resps, 1)
	return resps[0]
}

// heartbeatTo returns the heartbeat in msgs addressed to id.
func heartbeatTo(t *testing.T, msgs []Message, id NodeID) Message {
	t.Helper()
	for _, m := range ofType(msgs, MsgHeartbeat) {
		if m.To == id {
			return m
		}
	}
	t.Fatalf("no heartbeat to %d in %v", id, msgs)
	return Message{}
}

// TestReadConfirmedOnlyByLaterRound: a follower's read and the leader's own
// read use the same context bytes (each host numbers its reads "r1", "r2",
// ... on its own). An answer from a round sent before the leader's read
// existed arrives late; it must not confirm that read, whatever its
// context.
// Reference: §6.4
func TestReadConfirmedOnlyByLaterRound(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	f2 := newTestRaft(t, 2, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	f3 := newTestRaft(t, 3, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 2})
	drain(r)
	require.True(t, r.committedInCurrentTerm())

	// Follower 2 forwards a read "r1"; the leader begins a round for it.
	step(t, r, Message{From: 2, Type: MsgReadIndex, Context: []byte("r1")})
	round1 := drain(r)
	late := answerOf(t, f2, heartbeatTo(t, round1, 2)) // held back in the network
	step(t, r, answerOf(t, f3, heartbeatTo(t, round1, 3)))
	require.Len(t, ofType(drain(r), MsgReadIndexResp), 1, "follower 2's read is confirmed by 3")

	// The leader's own host asks a read with the same context.
	require.NoError(t, r.ReadIndex([]byte("r1")))
	round2 := drain(r)
	step(t, r, late)
	require.Empty(t, readyOnce(r).ReadStates, "an answer to a round older than the read confirmed it")

	step(t, r, answerOf(t, f2, heartbeatTo(t, round2, 2)))
	require.Equal(t, []ReadState{{Index: 2, Context: []byte("r1")}}, readyOnce(r).ReadStates)
}

// TestReadConfirmedByAnyLaterRound: a read is confirmed by a quorum that
// answered any round begun after it arrived, not only the round it
// started: here one voter answers the read's own round and the other a
// later heartbeat. Each voter's highest answered round is what counts.
// Reference: §6.4
func TestReadConfirmedByAnyLaterRound(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3, 4, 5}, 1, logOf(1), nil)
	fs := map[NodeID]*Raft{}
	for _, id := range []NodeID{2, 3, 4, 5} {
		fs[id] = newTestRaft(t, id, []NodeID{1, 2, 3, 4, 5}, 1, logOf(1), nil)
	}
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 2})
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: 2})
	drain(r)

	require.NoError(t, r.ReadIndex([]byte("q")))
	own := drain(r)
	r.Tick() // the next heartbeat round
	later := drain(r)
	step(t, r, answerOf(t, fs[2], heartbeatTo(t, own, 2)))
	require.Empty(t, readyOnce(r).ReadStates, "two of five")
	step(t, r, answerOf(t, fs[3], heartbeatTo(t, later, 3)))
	require.Equal(t, []ReadState{{Index: 2, Context: []byte("q")}}, readyOnce(r).ReadStates)
}
