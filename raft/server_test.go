package raft

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Helpers for tests that drive one server by hand: build it with a given
// log and term, step messages into it, and read what it hands out.

// plainConfig is a configuration without PreVote or CheckQuorum, so tests of
// Figure 2's basic rules see the paper's algorithm unchanged.
func plainConfig(id NodeID) Config {
	return Config{
		ID: id, ElectionTicks: 10, HeartbeatTicks: 1, Rand: newRand(uint64(id)),
		MaxMsgBytes: 1 << 20, MaxInflightMsgs: 256,
	}
}

// newTestRaft makes server id of a cluster of voters, at term, whose log is
// ents (indexes from 1). The configuration comes from an empty snapshot at
// index 0, so the log holds exactly ents.
func newTestRaft(t testing.TB, id NodeID, voters []NodeID, term uint64, ents []Entry, tweak func(*Config)) *Raft {
	t.Helper()
	return newTestRaftConf(t, id, ConfState{Voters: voters}, term, ents, tweak)
}

// newTestRaftConf is newTestRaft with learners as well.
func newTestRaftConf(t testing.TB, id NodeID, conf ConfState, term uint64, ents []Entry, tweak func(*Config)) *Raft {
	t.Helper()
	cfg := plainConfig(id)
	if tweak != nil {
		tweak(&cfg)
	}
	r, err := New(cfg, RestoredState{
		HardState: HardState{Term: term},
		Snapshot:  &Snapshot{Meta: SnapshotMeta{Conf: conf}},
		Entries:   ents,
	})
	require.NoError(t, err)
	return r
}

// logOf returns entries with the given terms at indexes 1, 2, ...
func logOf(terms ...uint64) []Entry {
	ents := make([]Entry, len(terms))
	for i, term := range terms {
		ents[i] = Entry{Term: term, Index: uint64(i + 1)}
	}
	return ents
}

// termsOf lists the terms of a server's in-memory log after its snapshot.
func termsOf(r *Raft) []uint64 {
	var terms []uint64
	for _, e := range r.log.entries {
		terms = append(terms, e.Term)
	}
	return terms
}

// drain plays the host for a server: it takes every Ready, pretends to
// persist and apply it, advances, and returns the messages to send.
func drain(r *Raft) []Message {
	var msgs []Message
	for r.HasReady() {
		rd := r.Ready()
		msgs = append(msgs, rd.Messages...)
		r.Advance()
	}
	return msgs
}

// readyOnce takes one Ready and advances. The messages and read states are
// copied first: Advance reuses their memory (see Ready).
func readyOnce(r *Raft) Ready {
	rd := r.Ready()
	rd.Messages = slices.Clone(rd.Messages)
	rd.ReadStates = slices.Clone(rd.ReadStates)
	r.Advance()
	return rd
}

func ofType(msgs []Message, t MessageType) []Message {
	var out []Message
	for _, m := range msgs {
		if m.Type == t {
			out = append(out, m)
		}
	}
	return out
}

// step delivers m to r and fails the test on an error.
func step(t testing.TB, r *Raft, m Message) {
	t.Helper()
	if m.To == None {
		m.To = r.id
	}
	require.NoError(t, r.Step(m))
}

// makeLeader elects r through the ordinary path: it campaigns (skipping
// any pre-vote) and receives a granted vote from every other voter. The
// messages of the election are drained.
func makeLeader(t testing.TB, r *Raft) {
	t.Helper()
	r.becomeCandidate()
	r.requestVotes(MsgVote, r.term, nil)
	for _, id := range r.conf.voters {
		if id != r.id && r.state == StateCandidate {
			step(t, r, Message{From: id, Type: MsgVoteResp, Term: r.term})
		}
	}
	require.Equal(t, StateLeader, r.state)
	drain(r)
}

// pump delivers messages between servers until none are left, and returns
// how many were delivered. Messages to servers not in the map are dropped.
func pump(t testing.TB, servers map[NodeID]*Raft, msgs []Message) int {
	t.Helper()
	delivered := 0
	for len(msgs) > 0 {
		var next []Message
		for _, m := range msgs {
			if r := servers[m.To]; r != nil {
				step(t, r, m)
				delivered++
			}
		}
		for _, id := range sortedIDs(servers) {
			next = append(next, drain(servers[id])...)
		}
		msgs = next
	}
	return delivered
}

func sortedIDs(servers map[NodeID]*Raft) []NodeID {
	var ids []NodeID
	for id := range servers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// fixedRand always draws the same number (capped to the range), so a test
// knows exactly when a timer fires.
type fixedRand int

func (f fixedRand) Intn(n int) int { return min(int(f), n-1) }

// fireElection makes r's election timer fire on its next tick, and ticks.
func fireElection(r *Raft) {
	r.electionElapsed = r.randomizedElectionTimeout - 1
	r.Tick()
}
