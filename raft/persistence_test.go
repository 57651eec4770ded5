package raft

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tests of the persistence contract: Figure 2's "Persistent state on all
// servers (Updated on stable storage before responding to RPCs)", carried
// out through Ready — whatever a message depends on is in the same Ready,
// with MustSync set, so the host makes it durable before sending.

// TestVoteDurableBeforeAnswer checks that a granted vote travels in the
// Ready whose HardState holds that vote and its term, with MustSync: a
// server that crashed after answering must remember it voted.
// Reference: §5.1, §5.2 (Figure 2, "Persistent state on all servers")
func TestVoteDurableBeforeAnswer(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	drain(r)
	step(t, r, Message{From: 1, Type: MsgVote, Term: 2, Index: 1, LogTerm: 1})
	rd := readyOnce(r)
	require.Equal(t, HardState{Term: 2, Vote: 1}, rd.HardState)
	require.True(t, rd.MustSync)
	require.Len(t, rd.Messages, 1)
	require.Equal(t, MsgVoteResp, rd.Messages[0].Type)
	require.False(t, rd.Messages[0].Reject)
}

// TestEntriesDurableBeforeAck checks that an AppendEntries acknowledgement
// travels in the Ready that carries the acknowledged entries, with
// MustSync: the leader counts the follower towards commitment on the
// strength of it.
// Reference: §5.3 (Figure 2, "Persistent state on all servers")
func TestEntriesDurableBeforeAck(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1), nil)
	drain(r)
	step(t, r, Message{From: 1, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1, Entries: []Entry{{Term: 2, Index: 2}}})
	rd := readyOnce(r)
	require.Equal(t, []Entry{{Term: 2, Index: 2}}, rd.Entries)
	require.True(t, rd.MustSync)
	resps := ofType(rd.Messages, MsgAppResp)
	require.Len(t, resps, 1)
	require.Equal(t, uint64(2), resps[0].Index)
}

// TestCandidacyDurableBeforeRequests checks that a candidate's new term and
// its vote for itself are durable before its RequestVote RPCs go out.
// Reference: §5.2
func TestCandidacyDurableBeforeRequests(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 4, nil, nil)
	fireElection(r)
	rd := readyOnce(r)
	require.Equal(t, HardState{Term: 5, Vote: 1}, rd.HardState)
	require.True(t, rd.MustSync)
	require.Len(t, ofType(rd.Messages, MsgVote), 2)
}

// TestCommitOnlyNeedsNoSync checks the other side: a Ready that changes
// only the commit index need not be fsynced before its messages go out —
// commitIndex is volatile state in Figure 2.
// Reference: §5.3 (Figure 2, "Volatile state on all servers")
func TestCommitOnlyNeedsNoSync(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1, 2), nil)
	step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 2})
	drain(r)
	step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 2, Commit: 2})
	rd := readyOnce(r)
	require.Equal(t, HardState{Term: 2, Commit: 2}, rd.HardState)
	require.False(t, rd.MustSync)
	require.Len(t, rd.CommittedEntries, 2)
}

// TestAppliesOnlyDurableEntries checks the leader's side of "persist before
// acting": the leader counts its own copy of an entry towards a majority
// only once the host made it durable, so a lone voter commits — and hands
// out to apply — an entry only after it was persisted. (The follower's side
// is in TestAppliesCommittedInOrder.)
// Reference: §5.3
func TestAppliesOnlyDurableEntries(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1}, 1, nil, nil)
	fireElection(r)
	require.Equal(t, StateLeader, r.state)
	drain(r)
	_, _, err := r.Propose([]byte("x"))
	require.NoError(t, err)
	rd := r.Ready()
	require.Len(t, rd.Entries, 1)
	require.Empty(t, rd.CommittedEntries)
	require.Less(t, r.log.committed, uint64(2), "the leader's own copy counts once durable")
	r.Advance()
	require.Equal(t, uint64(2), r.log.committed)
	rd = readyOnce(r)
	require.Len(t, rd.CommittedEntries, 1)
	require.Equal(t, "x", string(rd.CommittedEntries[0].Data))
}

// TestAdvanceIgnoresOverwrittenEntries checks that entries handed to the
// host but overwritten by a newer leader before Advance are not counted as
// durable: the replacement goes out in the next Ready.
// Reference: §5.3
func TestAdvanceIgnoresOverwrittenEntries(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1), nil)
	drain(r)
	step(t, r, Message{From: 1, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1, Entries: []Entry{{Term: 2, Index: 2}}})
	rd := r.Ready()
	require.Len(t, rd.Entries, 1)
	// While the host writes, the leader of term 3 replaces index 2.
	step(t, r, Message{From: 3, Type: MsgApp, Term: 3, Index: 1, LogTerm: 1, Entries: []Entry{{Term: 3, Index: 2}}})
	r.Advance()
	require.Equal(t, uint64(1), r.log.persisted)
	rd = readyOnce(r)
	require.Equal(t, []Entry{{Term: 3, Index: 2}}, rd.Entries)
	require.True(t, rd.MustSync)
}

// TestReadyAdvanceProtocol checks the host protocol: no second Ready before
// Advance, no Advance without Ready, and HasReady false in between.
func TestReadyAdvanceProtocol(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
	require.Panics(t, func() { r.Advance() })
	fireElection(r)
	require.True(t, r.HasReady())
	r.Ready()
	require.False(t, r.HasReady())
	require.Panics(t, func() { r.Ready() })
	r.Advance()
	require.False(t, r.HasReady())
}

// TestRestartRestoresDurableState checks that New brings back exactly what
// was persisted: term, vote, log, commit and configuration; and refuses a
// stored state that cannot be right.
// Reference: §5.1 (Figure 2, "Persistent state on all servers")
func TestRestartRestoresDurableState(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 5 {
		c.propose(fmt.Sprintf("x%d", i))
	}
	c.tick(2)
	for _, id := range c.ids {
		before := c.node(id).Status()
		c.crash(id)
		c.restart(id)
		after := c.node(id).Status()
		require.Equal(t, before.Term, after.Term)
		require.Equal(t, before.Vote, after.Vote)
		require.Equal(t, before.LastIndex, after.LastIndex)
		require.Equal(t, before.LastTerm, after.LastTerm)
		require.Equal(t, before.Commit, after.Commit)
		require.Equal(t, before.Conf, after.Conf)
		require.Equal(t, StateFollower, after.State)
	}
	// The cluster carries on, and replays the log into fresh state machines.
	c.propose("y")
	c.tick(2)
	for _, id := range c.ids {
		require.Equal(t, []string{"x0", "x1", "x2", "x3", "x4", "y"}, appliedData(c.nodes[id]))
	}

	cfg := plainConfig(1)
	cfg.Voters = []NodeID{1}
	_, err := New(cfg, RestoredState{HardState: HardState{Term: 2, Commit: 3}, Entries: logOf(1, 2)})
	require.Error(t, err, "commit beyond the stored log")
	snap := &Snapshot{Meta: SnapshotMeta{Index: 5, Term: 2, Conf: ConfState{Voters: []NodeID{1}}}}
	_, err = New(cfg, RestoredState{HardState: HardState{Term: 2}, Snapshot: snap, Entries: logOf(1, 2)})
	require.Error(t, err, "entries that do not follow the snapshot")
}

// TestConfigValidation checks that New refuses configurations that cannot
// work — including lease reads without CheckQuorum: "the leader's lease"
// is only sound if the leader steps down when it loses its quorum.
// Reference: §6.4.1
func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*Config)
		ok    bool
	}{
		{"valid", func(*Config) {}, true},
		{"no id", func(c *Config) { c.ID = None }, false},
		{"no heartbeat", func(c *Config) { c.HeartbeatTicks = 0 }, false},
		{"election not above heartbeat", func(c *Config) { c.ElectionTicks = c.HeartbeatTicks }, false},
		{"no randomness", func(c *Config) { c.Rand = nil }, false},
		{"lease without CheckQuorum", func(c *Config) { c.ReadMode = ReadLease }, false},
		{"lease with CheckQuorum", func(c *Config) { c.ReadMode, c.CheckQuorum = ReadLease, true }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := plainConfig(1)
			cfg.Voters, cfg.Bootstrap = []NodeID{1, 2, 3}, true
			tt.tweak(&cfg)
			_, err := New(cfg, RestoredState{})
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

// recordingT stands in for *testing.T to check that the harness's own
// assertions fire.
type recordingT struct{ failures []string }

func (r *recordingT) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recordingT) FailNow()                          {}
func (r *recordingT) Helper()                           {}
func (r *recordingT) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

// TestHarnessCatchesUndurableSends checks that the cluster harness, which
// every cluster test runs through, really rejects a Ready that would send a
// vote, a candidacy or an acknowledgement before making it durable, and a
// second vote in a term.
func TestHarnessCatchesUndurableSends(t *testing.T) {
	tests := []struct {
		name  string
		store memStore
		msg   Message
	}{
		{"term not durable", memStore{hard: HardState{Term: 1}}, Message{Type: MsgHeartbeatResp, From: 1, To: 2, Term: 2}},
		{"vote not durable", memStore{hard: HardState{Term: 2}}, Message{Type: MsgVoteResp, From: 1, To: 2, Term: 2}},
		{"candidacy not durable", memStore{hard: HardState{Term: 2, Vote: 3}}, Message{Type: MsgVote, From: 1, To: 2, Term: 2}},
		{"entries not durable", memStore{hard: HardState{Term: 2}, entries: logOf(1)}, Message{Type: MsgAppResp, From: 1, To: 2, Term: 2, Index: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingT{}
			c := &cluster{t: rec, grants: map[voteKey]NodeID{}}
			c.checkDurableBeforeSend(1, &tt.store, Ready{Messages: []Message{tt.msg}})
			require.Len(t, rec.failures, 1)
		})
	}
	t.Run("two votes in a term", func(t *testing.T) {
		rec := &recordingT{}
		c := &cluster{t: rec, grants: map[voteKey]NodeID{}}
		c.checkDurableBeforeSend(1, &memStore{hard: HardState{Term: 2, Vote: 2}}, Ready{Messages: []Message{{Type: MsgVoteResp, From: 1, To: 2, Term: 2}}})
		require.Empty(t, rec.failures)
		// After a crash that lost the vote, the server votes again.
		c.checkDurableBeforeSend(1, &memStore{hard: HardState{Term: 2, Vote: 3}}, Ready{Messages: []Message{{Type: MsgVoteResp, From: 1, To: 3, Term: 2}}})
		require.Len(t, rec.failures, 1)
	})
}

// TestHandedOutEntriesNeverChange checks that what the server hands out —
// entries to persist in a Ready, entries in a message — stays as it was
// when the server later replaces the end of its log (AppendEntries rule 3):
// the host may still be writing them (it may Step between Ready and
// Advance), and a message may still be in flight.
// Reference: §5.3
func TestHandedOutEntriesNeverChange(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1), nil)
	drain(r)
	step(t, r, Message{From: 1, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1, Entries: []Entry{{Term: 2, Index: 2}, {Term: 2, Index: 3}}})
	rd := r.Ready()
	handedOut := slices.Clone(rd.Entries)
	step(t, r, Message{From: 3, Type: MsgApp, Term: 3, Index: 1, LogTerm: 1, Entries: []Entry{{Term: 3, Index: 2}}})
	require.Equal(t, handedOut, rd.Entries, "the Ready being persisted changed under the host")
	r.Advance()

	// A leader's message in flight, then the leader is overwritten.
	l := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, l)
	_, _, err := l.Propose([]byte("x"))
	require.NoError(t, err)
	step(t, l, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 2})
	apps := ofType(drain(l), MsgApp)
	require.NotEmpty(t, apps)
	sent := slices.Clone(apps[0].Entries)
	step(t, l, Message{From: 3, Type: MsgApp, Term: 3, Index: 2, LogTerm: 2, Entries: []Entry{{Term: 3, Index: 3}}})
	require.Equal(t, StateFollower, l.state)
	require.Equal(t, sent, apps[0].Entries, "a message in flight changed")
}

// TestReadyMessagesStayIntactUntilAdvance checks the other half of the
// buffer contract: Advance recycles the message memory of the Ready it
// completes, but until then steps that send more messages must not touch
// the messages the host is still carrying out (for example while it waits
// for an fsync).
func TestReadyMessagesStayIntactUntilAdvance(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.waitLeader()
	r := c.node(l)
	_, _, err := r.Propose([]byte("a"))
	require.NoError(t, err)
	rd := r.Ready()
	want := slices.Clone(rd.Messages)
	require.NotEmpty(t, want)
	for range 3 {
		r.Tick() // heartbeats go into a new buffer
	}
	_, _, err = r.Propose([]byte("b"))
	require.NoError(t, err)
	require.Equal(t, want, rd.Messages)
	r.Advance()
	require.NotEmpty(t, r.Ready().Messages)
}
