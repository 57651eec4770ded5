package fsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// world builds the state every case in TestApply starts from:
//
//	1 open alice   2 open bob
//	3 alice pushes "a1" to /data/x      4 bob pushes "b1" to /data/x
//	5 alice pushes 1 to /data/y
//
// so the next index is 6.
func world(t testing.TB) *harness {
	h := newHarness(t, Options{MaxItemBytes: 64})
	h.open("alice")
	h.open("bob")
	require.Equal(t, uint64(3), h.push("alice", "/data/x", "a1"))
	require.Equal(t, uint64(4), h.push("bob", "/data/x", "b1"))
	require.Equal(t, uint64(5), h.push("alice", "/data/y", 1))
	return h
}

func item(t testing.TB, version, modified uint64, owner string, data any) Item {
	return Item{Version: version, Modified: modified, Owner: owner, Data: string(mp(t, data))}
}

func TestApply(t *testing.T) {
	type check func(t *testing.T, h *harness, result Result, events []Event)
	tests := []struct {
		name  string
		cmd   Command
		raw   []byte // used instead of cmd when set
		code  Code
		check check
	}{
		// Noop and barriers.
		{name: "noop", cmd: Noop{}, code: OK},
		{name: "empty entry is a noop", raw: []byte{}, code: OK},

		// OpenSession.
		{name: "open", cmd: OpenSession{ID: "carol", TokenHash: hashOf("carol"), TTLms: 700}, code: OK,
			check: func(t *testing.T, h *harness, result Result, events []Event) {
				want := SessionInfo{ID: "carol", TokenHash: hashOf("carol"), TTLms: 700, Opened: 6}
				require.Equal(t, want, result.Session)
				got, ok := h.m.Session("carol")
				require.True(t, ok)
				require.Equal(t, want, got)
				got, ok = h.m.SessionByTokenHash(hashOf("carol"))
				require.True(t, ok)
				require.Equal(t, want, got)
				require.Empty(t, events)
			}},
		{name: "open existing id", cmd: OpenSession{ID: "alice", TokenHash: hashOf("other"), TTLms: 700}, code: Conflict},
		{name: "open with a token in use", cmd: OpenSession{ID: "carol", TokenHash: hashOf("bob"), TTLms: 700}, code: Conflict},
		{name: "open with empty id", cmd: OpenSession{ID: "", TokenHash: hashOf("x"), TTLms: 700}, code: InvalidParameter},
		{name: "open with slash in id", cmd: OpenSession{ID: "a/b", TokenHash: hashOf("x"), TTLms: 700}, code: InvalidParameter},
		{name: "open with long id", cmd: OpenSession{ID: string(bytes.Repeat([]byte{'i'}, 129)), TokenHash: hashOf("x"), TTLms: 700}, code: InvalidParameter},
		{name: "open with zero ttl", cmd: OpenSession{ID: "carol", TokenHash: hashOf("carol")}, code: InvalidParameter},
		{name: "open with zero token hash", cmd: OpenSession{ID: "carol", TTLms: 700}, code: InvalidParameter},

		// CloseSession.
		{name: "close removes every item in one entry", cmd: CloseSession{ID: "alice"}, code: OK,
			check: func(t *testing.T, h *harness, result Result, events []Event) {
				require.Equal(t, "alice", result.Session.ID)
				require.Equal(t, 2, result.Session.Items)
				require.False(t, result.Expired)
				require.Equal(t, []Event{
					{Path: "/data/x", Version: 6, Kind: EventDelete, Item: item(t, 3, 3, "alice", "a1")},
					{Path: "/data/y", Version: 6, Kind: EventDelete, Item: item(t, 5, 5, "alice", 1)},
				}, events)
				items, version := h.m.Read("/data/x")
				require.Equal(t, []Item{item(t, 4, 4, "bob", "b1")}, items)
				require.Equal(t, uint64(6), version)
				items, version = h.m.Read("/data/y")
				require.Empty(t, items)
				require.Equal(t, uint64(6), version, "an emptied list keeps the version of its last change")
				_, ok := h.m.Session("alice")
				require.False(t, ok)
				_, ok = h.m.SessionByTokenHash(hashOf("alice"))
				require.False(t, ok)
			}},
		{name: "expire", cmd: CloseSession{ID: "bob", Expired: true}, code: OK,
			check: func(t *testing.T, h *harness, result Result, events []Event) {
				require.True(t, result.Expired)
				require.Equal(t, []Event{{Path: "/data/x", Version: 6, Kind: EventDelete, Item: item(t, 4, 4, "bob", "b1")}}, events)
				_, version := h.m.Read("/data/y")
				require.Equal(t, uint64(5), version, "a list the session held nothing in is untouched")
			}},
		{name: "close unknown session", cmd: CloseSession{ID: "nobody"}, code: SessionExpired},

		// Push.
		{name: "push", cmd: Push{Session: "bob", Path: "/data/x", Data: mp(t, "b2")}, code: OK,
			check: func(t *testing.T, h *harness, result Result, events []Event) {
				pushed := item(t, 6, 6, "bob", "b2")
				require.Equal(t, pushed, result.Item)
				require.Equal(t, uint64(6), result.Version)
				want := []Item{item(t, 3, 3, "alice", "a1"), item(t, 4, 4, "bob", "b1"), pushed}
				require.Equal(t, want, result.Items())
				require.Equal(t, []Event{{Path: "/data/x", Version: 6, Kind: EventPush, Item: pushed}}, events)
				items, version := h.m.Read("/data/x")
				require.Equal(t, want, items)
				require.Equal(t, uint64(6), version)
				session, _ := h.m.Session("bob")
				require.Equal(t, 2, session.Items)
			}},
		{name: "push to a new list", cmd: Push{Session: "bob", Path: "/data/new/list", Data: []byte{0xc0}}, code: OK,
			check: func(t *testing.T, h *harness, result Result, events []Event) {
				require.Equal(t, []Item{{Version: 6, Modified: 6, Owner: "bob", Data: "\xc0"}}, result.Items())
				require.Equal(t, []string{"/data/new/list", "/data/x", "/data/y"}, h.m.Paths())
			}},
		{name: "push with matching if_version", cmd: Push{Session: "bob", Path: "/data/x", Data: []byte{0x01}, IfVersion: u64(4)}, code: OK},
		{name: "push with if_version 0 to a new list", cmd: Push{Session: "bob", Path: "/data/z", Data: []byte{0x01}, IfVersion: u64(0)}, code: OK},
		{name: "push with stale if_version", cmd: Push{Session: "bob", Path: "/data/x", Data: []byte{0x01}, IfVersion: u64(3)}, code: Conflict},
		{name: "push with if_version to a new list", cmd: Push{Session: "bob", Path: "/data/z", Data: []byte{0x01}, IfVersion: u64(4)}, code: Conflict},
		{name: "push to a bad path", cmd: Push{Session: "bob", Path: "/data/../x", Data: []byte{0x01}}, code: InvalidParameter},
		{name: "push too large", cmd: Push{Session: "bob", Path: "/data/x", Data: mp(t, string(bytes.Repeat([]byte{'x'}, 64)))}, code: TooLarge},
		{name: "push malformed data", cmd: Push{Session: "bob", Path: "/data/x", Data: []byte{0xc1}}, code: InvalidParameter},
		{name: "push without data", cmd: Push{Session: "bob", Path: "/data/x"}, code: InvalidParameter},
		{name: "push by unknown session", cmd: Push{Session: "nobody", Path: "/data/x", Data: []byte{0x01}}, code: SessionExpired},

		// Update.
		{name: "update", cmd: Update{Session: "alice", Path: "/data/x", Item: 3, Data: mp(t, "a1'")}, code: OK,
			check: func(t *testing.T, h *harness, result Result, events []Event) {
				updated := item(t, 3, 6, "alice", "a1'")
				require.Equal(t, updated, result.Item)
				require.Equal(t, uint64(6), result.Version)
				want := []Item{updated, item(t, 4, 4, "bob", "b1")}
				require.Equal(t, want, result.Items())
				require.Equal(t, []Event{{Path: "/data/x", Version: 6, Kind: EventUpdate, Item: updated}}, events)
				items, version := h.m.Read("/data/x")
				require.Equal(t, want, items)
				require.Equal(t, uint64(6), version)
			}},
		{name: "update with matching if_version", cmd: Update{Session: "alice", Path: "/data/x", Item: 3, Data: []byte{0x01}, IfVersion: u64(4)}, code: OK},
		{name: "update with stale if_version", cmd: Update{Session: "alice", Path: "/data/x", Item: 3, Data: []byte{0x01}, IfVersion: u64(3)}, code: Conflict},
		{name: "update another's item", cmd: Update{Session: "bob", Path: "/data/x", Item: 3, Data: []byte{0x01}}, code: Forbidden},
		{name: "update another's item with stale if_version", cmd: Update{Session: "bob", Path: "/data/x", Item: 3, Data: []byte{0x01}, IfVersion: u64(1)}, code: Forbidden},
		{name: "update missing item", cmd: Update{Session: "alice", Path: "/data/x", Item: 5, Data: []byte{0x01}}, code: NotFound},
		{name: "update in a list never written", cmd: Update{Session: "alice", Path: "/data/q", Item: 3, Data: []byte{0x01}}, code: NotFound},
		{name: "update by unknown session", cmd: Update{Session: "nobody", Path: "/data/x", Item: 3, Data: []byte{0x01}}, code: SessionExpired},
		{name: "update too large", cmd: Update{Session: "alice", Path: "/data/x", Item: 3, Data: mp(t, string(bytes.Repeat([]byte{'x'}, 64)))}, code: TooLarge},
		{name: "update malformed data", cmd: Update{Session: "alice", Path: "/data/x", Item: 3, Data: []byte{0xc4, 0x00}}, code: InvalidParameter},
		{name: "update at a bad path", cmd: Update{Session: "alice", Path: "/data/x/", Item: 3, Data: []byte{0x01}}, code: InvalidParameter},

		// Delete.
		{name: "delete", cmd: Delete{Session: "bob", Path: "/data/x", Item: 4}, code: OK,
			check: func(t *testing.T, h *harness, result Result, events []Event) {
				deleted := item(t, 4, 4, "bob", "b1")
				require.Equal(t, deleted, result.Item)
				require.Equal(t, uint64(6), result.Version)
				require.Equal(t, []Item{item(t, 3, 3, "alice", "a1")}, result.Items())
				require.Equal(t, []Event{{Path: "/data/x", Version: 6, Kind: EventDelete, Item: deleted}}, events)
				session, _ := h.m.Session("bob")
				require.Zero(t, session.Items)
			}},
		{name: "delete with matching if_version", cmd: Delete{Session: "alice", Path: "/data/y", Item: 5, IfVersion: u64(5)}, code: OK},
		{name: "delete with stale if_version", cmd: Delete{Session: "alice", Path: "/data/y", Item: 5, IfVersion: u64(4)}, code: Conflict},
		{name: "delete another's item", cmd: Delete{Session: "alice", Path: "/data/x", Item: 4}, code: Forbidden},
		{name: "delete missing item", cmd: Delete{Session: "alice", Path: "/data/y", Item: 3}, code: NotFound},
		{name: "delete by unknown session", cmd: Delete{Session: "nobody", Path: "/data/y", Item: 5}, code: SessionExpired},
		{name: "delete at a bad path", cmd: Delete{Session: "alice", Path: "/y", Item: 5}, code: InvalidParameter},

		// RenewAll.
		{name: "renew", cmd: RenewAll{Term: 3}, code: OK,
			check: func(t *testing.T, h *harness, result Result, events []Event) {
				require.Equal(t, uint64(6), h.m.LastRenewal())
				require.Equal(t, uint64(3), h.m.LastRenewalTerm())
			}},

		// Entries that are not commands.
		{name: "garbage", raw: []byte{commandFormat, byte(kindPush), 0xff}, code: InvalidParameter},
		{name: "unknown kind", raw: []byte{commandFormat, 0x7f}, code: Unsupported},
		{name: "unknown format", raw: []byte{0x7f, byte(kindPush)}, code: Unsupported},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			h := world(t)
			data := test.raw
			if data == nil {
				data = Encode(test.cmd)
			}
			result, events := h.m.Apply(6, data)
			require.Equal(t, test.code, result.Code, result.Message)
			require.Equal(t, uint64(6), h.m.AppliedIndex())
			require.NoError(t, h.m.CheckInvariants())
			if test.code != OK {
				require.NotEmpty(t, result.Message)
				require.Equal(t, test.code, CodeOf(result.Err()))
				require.Empty(t, events)
				require.Empty(t, result.Items())
				// A refused command changes nothing: the state equals that
				// of a twin that applied a Noop at the same index.
				twin := world(t)
				twin.m.Apply(6, Encode(Noop{}))
				require.Equal(t, twin.m.Snapshot(), h.m.Snapshot())
				return
			}
			require.NoError(t, result.Err())
			if test.check != nil {
				test.check(t, h, result, events)
			}
		})
	}
}

func TestWritesByAClosedSessionAreSessionExpired(t *testing.T) {
	h := world(t)
	h.ok(CloseSession{ID: "alice"})
	for _, cmd := range []Command{
		Push{Session: "alice", Path: "/data/x", Data: []byte{0x01}},
		Update{Session: "alice", Path: "/data/x", Item: 3, Data: []byte{0x01}},
		Delete{Session: "alice", Path: "/data/x", Item: 3},
		CloseSession{ID: "alice", Expired: true},
	} {
		result, events := h.apply(cmd)
		require.Equal(t, SessionExpired, result.Code, "%#v", cmd)
		require.Empty(t, events)
	}
}

func TestRenewAllRefusesAnOlderTerm(t *testing.T) {
	h := newHarness(t, Options{})
	h.ok(RenewAll{Term: 5})
	h.ok(RenewAll{Term: 5})
	result, _ := h.apply(RenewAll{Term: 4})
	require.Equal(t, Conflict, result.Code)
	require.Equal(t, uint64(2), h.m.LastRenewal())
	require.Equal(t, uint64(5), h.m.LastRenewalTerm())
}

func TestApplyPanicsWhenIndexesDoNotIncrease(t *testing.T) {
	h := world(t)
	require.Panics(t, func() { h.m.Apply(5, nil) })
	require.Panics(t, func() { h.m.Apply(0, nil) })
	// Gaps are fine: entries that are not commands never reach the machine.
	result, _ := h.m.Apply(100, nil)
	require.Equal(t, OK, result.Code)
	require.Equal(t, uint64(100), h.m.AppliedIndex())
}

func TestApplyAcceptsEntryBufferReuse(t *testing.T) {
	// The log may reuse the entry's buffer after Apply: nothing the machine
	// keeps may point into it.
	h := newHarness(t, Options{})
	h.open("s")
	buffer := Encode(Push{Session: "s", Path: "/data/a", Data: mp(t, "kept")})
	h.index++
	h.m.Apply(h.index, buffer)
	for i := range buffer {
		buffer[i] = 'Z'
	}
	items, _ := h.m.Read("/data/a")
	require.Equal(t, []Item{item(t, 2, 2, "s", "kept")}, items)
	require.Equal(t, []string{"/data/a"}, h.m.Paths())
	require.NoError(t, h.m.CheckInvariants())
}

func TestReturnedItemsAreCopiesAndSnapshots(t *testing.T) {
	h := world(t)
	pushed, _ := h.ok(Push{Session: "bob", Path: "/data/x", Data: mp(t, "b2")})
	before := pushed.Items()

	// Callers may modify what they get without touching the machine.
	read, _ := h.m.Read("/data/x")
	read[0].Owner = "mallory"
	read[0].Version = 99
	_ = append(read[:1], Item{Owner: "mallory"})
	fromResult := pushed.Items()
	fromResult[1].Data = "corrupt"
	require.NoError(t, h.m.CheckInvariants())
	require.Equal(t, before, pushed.Items())

	// A result keeps showing the list right after its own entry, whatever
	// is applied later: push (append), update and delete.
	h.ok(Push{Session: "alice", Path: "/data/x", Data: []byte{0x01}})
	h.ok(Update{Session: "alice", Path: "/data/x", Item: 3, Data: []byte{0x02}})
	h.ok(Delete{Session: "bob", Path: "/data/x", Item: 4})
	h.ok(CloseSession{ID: "alice"})
	require.Equal(t, before, pushed.Items())
}

func TestCloseSessionEventsAreSortedByPathThenVersion(t *testing.T) {
	h := newHarness(t, Options{})
	h.open("s")
	h.open("t")
	paths := []string{"/data/m", "/data/b", "/data/z", "/data/b", "/data/a/b", "/data/m"}
	for _, path := range paths {
		h.push("s", path, path)
		h.push("t", path, "other")
	}
	result, events := h.ok(CloseSession{ID: "s", Expired: true})
	require.Equal(t, len(paths), result.Session.Items)
	type key struct {
		path    string
		version uint64
	}
	var got []key
	for _, event := range events {
		require.Equal(t, EventDelete, event.Kind)
		require.Equal(t, h.index, event.Version)
		require.Equal(t, "s", event.Item.Owner)
		got = append(got, key{event.Path, event.Item.Version})
	}
	// s pushed at indexes 3, 5, 7, 9, 11, 13 (t at the even ones after).
	require.Equal(t, []key{{"/data/a/b", 11}, {"/data/b", 5}, {"/data/b", 9}, {"/data/m", 3}, {"/data/m", 13}, {"/data/z", 7}}, got)
	for _, path := range []string{"/data/m", "/data/b", "/data/z", "/data/a/b"} {
		items, version := h.m.Read(path)
		require.Equal(t, h.index, version)
		for _, it := range items {
			require.Equal(t, "t", it.Owner)
		}
	}
	require.Equal(t, Stats{Sessions: 1, Lists: 4, Items: 6, DataBytes: 6 * len(mp(t, "other"))}, h.m.Stats())
	require.NoError(t, h.m.CheckInvariants())
}

// Removes tells, before applying, how many items a session's close would
// remove (what Apply then removes), and 0 for every other command and for
// bytes that are no command.
func TestRemovesCountsWhatACloseWouldRemove(t *testing.T) {
	h := newHarness(t, Options{})
	h.open("s")
	h.open("t")
	for i := range 5 {
		h.push("s", fmt.Sprintf("/data/%d", i%3), i)
	}
	h.push("t", "/data/0", "other")
	closeS := Encode(CloseSession{ID: "s", Expired: true})
	require.Equal(t, 5, h.m.Removes(closeS))
	require.Equal(t, 1, h.m.Removes(Encode(CloseSession{ID: "t"})))
	require.Zero(t, h.m.Removes(Encode(CloseSession{ID: "nobody"})))
	require.Zero(t, h.m.Removes(Encode(Push{Session: "s", Path: "/data/0", Data: mp(t, 1)})))
	require.Zero(t, h.m.Removes(Encode(Delete{Session: "s", Path: "/data/0", Item: 3})))
	require.Zero(t, h.m.Removes(nil))
	require.Zero(t, h.m.Removes(closeS[:3]), "a truncated close")
	require.Zero(t, h.m.Removes([]byte{9, 9, 9}), "another format")
	_, events := h.ok(CloseSession{ID: "s", Expired: true})
	require.Len(t, events, 5)
	require.Zero(t, h.m.Removes(closeS), "the session has ended")
}

func TestReadOfUnwrittenPath(t *testing.T) {
	m := New(Options{})
	items, version := m.Read("/data/never")
	require.NotNil(t, items, "an empty list, not nil, so JSON shows []")
	require.Empty(t, items)
	require.Zero(t, version)
	items, version = m.Read("not a path")
	require.Empty(t, items)
	require.Zero(t, version)
	require.Equal(t, DefaultMaxItemBytes, m.MaxItemBytes())
}

func TestSessionsAreSortedByID(t *testing.T) {
	h := newHarness(t, Options{})
	for _, id := range []string{"m", "b", "z", "a"} {
		h.open(id)
	}
	var ids []string
	for _, s := range h.m.Sessions() {
		ids = append(ids, s.ID)
	}
	require.Equal(t, []string{"a", "b", "m", "z"}, ids)
}
