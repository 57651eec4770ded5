package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestProgressTableKeepsMembersSortedByID checks the leader's progress
// table: whatever order members are added in, it ranges by id (ids beyond
// int's range included), set replaces a member's progress rather than
// adding a second one, keep drops exactly the members not named, and get
// finds nothing for a non-member.
func TestProgressTableKeepsMembersSortedByID(t *testing.T) {
	big := NodeID(3 << 62)
	var tab progressTable
	for _, id := range []NodeID{5, big, 1, 3} {
		tab.set(&progress{id: id})
	}
	ids := func() []NodeID {
		var out []NodeID
		for _, pr := range tab {
			out = append(out, pr.id)
		}
		return out
	}
	require.Equal(t, []NodeID{1, 3, 5, big}, ids())

	again := &progress{id: 3, match: 7}
	tab.set(again)
	require.Equal(t, []NodeID{1, 3, 5, big}, ids())
	require.Same(t, again, tab.get(3))

	tab.keep([]NodeID{big, 3, 9})
	require.Equal(t, []NodeID{3, big}, ids())
	require.Nil(t, tab.get(1))
	require.Nil(t, tab.get(9))
	require.Equal(t, big, tab.get(big).id)
}
