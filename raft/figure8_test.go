package raft

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// Figure 8 of the paper, played over the in-memory network with five
// servers S1..S5. The figure's index i is index i+4 here, because the five
// bootstrap configuration entries (term 1) occupy indexes 1..5; the
// figure's "index 1, term 1" is our index 5. The leaders' entries of the
// figure are their no-ops (§8), so no client command is needed.

const (
	fig8Index2 = 6 // the figure's index 2
	fig8Index3 = 7 // the figure's index 3
)

func hasTerm(m Message, term uint64) bool {
	return slices.ContainsFunc(m.Entries, func(e Entry) bool { return e.Term == term })
}

// figure8UpToC plays (a), (b) and (c) and returns the cluster in state (c):
// S1 leads term 4 with log [1 2 4]; S2 and S3 hold [1 2]; S4 holds [1];
// S5 (down) holds [1 3].
func figure8UpToC(t *testing.T) *cluster {
	c := newCluster(t, 5, func(cfg *Config) {
		cfg.PreVote, cfg.CheckQuorum = false, false
		cfg.MaxMsgBytes = 1 // one entry per AppendEntries, to stop each one separately
	})
	c.process()

	// (a) "S1 is leader and partially replicates the log entry at index 2."
	c.dropFn = func(m Message) bool { return m.From == 1 && m.Type == MsgApp && m.To != 2 }
	c.campaign(1)
	c.deliverAll()
	require.Equal(t, StateLeader, c.node(1).state)
	require.Equal(t, uint64(2), c.node(1).term)
	require.True(t, c.node(2).log.matchTerm(fig8Index2, 2))
	require.False(t, c.node(3).log.matchTerm(fig8Index2, 2))

	// (b) "S1 crashes; S5 is elected leader for term 3 with votes from S3,
	// S4, and itself, and accepts a different entry at log index 2."
	c.crash(1)
	c.dropFn = func(m Message) bool { return m.From == 5 && m.Type == MsgApp }
	c.campaign(5)
	c.deliverAll()
	require.Equal(t, StateLeader, c.node(5).state)
	require.Equal(t, uint64(3), c.node(5).term)
	require.True(t, c.node(5).log.matchTerm(fig8Index2, 3))

	// (c) "S5 crashes; S1 restarts, is elected leader, and continues
	// replication." S1 needs term 4: S3 and S4 voted for S5 in term 3.
	c.crash(5)
	c.restart(1)
	// S4 hears nothing; the others lose every AppendEntries that would
	// store the term-4 entry (one they would reject still arrives, so that
	// S3 can tell S1 where its log ends).
	c.dropFn = func(m Message) bool {
		if m.From != 1 || m.Type != MsgApp {
			return false
		}
		wouldStore := hasTerm(m, 4) && c.node(m.To).log.matchTerm(m.Index, m.LogTerm)
		return m.To == 4 || wouldStore
	}
	c.campaign(1)
	c.deliverAll()
	if c.node(1).state != StateLeader {
		c.campaign(1)
		c.deliverAll()
	}
	require.Equal(t, StateLeader, c.node(1).state)
	require.Equal(t, uint64(4), c.node(1).term)
	require.True(t, c.node(1).log.matchTerm(fig8Index3, 4))

	// S2 got index 2 in (a); S1 hears so from an AppendEntries that
	// reaches S2 without the term-4 entry (as S1 sends when it has nothing
	// new for S2: an empty one after index 2).
	s1 := c.node(1)
	require.NoError(t, c.node(2).Step(Message{From: 1, To: 2, Type: MsgApp, Term: s1.term,
		Index: fig8Index2, LogTerm: 2, Commit: s1.log.committed}))
	c.deliverAll()

	// "At this point, the log entry from term 2 has been replicated on a
	// majority of the servers, but it is not committed." S1 knows it.
	for _, id := range []NodeID{1, 2, 3} {
		require.True(t, c.node(id).log.matchTerm(fig8Index2, 2), "S%d holds index 2 from term 2", id)
	}
	require.GreaterOrEqual(t, s1.progress.get(2).match, uint64(fig8Index2))
	require.GreaterOrEqual(t, s1.progress.get(3).match, uint64(fig8Index2))
	require.Less(t, s1.log.committed, uint64(fig8Index2))
	require.Equal(t, uint64(fig8Index2-1), c.node(4).log.lastIndex())
	return c
}

// TestFigure8Overwrite checks Figure 8 (d): "If S1 crashes as in (d), S5
// could be elected leader (with votes from S2, S3, and S4) and overwrite the
// entry with its own entry from term 3." The term-2 entry was on a majority
// yet is overwritten — which is safe only because the leader never counted
// it as committed.
// Reference: §5.4.2
func TestFigure8Overwrite(t *testing.T) {
	c := figure8UpToC(t)
	c.crash(1)
	c.restart(5)
	c.dropFn = nil
	for range 3 {
		if c.node(5).state != StateLeader {
			c.campaign(5) // term 4 is taken by S1's voters; term 5 wins
			c.deliverAll()
		}
	}
	require.Equal(t, StateLeader, c.node(5).state)
	require.Equal(t, uint64(5), c.node(5).term)
	for _, id := range []NodeID{2, 3, 4, 5} {
		require.True(t, c.node(id).log.matchTerm(fig8Index2, 3), "S%d now holds S5's term-3 entry", id)
	}
	// Nobody ever applied the overwritten entry (the harness checks that
	// every index is applied with one entry only).
	require.Equal(t, uint64(fig8Index3), c.node(5).log.committed)
}

// TestFigure8CommitFromCurrentTerm checks Figure 8 (e): "However, if S1
// replicates an entry from its current term on a majority of the servers
// before crashing, as in (e), then this entry is committed (S5 cannot win
// an election)."
// Reference: §5.4.2
func TestFigure8CommitFromCurrentTerm(t *testing.T) {
	c := figure8UpToC(t)
	c.dropFn = func(m Message) bool { return m.From == 1 && m.Type == MsgApp && m.To == 4 }
	c.tick(2) // heartbeats make S1 retry what was lost
	require.Equal(t, uint64(fig8Index3), c.node(1).log.committed, "index 3 from term 4 is on S1, S2, S3")

	c.crash(1)
	c.restart(5)
	c.dropFn = nil
	for range 5 {
		c.campaign(5)
		c.deliverAll()
		require.NotEqual(t, StateLeader, c.node(5).state, "S5 cannot win")
	}
	// Someone else wins, and the committed entries survive.
	l := c.waitLeader()
	require.Contains(t, []NodeID{2, 3}, l, "only a server holding the committed entry can win")
	for _, id := range []NodeID{2, 3, 4, 5} {
		require.True(t, c.node(id).log.matchTerm(fig8Index2, 2), "S%d", id)
		require.True(t, c.node(id).log.matchTerm(fig8Index3, 4), "S%d", id)
	}
}
