package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Tests of the invariants the code asserts (panics: a broken invariant is a
// bug, not bad input) and of CheckInvariants, which tests and the simulator
// run after every step.

// TestCommitNeverMovesBack checks that the commit index only grows: "Once
// a follower learns that a log entry is committed, it applies the entry"
// — an applied entry cannot be un-committed. A lower commit from a leader
// is ignored; a commit beyond the log is a bug.
// Reference: §5.3
func TestCommitNeverMovesBack(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1, 1, 2), nil)
	step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 2, Commit: 3})
	require.Equal(t, uint64(3), r.log.committed)
	step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 2, Commit: 1})
	step(t, r, Message{From: 1, Type: MsgApp, Term: 2, Index: 3, LogTerm: 2, Commit: 2})
	require.Equal(t, uint64(3), r.log.committed)
	require.False(t, r.log.commitTo(2))
	require.Panics(t, func() { r.log.commitTo(4) })
}

// TestCommittedEntryNeverChanges checks Figure 3's State Machine Safety at
// the log: an entry at or below the commit index is never overwritten;
// truncateAndAppend panics rather than do it.
// Reference: §5.4.3
func TestCommittedEntryNeverChanges(t *testing.T) {
	l := newRaftLog(nil, logOf(1, 1, 2))
	l.committed = 2
	require.Panics(t, func() { l.truncateAndAppend([]Entry{{Index: 2, Term: 3}}) })
	require.NotPanics(t, func() { l.truncateAndAppend([]Entry{{Index: 3, Term: 3}}) })
	require.Equal(t, uint64(3), l.entry(3).Term)
	// Matching entries at or below commit are no conflict.
	require.Zero(t, l.truncateAndAppend([]Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}}))
}

// TestOneVotePerTerm checks Figure 2's votedFor: "Each server will vote for
// at most one candidate in a given term". setVote panics on a second,
// different vote; repeating the same vote is fine.
// Reference: §5.2
func TestOneVotePerTerm(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, nil, nil)
	r.setVote(2)
	require.NotPanics(t, func() { r.setVote(2) })
	require.Panics(t, func() { r.setVote(3) })
	// A new term frees the vote.
	r.becomeFollower(3, None)
	require.NotPanics(t, func() { r.setVote(3) })
}

// TestCheckInvariantsCatchesCorruption checks that CheckInvariants reports
// each kind of broken state, among them Figure 2's "lastApplied ≤
// commitIndex" and commitIndex ≤ last log index.
// Reference: §5.3
func TestCheckInvariantsCatchesCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(r *Raft)
		report  string
	}{
		{"applied beyond commit", func(r *Raft) { r.log.applied = r.log.committed + 1 }, "applied"},
		{"commit beyond log", func(r *Raft) { r.log.committed = r.log.lastIndex() + 1 }, "> last index"},
		{"persisted beyond log", func(r *Raft) { r.log.persisted = r.log.lastIndex() + 1 }, "persisted"},
		{"commit below snapshot", func(r *Raft) { r.log.snapIndex = r.log.committed + 1 }, "below snapshot"},
		{"leader that is not its own lead", func(r *Raft) { r.lead = 2 }, "leader whose lead"},
		{"index gap", func(r *Raft) { r.log.entries[1].Index = 9 }, "has index"},
		{"term goes back", func(r *Raft) { r.log.entries[2].Term = 1 }, "term goes back"},
		{"entry from a future term", func(r *Raft) { r.log.entries[2].Term = r.term + 1 }, "beyond current term"},
		{"match beyond log", func(r *Raft) { r.progress.get(2).match = r.log.lastIndex() + 1 }, "match"},
	}
	healthy := func() *Raft {
		r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, logOf(1, 2), nil)
		makeLeader(t, r)
		step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 3})
		drain(r)
		require.NoError(t, r.CheckInvariants())
		return r
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := healthy()
			tt.corrupt(r)
			require.ErrorContains(t, r.CheckInvariants(), tt.report)
		})
	}
	t.Run("candidate without its own vote", func(t *testing.T) {
		r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, nil, nil)
		fireElection(r)
		require.NoError(t, r.CheckInvariants())
		r.vote = 2
		require.ErrorContains(t, r.CheckInvariants(), "candidate that voted")
	})
}

// TestCheckInvariantsSinceLastChecksWhatIsNew checks the simulator's
// per-event check: once CheckInvariants or CheckInvariantsSinceLast has
// passed, CheckInvariantsSinceLast still reports every broken property of
// the state, a bad entry appended since, an entry that a rise of the term
// in the past would need (the checked prefix's terms against the current
// term), and a bad entry after a truncation, which moves the log to a new
// array and so has it checked from the start again.
func TestCheckInvariantsSinceLastChecksWhatIsNew(t *testing.T) {
	healthy := func(t *testing.T) *Raft {
		r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 2, logOf(1, 2), nil)
		makeLeader(t, r)
		step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 3})
		drain(r)
		require.NoError(t, r.CheckInvariants())
		require.NoError(t, r.CheckInvariantsSinceLast())
		return r
	}
	tests := []struct {
		name    string
		corrupt func(r *Raft)
		report  string
	}{
		{"applied beyond commit", func(r *Raft) { r.log.applied = r.log.committed + 1 }, "applied"},
		{"leader that is not its own lead", func(r *Raft) { r.lead = 2 }, "leader whose lead"},
		{"match beyond log", func(r *Raft) { r.progress.get(3).match = r.log.lastIndex() + 1 }, "match"},
		{"appended with an index gap", func(r *Raft) {
			r.log.entries = append(r.log.entries, Entry{Index: r.log.lastIndex() + 2, Term: r.term})
		}, "has index"},
		{"appended with a term that goes back", func(r *Raft) {
			r.log.entries = append(r.log.entries, Entry{Index: r.log.lastIndex() + 1, Term: 1})
		}, "term goes back"},
		{"checked entries beyond the current term", func(r *Raft) { r.term = 1 }, "beyond current term"},
		{"a truncation that leaves a gap", func(r *Raft) {
			// As long as the log checked, in a new array as
			// truncateAndAppend makes.
			n := len(r.log.entries) - 1
			r.log.entries = append(r.log.entries[:n:n], Entry{Index: r.log.lastIndex() + 1, Term: r.term})
		}, "has index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := healthy(t)
			tt.corrupt(r)
			require.ErrorContains(t, r.CheckInvariantsSinceLast(), tt.report)
			require.ErrorContains(t, r.CheckInvariants(), tt.report)
		})
	}
	// A failed check leaves nothing counted as checked: the next one reads
	// the whole log again.
	r := healthy(t)
	r.log.entries = append(r.log.entries, Entry{Index: r.log.lastIndex() + 1, Term: 1})
	require.Error(t, r.CheckInvariantsSinceLast())
	require.Error(t, r.CheckInvariantsSinceLast())
}

// TestAssertionsPanic checks the other assertions in the code: impossible
// role changes, appends out of order, compaction beyond what was applied,
// and sending from a compacted log with no snapshot.
func TestAssertionsPanic(t *testing.T) {
	follower := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	require.Panics(t, func() { follower.becomeLeader() }, "only a candidate wins")

	leader := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, leader)
	require.Panics(t, func() { leader.becomeCandidate() })
	require.Panics(t, func() { leader.becomePreCandidate() })
	require.Panics(t, func() { leader.log.append(Entry{Index: 9, Term: 2}) })
	require.Panics(t, func() { leader.log.compact(leader.log.lastIndex()) }, "beyond applied")

	l := newRaftLog(nil, logOf(1, 1))
	l.snapIndex = 1 // as if compacted without a snapshot to send
	r := &Raft{log: l}
	require.Panics(t, func() { r.sendSnapshot(2, &progress{}) })

	require.Panics(t, func() { newRaftLog(&SnapshotMeta{Index: 5}, logOf(1)) }, "entries must follow the snapshot")
	pr := &progress{state: progressSnapshot}
	require.Panics(t, func() { pr.sentEntries(3, 10, false) })
}

// TestStepRefusesMalformedMessages checks that messages no correct server
// sends are refused with an error, not acted on or panicked over.
func TestStepRefusesMalformedMessages(t *testing.T) {
	tests := map[string]Message{
		"unknown type":         {Type: MessageType(99), Term: 1},
		"snapshot missing":     {Type: MsgSnap, Term: 2},
		"entries on heartbeat": {Type: MsgHeartbeat, Term: 2, Entries: []Entry{{Index: 1, Term: 1}}},
		"entry gap":            {Type: MsgApp, Term: 2, Index: 0, Entries: []Entry{{Index: 2, Term: 1}}},
		"entry term too high":  {Type: MsgApp, Term: 2, Index: 0, Entries: []Entry{{Index: 1, Term: 3}}},
		"entry terms go back":  {Type: MsgApp, Term: 3, Index: 0, Entries: []Entry{{Index: 1, Term: 2}, {Index: 2, Term: 1}}},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
			before := r.Status()
			m.From, m.To = 2, 1
			require.Error(t, r.Step(m))
			require.Equal(t, before, r.Status(), "a refused message changes nothing")
		})
	}
}
