package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tests of the host contract (doc.go, "The host contract"; issue 7, item 6
// and issue 9's early sends): what makes work visible, what Advance may
// create, compaction from the apply step, which messages may leave before
// the fsync, and the bounds on one Ready's work.

// committedLeader returns a leader of voters 1..n that has committed the
// no-op of its term, with nothing left to hand out.
func committedLeader(t *testing.T, n int, tweak func(*Config)) *Raft {
	t.Helper()
	var voters []NodeID
	for i := 1; i <= n; i++ {
		voters = append(voters, NodeID(i))
	}
	r := newTestRaft(t, 1, voters, 1, logOf(1), tweak)
	if n == 1 {
		fireElection(r)
	} else {
		makeLeader(t, r)
		for _, id := range voters[1:] {
			step(t, r, Message{From: id, Type: MsgAppResp, Term: r.term, Index: 2})
		}
	}
	drain(r)
	require.True(t, r.committedInCurrentTerm())
	require.False(t, r.HasReady())
	return r
}

// TestReadIndexMakesWorkVisibleAtOnce: a read asked of an idle server is
// work for the host at once — the heartbeat round, the forwarded request
// or the answer — so it leaves without waiting for a tick. Asked between
// Ready and Advance, it shows once Advance is called.
// Reference: §6.4
func TestReadIndexMakesWorkVisibleAtOnce(t *testing.T) {
	lease := func(c *Config) { c.ReadMode, c.CheckQuorum = ReadLease, true }
	t.Run("leader", func(t *testing.T) {
		r := committedLeader(t, 3, nil)
		require.NoError(t, r.ReadIndex([]byte("q")))
		require.True(t, r.HasReady())
		require.Len(t, ofType(readyOnce(r).Messages, MsgHeartbeat), 2)
	})
	t.Run("lone voter", func(t *testing.T) {
		r := committedLeader(t, 1, nil)
		require.NoError(t, r.ReadIndex([]byte("q")))
		require.True(t, r.HasReady())
		require.Len(t, readyOnce(r).ReadStates, 1)
	})
	t.Run("lease", func(t *testing.T) {
		r := committedLeader(t, 3, lease)
		r.Tick()
		hb := ofType(drain(r), MsgHeartbeat)[0]
		step(t, r, Message{From: 2, Type: MsgHeartbeatResp, Term: r.term, Index: hb.Index, Round: hb.Round})
		drain(r)
		require.NoError(t, r.ReadIndex([]byte("q")))
		require.True(t, r.HasReady())
		require.Len(t, readyOnce(r).ReadStates, 1)
	})
	t.Run("follower", func(t *testing.T) {
		r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 1, logOf(1), nil)
		step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 1})
		drain(r)
		require.NoError(t, r.ReadIndex([]byte("q")))
		require.True(t, r.HasReady())
		require.Len(t, ofType(readyOnce(r).Messages, MsgReadIndex), 1)
	})
	t.Run("between Ready and Advance", func(t *testing.T) {
		r := committedLeader(t, 1, nil)
		_, _, err := r.Propose([]byte("w"))
		require.NoError(t, err)
		r.Ready()
		require.NoError(t, r.ReadIndex([]byte("q")))
		require.False(t, r.HasReady(), "never true between Ready and Advance")
		r.Advance()
		require.True(t, r.HasReady())
	})
}

// TestAdvanceCanCreateWork: Advance records what the host persisted, and
// that can make new work at once: a lone voter's entry commits and becomes
// appliable, and a leader whose own copy was the missing acknowledgement
// commits and announces it. A host loops on HasReady after Advance.
// Reference: §5.3, §10.2.1
func TestAdvanceCanCreateWork(t *testing.T) {
	r := committedLeader(t, 1, nil)
	idx, _, err := r.Propose([]byte("w"))
	require.NoError(t, err)
	rd := readyOnce(r)
	require.Len(t, rd.Entries, 1)
	require.Empty(t, rd.CommittedEntries, "not durable yet, so not committed")
	require.True(t, r.HasReady(), "Advance made the entry committed")
	rd = readyOnce(r)
	require.Equal(t, idx, rd.CommittedEntries[len(rd.CommittedEntries)-1].Index)

	r = committedLeader(t, 3, nil)
	idx, _, err = r.Propose([]byte("w"))
	require.NoError(t, err)
	rd = r.Ready()
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: idx})
	require.Less(t, r.log.committed, idx, "one of three until the leader's own write is done")
	r.Advance()
	require.Equal(t, idx, r.log.committed)
	require.True(t, r.HasReady())
	announced := ofType(readyOnce(r).Messages, MsgApp)
	require.NotEmpty(t, announced)
	require.Equal(t, idx, announced[0].Commit)
}

// TestCompactFromTheApplyStep: a service that snapshots right after
// applying an entry, within step 3 of a Ready, may compact through that
// entry before calling Advance — but not past what it was handed.
// Reference: §7
func TestCompactFromTheApplyStep(t *testing.T) {
	r := committedLeader(t, 1, nil)
	for i := range 3 {
		_, _, err := r.Propose([]byte(fmt.Sprintf("w%d", i)))
		require.NoError(t, err)
	}
	readyOnce(r) // persist
	rd := r.Ready()
	last := rd.CommittedEntries[len(rd.CommittedEntries)-1].Index
	_, err := r.Compact(last+1, []byte("state"))
	require.Error(t, err, "beyond what the host was handed to apply")
	snap, err := r.Compact(last, []byte("state"))
	require.NoError(t, err, "the entry just applied, before Advance")
	require.Equal(t, last, snap.Meta.Index)
	r.Advance()
	require.NoError(t, r.CheckInvariants())
	require.Equal(t, last, r.log.applied)
	_, _, err = r.Propose([]byte("after"))
	require.NoError(t, err)
	drain(r)
	require.NoError(t, r.CheckInvariants())
	require.Equal(t, r.log.lastIndex(), r.log.applied)
}

// TestLeaderAppendsMayLeaveBeforeTheFsync checks the split of a Ready's
// messages (thesis §10.2.1: "the leader can write to its disk in parallel
// with replicating to the followers"): a leader's AppendEntries and
// heartbeats, at a term already durable, come first and are counted in
// EarlyMessages; a follower's acknowledgements, votes and a candidacy —
// which depend on what this very Ready persists — never are, and neither
// are a leader's messages at a term it has not stored yet.
// Reference: §10.2.1, §5.1
func TestLeaderAppendsMayLeaveBeforeTheFsync(t *testing.T) {
	r := committedLeader(t, 3, nil)
	_, _, err := r.Propose([]byte("w"))
	require.NoError(t, err)
	step(t, r, Message{From: 3, Type: MsgApp, Term: r.term - 1, Index: 1, LogTerm: 1}) // a stale leader: answered
	rd := readyOnce(r)
	require.True(t, rd.MustSync)
	require.NotEmpty(t, rd.Entries)
	early, late := rd.Messages[:rd.EarlyMessages], rd.Messages[rd.EarlyMessages:]
	require.Len(t, ofType(early, MsgApp), 2, "the appends to both followers may go at once")
	for _, m := range early {
		require.Contains(t, []MessageType{MsgApp, MsgHeartbeat, MsgSnap}, m.Type)
	}
	require.Len(t, late, 1)
	require.Equal(t, MsgAppResp, late[0].Type, "an answer waits for the fsync")

	f := newTestRaft(t, 2, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	step(t, f, Message{From: 1, Type: MsgApp, Term: 2, Index: 1, LogTerm: 1, Entries: []Entry{{Term: 2, Index: 2}}})
	rd = readyOnce(f)
	require.Zero(t, rd.EarlyMessages, "a follower's acknowledgement waits for its fsync")
	fireElection(f)
	rd = readyOnce(f)
	require.NotEmpty(t, ofType(rd.Messages, MsgVote))
	require.Zero(t, rd.EarlyMessages, "a candidacy waits for its term and vote to be durable")

	// A lone voter with a learner, which led term 1, wins term 2 at once:
	// its appends to the learner carry a term this very Ready makes
	// durable, so they wait too, though its stored vote is its own.
	lone, err := New(plainConfig(1), RestoredState{
		HardState: HardState{Term: 1, Vote: 1},
		Snapshot:  &Snapshot{Meta: SnapshotMeta{Conf: ConfState{Voters: []NodeID{1}, Learners: []NodeID{2}}}},
		Entries:   logOf(1),
	})
	require.NoError(t, err)
	fireElection(lone)
	require.Equal(t, uint64(2), lone.term)
	require.Equal(t, StateLeader, lone.state)
	rd = readyOnce(lone)
	require.NotEmpty(t, ofType(rd.Messages, MsgApp))
	require.Zero(t, rd.EarlyMessages, "the new term is not durable yet")
}

// TestScenarioEarlyAppendsSurviveLeaderCrashes runs a cluster whose hosts
// send each Ready's early messages before persisting it, and crashes the
// leader in that window now and then (so followers hold entries the
// leader's disk never got). The harness checks after every Ready that no
// two servers apply different entries at an index and that every early
// message's term and the leader's vote were already durable.
// Reference: §10.2.1, §5.4.3
func TestScenarioEarlyAppendsSurviveLeaderCrashes(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.sendEarly = true
	crashes := 0
	c.crashBeforeSave = func(id NodeID, rd Ready) bool {
		if rd.EarlyMessages == 0 || len(rd.Entries) == 0 || c.rng.IntN(4) != 0 {
			return false
		}
		crashes++
		return true
	}
	for i := range 200 {
		if l := c.leader(); l != None {
			if _, _, err := c.node(l).Propose([]byte(fmt.Sprintf("w%d", i))); err == nil {
				c.deliverAll()
			}
		}
		c.tick(1)
		for _, id := range c.ids {
			if c.nodes[id].down && c.rng.IntN(3) == 0 {
				c.restart(id)
			}
		}
	}
	c.crashBeforeSave = nil
	for _, id := range c.ids {
		if c.nodes[id].down {
			c.restart(id)
		}
	}
	c.tick(40)
	require.Positive(t, crashes)
	l := c.waitLeader()
	for _, id := range c.ids {
		require.Equal(t, c.node(l).log.committed, c.node(id).log.committed, "node %d caught up", id)
	}
}

// TestUncommittedEntriesBounded: a leader that cannot commit (its
// followers are slow or gone) refuses proposals once
// MaxUncommittedEntries are waiting, with an error that wraps
// ErrProposalDropped (the service answers Unavailable), and takes them
// again once entries commit.
func TestUncommittedEntriesBounded(t *testing.T) {
	r := committedLeader(t, 3, func(c *Config) { c.MaxUncommittedEntries = 5 })
	var last uint64
	for i := range 5 {
		idx, _, err := r.Propose([]byte(fmt.Sprintf("w%d", i)))
		require.NoError(t, err)
		last = idx
	}
	_, _, err := r.Propose([]byte("one too many"))
	require.ErrorIs(t, err, ErrProposalDropped)
	drain(r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: last})
	_, _, err = r.Propose([]byte("room again"))
	require.NoError(t, err)
}

// TestCommittedEntriesPerReadyBounded: a server restarting with a long
// committed log hands it out to apply in bounded Readys (always at least
// one entry), in order, instead of all at once.
// Reference: §5.3 (Figure 2: "If commitIndex > lastApplied: increment
// lastApplied, apply log[lastApplied]")
func TestCommittedEntriesPerReadyBounded(t *testing.T) {
	const n, size = 100, 100
	ents := make([]Entry, n)
	for i := range ents {
		ents[i] = Entry{Term: 1, Index: uint64(i + 1), Data: make([]byte, size)}
	}
	cfg := plainConfig(1)
	cfg.MaxCommittedBytesPerReady = 1000
	r, err := New(cfg, RestoredState{
		HardState: HardState{Term: 1, Commit: n},
		Snapshot:  &Snapshot{Meta: SnapshotMeta{Conf: ConfState{Voters: []NodeID{1, 2, 3}}}},
		Entries:   ents,
	})
	require.NoError(t, err)
	var applied uint64
	readys := 0
	for r.HasReady() {
		rd := readyOnce(r)
		var bytes uint64
		for _, e := range rd.CommittedEntries {
			require.Equal(t, applied+1, e.Index)
			applied = e.Index
			bytes += e.size()
		}
		require.LessOrEqual(t, bytes, uint64(1000))
		readys++
	}
	require.Equal(t, uint64(n), applied)
	require.GreaterOrEqual(t, readys, n*(size+24)/1000)

	cfg.MaxCommittedBytesPerReady = 10 // below one entry: still one at a time
	r, err = New(cfg, RestoredState{HardState: HardState{Term: 1, Commit: 3},
		Snapshot: &Snapshot{Meta: SnapshotMeta{Conf: ConfState{Voters: []NodeID{1}}}}, Entries: ents[:3]})
	require.NoError(t, err)
	require.Len(t, readyOnce(r).CommittedEntries, 1)
}

// With Config.ApplyCost the bound counts what each entry costs to apply on
// top of its bytes: small entries that are expensive to apply (a session's
// close that removes every item it owns) are handed out a few at a time,
// cheap ones many at a time, in order, and one expensive entry alone goes
// out whole.
func TestApplyCostBoundsTheWorkOfAReady(t *testing.T) {
	const n = 100
	ents := make([]Entry, n)
	for i := range ents {
		ents[i] = Entry{Term: 1, Index: uint64(i + 1), Data: []byte{byte(i % 10)}}
	}
	// Every tenth entry (data 0) costs 1000 beyond its size, the others
	// nothing.
	cost := func(e *Entry) uint64 {
		if e.Data[0] == 0 {
			return 1000
		}
		return 0
	}
	cfg := plainConfig(1)
	cfg.MaxCommittedBytesPerReady = 2500
	cfg.ApplyCost = cost
	r, err := New(cfg, RestoredState{
		HardState: HardState{Term: 1, Commit: n},
		Snapshot:  &Snapshot{Meta: SnapshotMeta{Conf: ConfState{Voters: []NodeID{1, 2, 3}}}},
		Entries:   ents,
	})
	require.NoError(t, err)
	var applied uint64
	readys := 0
	for r.HasReady() {
		rd := readyOnce(r)
		var work uint64
		for i := range rd.CommittedEntries {
			e := &rd.CommittedEntries[i]
			require.Equal(t, applied+1, e.Index)
			applied = e.Index
			work += e.size() + cost(e)
		}
		require.LessOrEqual(t, work, uint64(2500), "Ready %d hands out entries %d to %d", readys, rd.CommittedEntries[0].Index, applied)
		readys++
	}
	require.Equal(t, uint64(n), applied)
	// 10 entries of 1025 and 90 of 25: at most two expensive ones a Ready.
	require.GreaterOrEqual(t, readys, 5)

	cfg.MaxCommittedBytesPerReady = 10 // below one entry's cost: one at a time
	r, err = New(cfg, RestoredState{HardState: HardState{Term: 1, Commit: 3},
		Snapshot: &Snapshot{Meta: SnapshotMeta{Conf: ConfState{Voters: []NodeID{1}}}}, Entries: ents[:3]})
	require.NoError(t, err)
	require.Len(t, readyOnce(r).CommittedEntries, 1)
}
