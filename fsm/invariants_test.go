package fsm

import (
	"cmp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckInvariantsFindsCorruptState plants one corruption of each kind
// the checker claims to find in the state world builds, and requires the
// checker to name it: a checker that never fails would pass every other
// test of this package.
func TestCheckInvariantsFindsCorruptState(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(m *Machine)
		want    string
	}{
		{"renewal after applied", func(m *Machine) { m.renewalIndex = m.applied + 1 },
			"renewal index 6 after applied index 5"},
		{"list under another path", func(m *Machine) { m.lists["/data/x"].path = "/data/z" },
			`list under "/data/x" says its path is "/data/z"`},
		{"list version after applied", func(m *Machine) { m.lists["/data/y"].version = 9 },
			"list /data/y has version 9 (applied 5)"},
		{"items out of order", func(m *Machine) {
			chunk := m.lists["/data/x"].items.chunks[0]
			chunk[0], chunk[1] = chunk[1], chunk[0]
		}, "list /data/x: item 3 follows item 4"},
		{"item modified before it was made", func(m *Machine) { m.lists["/data/y"].items.chunks[0][0].Modified = 4 },
			"list /data/y (version 5): item 5 modified at 4"},
		{"item of a dead session", func(m *Machine) { m.lists["/data/y"].items.chunks[0][0].Owner = "mallory" },
			`list /data/y: item 5 is owned by "mallory", which is not a live session`},
		{"item its owner does not list", func(m *Machine) { m.sessions["bob"].owned = nil },
			`list /data/x: item 4 is not among the owned items of "bob"`},
		{"owned item in another list", func(m *Machine) {
			m.sessions["alice"].owned = append(m.sessions["alice"].owned, ownedItem{version: 7, path: "/data/q"})
		}, `session "alice" owns item 7 in /data/q, which was never written`},
		{"owned item its list holds as another's", func(m *Machine) {
			m.sessions["alice"].owned = append(m.sessions["alice"].owned, ownedItem{version: 4, path: "/data/x"})
			slices.SortFunc(m.sessions["alice"].owned, func(a, b ownedItem) int { return cmp.Compare(a.version, b.version) })
		}, `session "alice" owns item 4 in /data/x, which the list does not hold as its`},
		{"token index out of step", func(m *Machine) { delete(m.byToken, hashOf("bob")) },
			`session "bob" is not found by its token hash`},
		{"item count off", func(m *Machine) { m.itemCount++ },
			"3 items in lists, 3 owned by sessions, 4 counted"},
		{"data bytes off", func(m *Machine) { m.dataBytes-- },
			"data bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := world(t)
			require.NoError(t, h.m.CheckInvariants())
			tt.corrupt(h.m)
			require.ErrorContains(t, h.m.CheckInvariants(), tt.want)
		})
	}
}

// TestCheckInvariantsReportsTheSameViolationEveryRun plants two violations
// in lists that map order visits either way round: the report must name the
// first in path order every time, so that a simulator failure replays with
// the same message.
func TestCheckInvariantsReportsTheSameViolationEveryRun(t *testing.T) {
	h := world(t)
	h.m.lists["/data/x"].version = 8
	h.m.lists["/data/y"].version = 9
	for range 64 {
		require.EqualError(t, h.m.CheckInvariants(), "fsm invariant: list /data/x has version 8 (applied 5)")
	}
}
