package raft

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Paper tests for log replication: Figure 2's AppendEntries receiver rules
// and the leader's rules, Figure 7's log repair with fast backtracking, and
// the replication machinery of the implementation (probe/replicate/snapshot
// progress, pipelining window, batching, heartbeats carrying commit).

// TestLeaderAppendsProposal checks Figure 2, Leaders: "If command received
// from client: append entry to local log, respond after entry applied to
// state machine" — "The leader appends the command to its log as a new
// entry, then issues AppendEntries RPCs in parallel to each of the other
// servers to replicate the entry."
// Reference: §5.3
func TestLeaderAppendsProposal(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 2})
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: 2, Index: 2})
	drain(r)

	index, term, err := r.Propose([]byte("cmd"))
	require.NoError(t, err)
	require.Equal(t, uint64(3), index)
	require.Equal(t, uint64(2), term)
	require.Equal(t, Entry{Term: 2, Index: 3, Data: []byte("cmd")}, *r.log.entry(3))

	rd := readyOnce(r)
	require.Equal(t, []Entry{{Term: 2, Index: 3, Data: []byte("cmd")}}, rd.Entries)
	require.Empty(t, rd.CommittedEntries, "not applied before a majority has it")
	apps := ofType(rd.Messages, MsgApp)
	require.Len(t, apps, 2)
	for _, m := range apps {
		require.Equal(t, uint64(2), m.Index, "prevLogIndex")
		require.Equal(t, uint64(2), m.LogTerm, "prevLogTerm")
		require.Equal(t, []Entry{{Term: 2, Index: 3, Data: []byte("cmd")}}, m.Entries)
	}

	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 3})
	rd = readyOnce(r)
	require.Equal(t, []Entry{{Term: 2, Index: 3, Data: []byte("cmd")}}, rd.CommittedEntries)

	follower := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1), nil)
	_, _, err = follower.Propose([]byte("x"))
	require.ErrorIs(t, err, ErrNotLeader)
}

// TestAppendRejectsMismatch checks the AppendEntries receiver, rule 2:
// "Reply false if log doesn't contain an entry at prevLogIndex whose term
// matches prevLogTerm." The rejection carries a hint for fast backtracking:
// "the follower can include the term of the conflicting entry and the first
// index it stores for that term."
// Reference: §5.3
func TestAppendRejectsMismatch(t *testing.T) {
	// The follower's log is [1 1 2 2 2] at term 3.
	tests := []struct {
		prevIndex, prevTerm uint64
		reject              bool
		hint, hintTerm      uint64
	}{
		{0, 0, false, 0, 0},
		{2, 1, false, 0, 0},
		{5, 2, false, 0, 0},
		{7, 3, true, 5, 2}, // too short: its last index, and the term there
		{5, 3, true, 5, 2}, // term 2 ≤ 3 at index 5: start there
		{4, 1, true, 2, 1}, // skip the whole term 2
		{3, 3, true, 3, 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.prevIndex, tt.prevTerm), func(t *testing.T) {
			r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 3, logOf(1, 1, 2, 2, 2), nil)
			step(t, r, Message{From: 1, Type: MsgApp, Term: 3, Index: tt.prevIndex, LogTerm: tt.prevTerm})
			resps := ofType(drain(r), MsgAppResp)
			require.Len(t, resps, 1)
			require.Equal(t, tt.reject, resps[0].Reject)
			if tt.reject {
				require.Equal(t, tt.prevIndex, resps[0].Index, "names the rejected prevLogIndex")
				require.Equal(t, tt.hint, resps[0].RejectHint)
				require.Equal(t, tt.hintTerm, resps[0].LogTerm)
			}
			require.Equal(t, []uint64{1, 1, 2, 2, 2}, termsOf(r))
		})
	}
}

// TestAppendTruncatesConflicts checks the AppendEntries receiver, rules 3
// and 4: "If an existing entry conflicts with a new one (same index but
// different terms), delete the existing entry and all that follow it" and
// "Append any new entries not already in the log." And §5.5: "if a
// follower receives an AppendEntries request that includes log entries
// already present in its log, it ignores those entries in the new request"
// — a stale or duplicated request must never shorten the log.
// Reference: §5.3
func TestAppendTruncatesConflicts(t *testing.T) {
	tests := []struct {
		name      string
		prevIndex uint64
		prevTerm  uint64
		entries   []uint64 // terms of the entries after prevIndex
		want      []uint64
		lastNew   uint64
	}{
		{"append at end", 3, 2, []uint64{3, 3}, []uint64{1, 2, 2, 3, 3}, 5},
		{"conflict truncates", 1, 1, []uint64{3}, []uint64{1, 3}, 2},
		{"conflict mid-way", 1, 1, []uint64{2, 3, 3}, []uint64{1, 2, 3, 3}, 4},
		{"duplicate is ignored", 1, 1, []uint64{2, 2}, []uint64{1, 2, 2}, 3},
		{"stale prefix keeps the rest", 0, 0, []uint64{1}, []uint64{1, 2, 2}, 1},
		{"heartbeat-like empty", 2, 2, nil, []uint64{1, 2, 2}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 3, logOf(1, 2, 2), nil)
			var ents []Entry
			for i, term := range tt.entries {
				ents = append(ents, Entry{Term: term, Index: tt.prevIndex + 1 + uint64(i)})
			}
			step(t, r, Message{From: 1, Type: MsgApp, Term: 3, Index: tt.prevIndex, LogTerm: tt.prevTerm, Entries: ents})
			require.Equal(t, tt.want, termsOf(r))
			resps := ofType(drain(r), MsgAppResp)
			require.Len(t, resps, 1)
			require.False(t, resps[0].Reject)
			require.Equal(t, tt.lastNew, resps[0].Index, "acknowledges the last new entry")
		})
	}
}

// TestAppendBelowCommitIsAnsweredWithTheCommitIndex: an AppendEntries
// whose prevLogIndex is below the follower's commit index (a late or
// duplicated one) is answered with that commit index, the most the
// follower can vouch for without checking: the entries after it may be an
// older leader's that the current one does not hold. Answered with its
// last index, the leader would count the follower as holding entries it
// lacks (its matchIndex, §5.3) and could commit them without a quorum.
// Reference: §5.3
func TestAppendBelowCommitIsAnsweredWithTheCommitIndex(t *testing.T) {
	// [1 1 2 2 2], committed through 3: entries 4 and 5 are of term 2's
	// leader, and the leader of term 3 may hold others there.
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 3, logOf(1, 1, 2, 2, 2), nil)
	r.log.commitTo(3)
	terms := []uint64{0, 1, 1, 2}
	for _, prev := range []uint64{0, 1, 2} {
		step(t, r, Message{From: 1, Type: MsgApp, Term: 3, Index: prev, LogTerm: terms[prev], Entries: []Entry{{Term: terms[prev+1], Index: prev + 1}}})
		resps := ofType(drain(r), MsgAppResp)
		require.Len(t, resps, 1)
		require.False(t, resps[0].Reject)
		require.Equal(t, uint64(3), resps[0].Index, "prevLogIndex %d: the commit index, not the last index", prev)
		require.Equal(t, []uint64{1, 1, 2, 2, 2}, termsOf(r), "nothing changes")
	}
}

// TestAppendAnswerBeyondTheLeadersLogIsIgnored: no follower holds more of
// a leader's log than the leader, so an answer that claims an index past
// its last is a confused peer's (a bug, a corrupted message) and counts
// for nothing: taken as a match, it would commit entries the follower was
// never sent.
func TestAppendAnswerBeyondTheLeadersLogIsIgnored(t *testing.T) {
	r := committedLeader(t, 3, nil)
	last := r.log.lastIndex()
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: last + 1000})
	require.LessOrEqual(t, r.progress.get(2).match, last)
	idx, _, err := r.Propose([]byte("x"))
	require.NoError(t, err)
	drain(r)
	require.Less(t, r.log.committed, idx, "only the leader holds it: no majority of three")
}

// TestAppendCommitRule checks the AppendEntries receiver, rule 5: "If
// leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of
// last new entry)." The bound matters: entries after the last new one may
// still be a stale leader's and must not be committed.
// Reference: §5.3
func TestAppendCommitRule(t *testing.T) {
	tests := []struct {
		prevIndex    uint64
		entries      int
		leaderCommit uint64
		want         uint64
	}{
		{3, 1, 4, 4},
		{3, 1, 9, 4}, // only up to the last new entry
		{1, 1, 9, 2}, // the follower's entries 3..5 are not vouched for
		{3, 2, 3, 3},
		{1, 0, 5, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d+%d/%d", tt.prevIndex, tt.entries, tt.leaderCommit), func(t *testing.T) {
			r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1, 1, 1, 1, 1), nil)
			var ents []Entry
			for i := range tt.entries {
				ents = append(ents, Entry{Term: 1, Index: tt.prevIndex + 1 + uint64(i)})
			}
			step(t, r, Message{From: 1, Type: MsgApp, Term: 2, Index: tt.prevIndex, LogTerm: 1, Entries: ents, Commit: tt.leaderCommit})
			require.Equal(t, tt.want, r.log.committed)
		})
	}
}

// TestAppliesCommittedInOrder checks Figure 2, All Servers: "If commitIndex
// > lastApplied: increment lastApplied, apply log[lastApplied] to state
// machine" — "Once a follower learns that a log entry is committed, it
// applies the entry to its local state machine (in log order)."
// Reference: §5.3
func TestAppliesCommittedInOrder(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, nil, nil)
	step(t, r, Message{From: 1, Type: MsgApp, Term: 2, Entries: logOf(1, 1, 2), Commit: 2})
	rd := readyOnce(r)
	require.Len(t, rd.Entries, 3)
	require.Empty(t, rd.CommittedEntries, "applied only once durable here too")
	rd = readyOnce(r)
	require.Equal(t, logOf(1, 1), rd.CommittedEntries)
	require.Equal(t, uint64(2), r.log.applied)

	step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 2, Commit: 3})
	rd = readyOnce(r)
	require.Equal(t, logOf(1, 1, 2)[2:], rd.CommittedEntries)
	require.Equal(t, uint64(3), r.log.applied)
	drain(r)
	require.False(t, r.HasReady())
}

// TestLeaderCommitRule checks Figure 2, Leaders: "If there exists an N such
// that N > commitIndex, a majority of matchIndex[i] ≥ N, and log[N].term ==
// currentTerm: set commitIndex = N."
// Reference: §5.3, §5.4.2
func TestLeaderCommitRule(t *testing.T) {
	tests := []struct {
		name    string
		log     []uint64 // before the leader's no-op at term 5
		matches []uint64 // of followers 2..5
		want    uint64
	}{
		{"nothing acknowledged", []uint64{1, 1}, []uint64{0, 0, 0, 0}, 0},
		{"minority", []uint64{1, 1}, []uint64{3, 0, 0, 0}, 0},
		{"majority of five", []uint64{1, 1}, []uint64{3, 3, 0, 0}, 3},
		{"majority at old term only", []uint64{1, 1}, []uint64{2, 2, 2, 0}, 0},
		{"highest index a majority holds", []uint64{1, 1}, []uint64{3, 3, 2, 2}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2, 3, 4, 5}, 4, logOf(tt.log...), nil)
			makeLeader(t, r)
			for i, match := range tt.matches {
				if match > 0 {
					step(t, r, Message{From: NodeID(i + 2), Type: MsgAppResp, Term: r.term, Index: match})
				}
			}
			require.Equal(t, tt.want, r.log.committed)
		})
	}
}

// TestFigure8CommitRule checks Figure 8 (c) on one leader: "Raft never
// commits log entries from previous terms by counting replicas. Only log
// entries from the leader's current term are committed by counting
// replicas; once an entry from the current term has been committed in this
// way, then all prior entries are committed indirectly because of the Log
// Matching Property." S1 leads term 4 with log [1 2 4]; the term-2 entry
// reaches S1, S2, S3 and stays uncommitted until the term-4 entry does.
// Reference: §5.4.2
func TestFigure8CommitRule(t *testing.T) {
	s1 := newTestRaft(t, 1, []NodeID{1, 2, 3, 4, 5}, 3, logOf(1, 2), nil)
	makeLeader(t, s1)
	require.Equal(t, uint64(4), s1.term)
	require.Equal(t, []uint64{1, 2, 4}, termsOf(s1))

	step(t, s1, Message{From: 2, Type: MsgAppResp, Term: 4, Index: 2})
	step(t, s1, Message{From: 3, Type: MsgAppResp, Term: 4, Index: 2})
	require.Zero(t, s1.log.committed, "a majority holds index 2, but it is from term 2")

	step(t, s1, Message{From: 2, Type: MsgAppResp, Term: 4, Index: 3})
	require.Zero(t, s1.log.committed)
	step(t, s1, Message{From: 3, Type: MsgAppResp, Term: 4, Index: 3})
	require.Equal(t, uint64(3), s1.log.committed, "the term-4 entry commits, and index 2 with it")
}

// figure7Leader is the leader's log of Figure 7, at term 8.
var figure7Leader = []uint64{1, 1, 1, 4, 4, 5, 5, 6, 6, 6}

// TestFigure7LogRepair checks: "To bring a follower's log into consistency
// with its own, the leader must find the latest log entry where the two
// logs agree, delete any entries in the follower's log after that point,
// and send the follower all of the leader's entries after that point." —
// for each follower of Figure 7 — and that with the conflict hint "one
// AppendEntries RPC will be required for each term with conflicting
// entries, rather than one RPC per entry" (here at most one rejection).
// Reference: §5.3
func TestFigure7LogRepair(t *testing.T) {
	followers := map[string][]uint64{
		"a": {1, 1, 1, 4, 4, 5, 5, 6, 6},
		"b": {1, 1, 1, 4},
		"c": {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},
		"d": {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},
		"e": {1, 1, 1, 4, 4, 4, 4},
		"f": {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3},
	}
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		t.Run(name, func(t *testing.T) {
			voters := []NodeID{1, 2, 3}
			leader := newTestRaft(t, 1, voters, 7, logOf(figure7Leader...), nil)
			follower := newTestRaft(t, 2, voters, 7, logOf(followers[name]...), nil)
			// Server 3 has the leader's log and elects it for term 8.
			fireElection(leader)
			step(t, leader, Message{From: 3, Type: MsgVoteResp, Term: 8})
			require.Equal(t, uint64(8), leader.term)

			rejections := 0
			msgs := drain(leader)
			for len(msgs) > 0 {
				var next []Message
				for _, m := range msgs {
					if m.To != 2 && m.To != 1 {
						continue
					}
					if m.Type == MsgAppResp && m.Reject {
						rejections++
					}
					if m.To == 2 {
						step(t, follower, m)
					} else {
						step(t, leader, m)
					}
				}
				next = append(next, drain(leader)...)
				next = append(next, drain(follower)...)
				msgs = next
			}
			want := append(append([]uint64(nil), figure7Leader...), 8)
			require.Equal(t, want, termsOf(leader))
			require.Equal(t, want, termsOf(follower))
			require.LessOrEqual(t, rejections, 1)
			require.Equal(t, uint64(11), leader.log.committed)
		})
	}
}

// TestFastBacktrackingLongDivergentLog checks the round trips of the
// conflict hint on a long divergence: a follower holding 1000 entries of a
// term the leader never saw is repaired in two AppendEntries, not 1000.
// Reference: §5.3
func TestFastBacktrackingLongDivergentLog(t *testing.T) {
	const common, diverged = 10, 1000
	var leaderTerms, followerTerms []uint64
	for range common {
		leaderTerms = append(leaderTerms, 1)
		followerTerms = append(followerTerms, 1)
	}
	for range diverged {
		leaderTerms = append(leaderTerms, 3)
		followerTerms = append(followerTerms, 2)
	}
	voters := []NodeID{1, 2, 3}
	leader := newTestRaft(t, 1, voters, 3, logOf(leaderTerms...), nil)
	follower := newTestRaft(t, 2, voters, 3, logOf(followerTerms...), nil)
	fireElection(leader)
	step(t, leader, Message{From: 3, Type: MsgVoteResp, Term: 4})

	appends := 0
	msgs := drain(leader)
	for len(msgs) > 0 {
		var next []Message
		for _, m := range msgs {
			switch m.To {
			case 2:
				if m.Type == MsgApp {
					appends++
				}
				step(t, follower, m)
			case 1:
				step(t, leader, m)
			}
		}
		next = append(next, drain(leader)...)
		next = append(next, drain(follower)...)
		msgs = next
	}
	require.Equal(t, termsOf(leader), termsOf(follower))
	require.LessOrEqual(t, appends, 3, "probe, probe at the hint, then (with the commit) done")
}

// TestProgressStates checks how the leader tracks each follower (the
// nextIndex[] and matchIndex[] of Figure 2): in Probe it sends one
// AppendEntries and waits for the answer ("decrements nextIndex and
// retries"); after a success it switches to Replicate and streams without
// waiting; when the entries the follower needs are compacted it sends a
// snapshot and holds back until it is acknowledged ("the leader must
// occasionally send snapshots to followers that lag behind", §7).
// Reference: §5.3
func TestProgressStates(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1, 1), nil)
	makeLeader(t, r)
	pr2, pr3 := r.progress.get(2), r.progress.get(3)
	require.Equal(t, progressProbe, pr2.state)
	require.Equal(t, uint64(3), pr2.next, "nextIndex starts just after the leader's last entry")
	require.Zero(t, pr2.match)

	// Probe: the no-op went out; nothing more until an answer.
	_, _, err := r.Propose([]byte("a"))
	require.NoError(t, err)
	require.Empty(t, ofType(drain(r), MsgApp))

	// An answer moves 2 to Replicate and sends what it lacks.
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 3})
	require.Equal(t, progressReplicate, pr2.state)
	require.Equal(t, uint64(3), pr2.match)
	require.Len(t, ofType(drain(r), MsgApp), 1)
	// Replicate: new proposals stream without waiting for answers.
	for _, cmd := range []string{"b", "c"} {
		_, _, err := r.Propose([]byte(cmd))
		require.NoError(t, err)
	}
	toTwo := 0
	for _, m := range ofType(drain(r), MsgApp) {
		if m.To == 2 {
			toTwo++
		}
	}
	require.Equal(t, 2, toTwo)
	require.Equal(t, uint64(7), pr2.next)

	// 2 acknowledges everything; the leader commits and the host applies.
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 6})
	drain(r)
	require.Equal(t, uint64(6), r.log.applied)
	_, err = r.Compact(6, []byte("snap"))
	require.NoError(t, err)

	// 3 answers a heartbeat: its next entries are gone, so it gets the
	// snapshot, and nothing else until it acknowledges it.
	step(t, r, Message{From: 3, Type: MsgHeartbeatResp, Term: 2})
	snaps := ofType(drain(r), MsgSnap)
	require.Len(t, snaps, 1)
	require.Equal(t, uint64(6), snaps[0].Snapshot.Meta.Index)
	require.Equal(t, progressSnapshot, pr3.state)
	_, _, err = r.Propose([]byte("d"))
	require.NoError(t, err)
	for _, m := range drain(r) {
		require.NotEqual(t, NodeID(3), m.To, "nothing but the snapshot while it is in flight")
	}
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: 2, Index: 6})
	require.Equal(t, progressReplicate, pr3.state)
	apps := ofType(drain(r), MsgApp)
	require.Len(t, apps, 1)
	require.Equal(t, uint64(6), apps[0].Index)
	require.Equal(t, uint64(7), apps[0].Entries[0].Index)
}

// TestRejectionInReplicateFallsBackToProbe checks that a rejection while
// streaming (a message was lost, so later ones do not match) sends the
// leader back to probing from the last known match, and that the lost
// entries are sent again.
// Reference: §5.3
func TestRejectionInReplicateFallsBackToProbe(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 2})
	for _, cmd := range []string{"a", "b", "c"} {
		_, _, err := r.Propose([]byte(cmd))
		require.NoError(t, err)
	}
	drain(r) // lost: the message with entry 3; 4 and 5 are rejected
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Reject: true, Index: 3, RejectHint: 2, LogTerm: 2})
	pr := r.progress.get(2)
	require.Equal(t, progressProbe, pr.state)
	apps := ofType(drain(r), MsgApp)
	require.Len(t, apps, 1)
	require.Equal(t, uint64(2), apps[0].Index, "resends from the last match")
	require.Len(t, apps[0].Entries, 3)

	// A stale rejection of something already matched is ignored.
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 5})
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Reject: true, Index: 4, RejectHint: 3})
	require.Equal(t, progressReplicate, pr.state)
	require.Equal(t, uint64(5), pr.match)
}

// TestPipeliningWindow checks that pipelining is bounded: at most
// MaxInflightMsgs AppendEntries, and at most MaxInflightBytes of entries,
// are unacknowledged per follower; an acknowledgement frees the window.
// Reference: §10.2.1
func TestPipeliningWindow(t *testing.T) {
	payload := make([]byte, 100)
	size := (&Entry{Data: payload}).size()
	tests := []struct {
		name     string
		maxMsgs  int
		maxBytes uint64
		want     int
	}{
		{"count", 4, 0, 4},
		{"bytes", 100, 3 * size, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRaft(t, 1, []NodeID{1, 2}, 1, logOf(1), func(c *Config) {
				c.MaxInflightMsgs, c.MaxInflightBytes = tt.maxMsgs, tt.maxBytes
			})
			makeLeader(t, r)
			step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 2})
			drain(r)
			for range 10 {
				_, _, err := r.Propose(payload)
				require.NoError(t, err)
			}
			apps := ofType(drain(r), MsgApp)
			require.Len(t, apps, tt.want)
			require.Equal(t, tt.want, r.Status().Peers[1].Inflights)
			require.True(t, r.progress.get(2).paused())

			// Acknowledging the first message frees one slot; everything
			// that waited goes in one batched message.
			step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: apps[0].Entries[0].Index})
			more := ofType(drain(r), MsgApp)
			require.Len(t, more, 1)
			require.Equal(t, 10-tt.want, len(more[0].Entries))
			require.Equal(t, uint64(12), more[0].Entries[len(more[0].Entries)-1].Index)
		})
	}
}

// TestBatchingUpToMaxMsgBytes checks batching: entries that wait while a
// follower is probed go out together, several per AppendEntries, each
// message at most MaxMsgBytes (but never empty).
// Reference: §10.2.1
func TestBatchingUpToMaxMsgBytes(t *testing.T) {
	payload := make([]byte, 76)
	size := (&Entry{Data: payload}).size() // 100
	r := newTestRaft(t, 1, []NodeID{1, 2}, 1, logOf(1), func(c *Config) { c.MaxMsgBytes = 5 * size })
	makeLeader(t, r) // 2 is probed with the no-op; the rest waits
	for range 12 {
		_, _, err := r.Propose(payload)
		require.NoError(t, err)
	}
	require.Empty(t, ofType(drain(r), MsgApp))
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 2})
	apps := ofType(drain(r), MsgApp)
	var counts []int
	next := uint64(3)
	for _, m := range apps {
		var bytes uint64
		for _, e := range m.Entries {
			require.Equal(t, next, e.Index, "in order, no gaps")
			next++
			bytes += e.size()
		}
		require.LessOrEqual(t, bytes, 5*size)
		counts = append(counts, len(m.Entries))
	}
	require.Equal(t, []int{5, 5, 2}, counts)

	// A single entry larger than the cap still goes out, alone.
	_, _, err := r.Propose(make([]byte, 10*size))
	require.NoError(t, err)
	apps = ofType(drain(r), MsgApp)
	require.Len(t, apps, 1)
	require.Len(t, apps[0].Entries, 1)
}

// TestHeartbeatCarriesCommit checks: "The leader keeps track of the highest
// index it knows to be committed, and it includes that index in future
// AppendEntries RPCs (including heartbeats) so that the other servers
// eventually find out." A heartbeat carries no entries to check against, so
// the commit sent is capped by what the follower is known to hold.
// Reference: §5.3
func TestHeartbeatCarriesCommit(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: 2, Index: 2})
	drain(r)
	require.Equal(t, uint64(2), r.log.committed)
	r.Tick()
	beats := ofType(drain(r), MsgHeartbeat)
	require.Len(t, beats, 2)
	commits := map[NodeID]uint64{}
	for _, m := range beats {
		commits[m.To] = m.Commit
	}
	require.Equal(t, map[NodeID]uint64{2: 2, 3: 0}, commits, "3 holds nothing known yet")

	// And the follower commits from a heartbeat.
	f := newTestRaft(t, 2, []NodeID{1, 2, 3}, 2, logOf(1, 2), nil)
	step(t, f, Message{From: 1, Type: MsgHeartbeat, Term: 2, Commit: 2})
	require.Equal(t, uint64(2), f.log.committed)
	rd := readyOnce(f)
	require.Len(t, rd.CommittedEntries, 2)
}

// TestClusterCommitReachesFollowers runs the same over the network: after a
// proposal commits, one heartbeat round lets every follower apply it.
// Reference: §5.3
func TestClusterCommitReachesFollowers(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	l := c.leader()
	require.Equal(t, []string{"x"}, appliedData(c.nodes[l]))
	c.tick(1)
	for _, id := range c.ids {
		require.Equal(t, []string{"x"}, appliedData(c.nodes[id]), "node %d", id)
	}
}

// TestCommitIsAnnouncedAtOnce checks that followers learn a new commit index
// as soon as the leader does, with an empty AppendEntries where there is
// nothing new to send, rather than at the next heartbeat: a follower answers
// the clients that wait on it only after applying (§5.3: the leader "keeps
// track of the highest index it knows to be committed, and it includes
// that index in future AppendEntries RPCs (including heartbeats)").
// Reference: §5.3
func TestCommitIsAnnouncedAtOnce(t *testing.T) {
	c := newCluster(t, 3, nil)
	idx := c.propose("x") // no tick: only the messages the proposal caused
	for _, id := range c.ids {
		require.GreaterOrEqual(t, c.node(id).log.committed, idx, "node %d", id)
	}
}

// TestStaleAppendAnswerNotCounted checks that an AppendEntries answer of an
// earlier term is dropped, not counted as a match: "If a server receives a
// request with a stale term number, it rejects the request" (§5.1), and an
// answer of an old term speaks of the log the leader had then. Of five
// servers, 1 leads term 2 and sends entries 2–3 to 2 alone, whose answer is
// delayed. 3 wins term 3 with 4 and 5 and overwrites 1's entries; 1 wins
// term 4 and puts its no-op at index 3. Counted when it arrives, 2's old
// "I hold through 3" would commit index 3, held by 1 and 4 only.
// Reference: §5.1, §5.3
func TestStaleAppendAnswerNotCounted(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3, 4, 5}, 1, logOf(1), nil)
	makeLeader(t, r) // term 2, no-op at 2
	_, _, err := r.Propose([]byte("a"))
	require.NoError(t, err)
	drain(r)
	late := Message{From: 2, Type: MsgAppResp, Term: 2, Index: 3}

	// Leader 3 of term 3 replaces 1's entries 2-3 with its own no-op.
	step(t, r, Message{From: 3, Type: MsgApp, Term: 3, Index: 1, LogTerm: 1,
		Entries: []Entry{{Index: 2, Term: 3}}, Commit: 2})
	require.Equal(t, []uint64{1, 3}, termsOf(r))
	drain(r)
	makeLeader(t, r)
	require.Equal(t, []uint64{1, 3, 4}, termsOf(r))
	step(t, r, Message{From: 4, Type: MsgAppResp, Term: 4, Index: 3})
	require.Equal(t, uint64(2), r.log.committed, "1 and 4 are no majority of five")

	step(t, r, late)
	require.Equal(t, uint64(2), r.log.committed, "a term-2 answer counted toward committing index 3 of term 4")
	require.Zero(t, r.progress.get(2).match, "a term-2 answer was taken as a match of the term-4 log")
}
