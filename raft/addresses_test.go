package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Tests for the members' addresses (issue 7, item 10). Raft keeps each
// member's address, opaque to it, in the configuration: set by the change
// that adds the member, kept in snapshots and in the bootstrap entries,
// deleted with the member, so a server restarted from a compacted log
// still knows where everybody is.

// TestAddressesFollowTheConfiguration: the bootstrap addresses, a learner's
// address from its AddLearner, kept on promotion, dropped on removal, on
// every member, and carried through a snapshot to a server that restarts
// from it.
// Reference: §4.1, §7
func TestAddressesFollowTheConfiguration(t *testing.T) {
	addrs := map[NodeID]string{1: "127.0.0.1:7401", 2: "127.0.0.1:7402", 3: "127.0.0.1:7403"}
	c := newCluster(t, 3, func(cfg *Config) { cfg.Addresses = addrs })
	c.propose("x")
	for _, id := range c.ids {
		require.Equal(t, addrs, c.node(id).Status().Conf.Addresses, "node %d after bootstrap", id)
	}
	c.addNode(4)
	c.changeConf(ConfChange{Type: AddLearner, Node: 4, Context: []byte("127.0.0.1:7404")})
	c.changeConf(ConfChange{Type: AddVoter, Node: 4})
	c.changeConf(ConfChange{Type: RemoveNode, Node: 2})
	c.tick(3)
	want := map[NodeID]string{1: "127.0.0.1:7401", 3: "127.0.0.1:7403", 4: "127.0.0.1:7404"}
	for _, id := range []NodeID{1, 3, 4} {
		require.Equal(t, want, c.node(id).Status().Conf.Addresses, "node %d", id)
	}
	for _, id := range []NodeID{1, 3, 4} {
		if c.nodes[id].lastApp > 0 {
			snap := c.compact(id)
			require.Equal(t, want, snap.Meta.Conf.Addresses, "node %d's snapshot", id)
		}
		c.crash(id)
		c.restart(id)
		require.Equal(t, want, c.node(id).Status().Conf.Addresses, "node %d restarted from its snapshot", id)
	}
}

// TestBootstrapOnlyWhenTheHostSaysSo: a server with empty storage writes
// the initial configuration only when its host says the cluster is new
// (Config.Bootstrap). A server that lost its storage would otherwise come
// back having forgotten its vote and write a configuration of its own; New
// refuses that instead. Storage that is not empty always wins.
// Reference: §5.1 (Figure 2: currentTerm and votedFor are persistent), §4.1
func TestBootstrapOnlyWhenTheHostSaysSo(t *testing.T) {
	cfg := plainConfig(1)
	cfg.Voters = []NodeID{1, 2, 3}
	_, err := New(cfg, RestoredState{})
	require.Error(t, err, "empty storage and no word from the host that the cluster is new")

	cfg.Bootstrap = true
	r, err := New(cfg, RestoredState{})
	require.NoError(t, err)
	require.Equal(t, []NodeID{1, 2, 3}, r.Status().Conf.Voters)

	restored := RestoredState{HardState: HardState{Term: 4, Vote: 2, Commit: 1},
		Entries: []Entry{{Term: 1, Index: 1, Type: EntryConfChange, Data: ConfChange{Type: AddVoter, Node: 1}.Marshal()}}}
	r, err = New(cfg, restored)
	require.NoError(t, err)
	require.Equal(t, []NodeID{1}, r.Status().Conf.Voters, "what storage holds wins over Bootstrap")
	require.Equal(t, uint64(4), r.Term())

	joining := plainConfig(5)
	r, err = New(joining, RestoredState{})
	require.NoError(t, err, "a server joining later starts empty")
	require.Empty(t, r.Status().Conf.Voters)
}
