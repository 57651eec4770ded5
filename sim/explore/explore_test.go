package explore

import (
	"testing"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/stretchr/testify/require"
)

// The real core is safe within a bound that spends every kind of budget:
// crashes that lose unsynced writes, duplicates, drops, heartbeats and a
// proposal, besides elections. (The mutation test in package sim runs the
// default bound on the unmutated core too, and plants the bugs this search
// must find.)
func TestRealCoreIsSafeWithinBounds(t *testing.T) {
	b := Bounds{Nodes: 3, Depth: 7, Timeouts: 2, Heartbeats: 1, Proposals: 1, Crashes: 1, Duplicates: 1, Drops: 1}
	rep, err := Explore(b, time.Now().Add(2*time.Minute))
	require.NoError(t, err)
	t.Log(rep.String())
	require.Empty(t, rep.Violation, rep.String())
	require.Equal(t, b.Depth, rep.Depth)
	require.Greater(t, rep.Explored, 1000, "the search hardly branched")
}

// Five nodes fit too, at a smaller depth.
func TestFiveNodes(t *testing.T) {
	b := Bounds{Nodes: 5, Depth: 6, Timeouts: 2}
	rep, err := Explore(b, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.Empty(t, rep.Violation, rep.String())
	require.Greater(t, rep.Explored, 100)
}

// A copy must be exact and independent: the same actions on the original
// and on the copy give states that hash equal, and acting on the copy does
// not change the original.
func TestCopyIsExactAndIndependent(t *testing.T) {
	b := DefaultBounds()
	w, err := newWorld(b)
	require.NoError(t, err)
	before := w.hash()
	c := w.branch()
	require.Equal(t, before, c.hash())
	for step := range 6 {
		acts := c.actions(b)
		require.NotEmpty(t, acts)
		_, err := c.apply(acts[step%len(acts)], b)
		require.NoError(t, err)
	}
	require.Equal(t, before, w.hash(), "acting on the copy changed the original")
	require.NotEqual(t, before, c.hash())

	// Two copies taking the same actions stay equal, step by step, and
	// end where the first copy did.
	d, e := w.branch(), deepCopy(w)
	for step := range 6 {
		ad := d.actions(b)
		require.Len(t, e.actions(b), len(ad))
		a := ad[step%len(ad)]
		_, err := d.apply(a, b)
		require.NoError(t, err)
		_, err = e.apply(a, b)
		require.NoError(t, err)
		require.Equal(t, d.hash(), e.hash(), "step %d", step)
		e = e.branch()
	}
	require.Equal(t, c.hash(), d.hash())
}

// The order in which messages arrived in flight is not part of a state.
func TestNetworkIsAMultiset(t *testing.T) {
	w, err := newWorld(DefaultBounds())
	require.NoError(t, err)
	m1 := raft.Message{Type: raft.MsgVote, From: 1, To: 2, Term: 2}
	m2 := raft.Message{Type: raft.MsgVote, From: 1, To: 3, Term: 2}
	a, b := w.branch(), w.branch()
	a.network = append(a.network, inFlight{m1, stateHash(&m1)}, inFlight{m2, stateHash(&m2)})
	b.network = append(b.network, inFlight{m2, stateHash(&m2)}, inFlight{m1, stateHash(&m1)})
	require.Equal(t, a.hash(), b.hash())
	b.network = b.network[:1]
	require.NotEqual(t, a.hash(), b.hash())
}

// Each check fails when its property is broken: a checker that cannot
// fail proves nothing. The states are planted by hand.
func TestChecksCatchPlantedViolations(t *testing.T) {
	b := DefaultBounds()
	elect := func(t *testing.T, w *world) *violation {
		// n1 times out and collects n2's vote.
		v, err := w.apply(action{kind: timeout, node: 0}, b)
		require.NoError(t, err)
		require.Nil(t, v)
		for _, want := range []raft.MessageType{raft.MsgVote, raft.MsgVoteResp} {
			i := -1
			for k, f := range w.network {
				if f.m.Type == want && (f.m.To == 2 || f.m.From == 2) {
					i = k
					break
				}
			}
			require.GreaterOrEqual(t, i, 0, "no %v in flight", want)
			if v, err = w.apply(action{kind: deliver, msg: i}, b); v != nil || err != nil {
				require.NoError(t, err)
				return v
			}
		}
		require.Equal(t, raft.StateLeader, w.nodes[0].r.SoftState().State)
		return nil
	}
	t.Run("election safety", func(t *testing.T) {
		w, err := newWorld(b)
		require.NoError(t, err)
		w.leaders[2] = 3
		v := elect(t, w)
		require.NotNil(t, v)
		require.Equal(t, "Election Safety", v.property)
	})
	t.Run("leader completeness", func(t *testing.T) {
		w, err := newWorld(b)
		require.NoError(t, err)
		w.committed[3] = commitRecord{entryTerm: 7, inTerm: 1}
		v := elect(t, w)
		require.NotNil(t, v)
		require.Equal(t, "Leader Completeness", v.property)
	})
	t.Run("state machine safety", func(t *testing.T) {
		w, err := newWorld(b)
		require.NoError(t, err)
		require.Nil(t, elect(t, w))
		w.committed[4] = commitRecord{entryTerm: 9, inTerm: 9}
		// Replicate the leader's entry to n3 and let it commit index 4.
		var v *violation
		for range 8 {
			i := -1
			for k, f := range w.network {
				if f.m.To == 3 || f.m.From == 3 {
					i = k
					break
				}
			}
			if i < 0 {
				break
			}
			if v, err = w.apply(action{kind: deliver, msg: i}, b); v != nil {
				break
			}
			require.NoError(t, err)
		}
		require.NotNil(t, v, "index 4 never committed")
		require.Equal(t, "State Machine Safety", v.property)
	})
	t.Run("log matching", func(t *testing.T) {
		restore := func(id raft.NodeID, terms ...uint64) *node {
			n := &node{id: id, durable: raft.HardState{Term: 5}}
			for i, term := range terms {
				n.entries = append(n.entries, raft.Entry{Term: term, Index: uint64(i + 1)})
			}
			r, err := raft.New(b.raftConfig(id, false), raft.RestoredState{HardState: n.durable, Entries: n.entries})
			require.NoError(t, err)
			n.r = r
			return n
		}
		v := checkLogMatching(restore(1, 1, 2, 3), restore(2, 1, 1, 3))
		require.NotNil(t, v)
		require.Equal(t, "Log Matching", v.property)
		require.Nil(t, checkLogMatching(restore(1, 1, 2, 3), restore(2, 1, 2, 4)))
	})
	t.Run("durable before send", func(t *testing.T) {
		n := &node{id: 1, durable: raft.HardState{Term: 3, Vote: 2}}
		require.Nil(t, n.checkDurableBeforeSend(raft.Message{Type: raft.MsgVoteResp, To: 2, Term: 3}))
		v := n.checkDurableBeforeSend(raft.Message{Type: raft.MsgVoteResp, To: 3, Term: 3})
		require.NotNil(t, v)
		require.Equal(t, "durable before send", v.property)
		require.NotNil(t, n.checkDurableBeforeSend(raft.Message{Type: raft.MsgApp, To: 2, Term: 4}))
		require.NotNil(t, n.checkDurableBeforeSend(raft.Message{Type: raft.MsgAppResp, To: 2, Term: 3, Index: 1}))
	})
}
