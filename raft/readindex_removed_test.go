package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Scenario tests for reads on a leader that removed itself (issue 7,
// item 1). §4.1: "a server always uses the latest configuration in its log,
// regardless of whether the entry is committed", so once the leader has
// appended its own removal it leads a configuration it is not part of: its
// own acknowledgement no longer counts towards a quorum, and the one voter
// left is somebody else.

// removeLeaderUncommitted has the leader propose its own removal, lets every
// follower store it and loses every acknowledgement, so the leader cannot
// commit the change (and so keeps leading, §4.2.2).
func removeLeaderUncommitted(t *testing.T, c *cluster) NodeID {
	t.Helper()
	l := c.waitLeader()
	c.propose("x")
	c.tick(2)
	c.dropFn = func(m Message) bool { return m.To == l && m.Type == MsgAppResp }
	_, _, err := c.node(l).ProposeConfChange(ConfChange{Type: RemoveNode, Node: l})
	require.NoError(t, err)
	c.deliverAll()
	for _, id := range c.others(l) {
		require.NotContains(t, c.node(id).conf.voters, l, "node %d stored the removal", id)
	}
	require.Equal(t, StateLeader, c.node(l).state)
	require.False(t, c.node(l).conf.isVoter(l))
	return l
}

// TestScenarioSelfRemovedLeaderOfTwoCannotReadAlone: two servers, the leader
// removes itself, the acknowledgement is lost, a partition follows. The
// other server is the only voter of the configuration in force: it elects
// itself and commits W. The old leader is no "single voter": a read on it
// must not be answered below W.
// Reference: §4.1, §6.4
func TestScenarioSelfRemovedLeaderOfTwoCannotReadAlone(t *testing.T) {
	c := newCluster(t, 2, func(cfg *Config) { cfg.CheckQuorum = false })
	l := removeLeaderUncommitted(t, c)
	o := c.others(l)[0]
	c.isolate(l)
	c.tick(25)
	require.Equal(t, StateLeader, c.node(o).state, "the remaining voter elects itself")
	idx, _, err := c.node(o).Propose([]byte("W"))
	require.NoError(t, err)
	c.deliverAll()
	require.GreaterOrEqual(t, c.node(o).log.committed, idx, "W committed")

	require.Equal(t, StateLeader, c.node(l).state, "nothing told the old leader")
	require.NoError(t, c.node(l).ReadIndex([]byte("stale?")))
	c.tick(3)
	for _, rs := range c.nodes[l].reads {
		require.GreaterOrEqual(t, rs.Index, idx, "the removed leader answered a read below W")
	}
}

// TestScenarioSelfRemovedLeaderOfFourCannotCountItself: four voters shrink
// to three by the leader's removal, whose acknowledgements are lost. A
// partition {old leader, f1} | {f2, f3}: f2 and f3 are a majority of the
// new configuration, elect a leader and commit W. The old leader hears f1's
// heartbeat answer; with its own acknowledgement that would make two of
// three, but its own does not count any more.
// Reference: §4.1, §6.4
func TestScenarioSelfRemovedLeaderOfFourCannotCountItself(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) { cfg.CheckQuorum = false })
	l := removeLeaderUncommitted(t, c)
	rest := c.others(l)
	f1, majority := rest[0], rest[1:]
	c.partition([]NodeID{l, f1}, majority)
	var newLeader NodeID
	for range 60 {
		c.tick(1)
		for _, id := range majority {
			if c.node(id).state == StateLeader {
				newLeader = id
			}
		}
		if newLeader != None {
			break
		}
	}
	require.NotEqual(t, None, newLeader, "the new majority elects a leader")
	idx, _, err := c.node(newLeader).Propose([]byte("W"))
	require.NoError(t, err)
	c.deliverAll()
	require.GreaterOrEqual(t, c.node(newLeader).log.committed, idx, "W committed")

	require.Equal(t, StateLeader, c.node(l).state, "nothing told the old leader")
	require.NoError(t, c.node(l).ReadIndex([]byte("stale?")))
	c.tick(3)
	for _, rs := range c.nodes[l].reads {
		require.GreaterOrEqual(t, rs.Index, idx, "the removed leader answered a read below W")
	}
}
