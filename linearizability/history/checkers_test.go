package history

import (
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
	"github.com/stretchr/testify/require"
)

// A small committed log: session s1 opens at 1 and pushes x1, x2 to /data/a,
// y to /data/b and x3 to /data/a; entry i commits at 10·i.
func testLog() []Record {
	cmds := []fsm.Command{
		fsm.OpenSession{ID: "s1", TokenHash: [32]byte{1}, TTLms: 1000},
		fsm.Push{Session: "s1", Path: "/data/a", Data: msgStr("x1")},
		fsm.Push{Session: "s1", Path: "/data/a", Data: msgStr("x2")},
		fsm.Push{Session: "s1", Path: "/data/b", Data: msgStr("y")},
		fsm.Push{Session: "s1", Path: "/data/a", Data: msgStr("x3")},
	}
	var recs []Record
	for i, c := range cmds {
		recs = append(recs, Record{Entry: &Entry{Index: uint64(i + 1), Term: 1, Data: fsm.Encode(c), At: 10 * int64(i+1)}})
	}
	return recs
}

// msgStr is s as a MessagePack string (fixstr), an item's data.
func msgStr(s string) []byte { return append([]byte{0xa0 | byte(len(s))}, s...) }

// push is the delivery of the push to /data/a at index v (item v).
func push(conn uint64, v uint64, data string, at int64) Record {
	return Record{Delivery: &Delivery{Client: 1, Conn: conn, Path: "/data/a", At: at, Kind: "push", Version: v, Item: v,
		Owner: "s1", Modified: v, Data: msgStr(data)}}
}

func watchA(conn uint64, version uint64, at int64) Record {
	return Record{Watch: &Watch{Client: 1, Conn: conn, Session: "s1", Path: "/data/a", At: at, Version: version}}
}

func with(recs ...Record) []Record { return append(testLog(), recs...) }

func TestCheckWatchesPassesTheCommittedStream(t *testing.T) {
	require.NoError(t, CheckWatches(with(watchA(1, 0, 15), push(1, 2, "x1", 20), push(1, 3, "x2", 30), push(1, 5, "x3", 50))))
	// Registered after entry 2 (version 2): the stream starts at 3.
	require.NoError(t, CheckWatches(with(watchA(1, 2, 25), push(1, 3, "x2", 30), push(1, 5, "x3", 50))))
	// A recorder that keeps the item's version only.
	bare := push(1, 5, "", 50)
	bare.Delivery.Owner, bare.Delivery.Modified, bare.Delivery.Data = "", 0, nil
	require.NoError(t, CheckWatches(with(watchA(1, 3, 35), bare)))
}

func TestCheckWatchesResumesAfterSince(t *testing.T) {
	since := uint64(2)
	resume := Record{Watch: &Watch{Client: 1, Conn: 2, Session: "s1", Path: "/data/a", At: 60, Version: 5, Since: &since}}
	stop := Record{Watch: &Watch{Client: 1, Conn: 1, Path: "/data/a", At: 40, Stop: true}}
	require.NoError(t, CheckWatches(with(watchA(1, 0, 15), push(1, 2, "x1", 20), stop, resume, push(2, 3, "x2", 60), push(2, 5, "x3", 60))))
	require.ErrorContains(t, CheckWatches(with(watchA(1, 0, 15), push(1, 2, "x1", 20), stop, resume, push(2, 5, "x3", 60))),
		"a gap: it skipped push of item 3", "the resumed stream skips the event after since")
	reset := *resume.Watch
	reset.Reset = true
	require.NoError(t, CheckWatches(with(watchA(1, 0, 15), push(1, 2, "x1", 20), stop, Record{Watch: &reset})),
		"reset: the stream starts after the answer's version")
	require.ErrorContains(t, CheckWatches(with(watchA(1, 0, 15), push(1, 2, "x1", 20), stop, Record{Watch: &reset}, push(2, 3, "x2", 60))),
		"a duplicate or out-of-order event")
	require.ErrorContains(t, CheckWatches(with(watchA(1, 0, 15), stop, push(1, 2, "x1", 20))),
		"which that connection does not watch", "an event after the watch stopped")
}

// PROTOCOL.md, Watches: a node answers a watch with since only once it
// has applied through since, so the list it answers with is no older than
// the list at since, reset or not.
func TestCheckWatchesFailsAnAnswerOlderThanSince(t *testing.T) {
	since := uint64(3) // /data/a changed at 2, 3 and 5
	for _, tc := range []struct {
		version uint64
		reset   bool
		ok      bool
	}{
		{3, false, true}, {4, false, true}, {5, true, true},
		{2, false, false}, {2, true, false}, {0, false, false},
	} {
		w := Record{Watch: &Watch{Client: 1, Conn: 2, Session: "s1", Path: "/data/a", At: 60, Version: tc.version, Since: &since, Reset: tc.reset}}
		recs := with(w)
		if !tc.reset {
			recs = append(recs, push(2, 5, "x3", 60))
		}
		err := CheckWatches(recs)
		if tc.ok {
			require.NoError(t, err, "answered at version %d", tc.version)
			continue
		}
		require.ErrorContains(t, err, "older than the list at since (changed last at 3", "answered at version %d", tc.version)
	}
	// since 4 is no change of /data/a: the list at 4 is the list at 3.
	four := uint64(4)
	require.NoError(t, CheckWatches(with(Record{Watch: &Watch{Client: 1, Conn: 2, Path: "/data/a", Version: 3, Since: &four}}, push(2, 5, "x3", 60))))
	require.Error(t, CheckWatches(with(Record{Watch: &Watch{Client: 1, Conn: 2, Path: "/data/a", Version: 2, Since: &four}})))
}

func TestCheckWatchesFailsBadStreams(t *testing.T) {
	for _, tc := range []struct {
		name string
		recs []Record
		want string
	}{
		{"skipped", with(watchA(1, 0, 15), push(1, 2, "x1", 20), push(1, 5, "x3", 50)),
			"got push of item 5 (owner s1, modified 5) at 5, a gap: it skipped push of item 3"},
		{"duplicated", with(watchA(1, 0, 15), push(1, 2, "x1", 20), push(1, 2, "x1", 21)),
			"a duplicate or out-of-order event, where it expected push of item 3"},
		{"out of order", with(watchA(1, 0, 15), push(1, 3, "x2", 30), push(1, 2, "x1", 30)),
			"a gap: it skipped push of item 2"},
		{"out of order, later", with(watchA(1, 0, 15), push(1, 2, "x1", 20), push(1, 5, "x3", 50), push(1, 3, "x2", 50)),
			"a gap: it skipped push of item 3"},
		{"not in the log", with(watchA(1, 0, 15), push(1, 4, "y", 40)),
			"an event that is no change to the list in the committed log"},
		{"wrong data", with(watchA(1, 0, 15), push(1, 2, "zz", 20)),
			"an event that is no change to the list in the committed log"},
		{"before commit", with(watchA(1, 0, 15), push(1, 2, "x1", 19)),
			"before the entry committed (at 20)"},
		{"beyond the log", with(watchA(1, 0, 15), push(1, 7, "x9", 90)),
			"the log is committed only through 5"},
		{"other connection", with(watchA(1, 0, 15), push(2, 2, "x1", 20)),
			"on connection 2 for /data/a, which that connection does not watch"},
		{"never delivered", with(watchA(1, 0, 15), push(1, 2, "x1", 20), push(1, 3, "x2", 30)),
			"never got push of item 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, CheckWatches(tc.recs), tc.want)
		})
	}
}

func TestCheckWatchesOwesNothingPastTheSessionEnd(t *testing.T) {
	end := Record{Entry: &Entry{Index: 6, Term: 1, Data: fsm.Encode(fsm.CloseSession{ID: "s1", Expired: true}), At: 60}}
	// The session's end deletes its items at 6; its own watch is owed the
	// changes before 6 only.
	require.NoError(t, CheckWatches(with(end, watchA(1, 0, 15), push(1, 2, "x1", 20), push(1, 3, "x2", 30), push(1, 5, "x3", 50))))
	other := watchA(1, 0, 15)
	other.Watch.Session = "s2"
	require.ErrorContains(t, CheckWatches(with(end, other, push(1, 2, "x1", 20), push(1, 3, "x2", 30), push(1, 5, "x3", 50))),
		"never got delete of item 2", "another session's watch is owed the deletions")
}

func TestCheckDeadSessions(t *testing.T) {
	b := DeadSessionBounds{Drift: 0.1, Tick: 10 * time.Millisecond, Commit: 300 * time.Millisecond, Delay: 100 * time.Millisecond}
	// (1000 + 30 ms)·1.1 + 300 + 100 ms.
	require.Equal(t, 1533*time.Millisecond, b.Bound(time.Second))
	ms := func(v int64) int64 { return v * int64(time.Millisecond) }
	sess := func(endedAt int64) Record {
		s := &Session{ID: "s1", Client: 1, TTLms: 1000, Opened: 1, OpenedAt: ms(1000)}
		if endedAt > 0 {
			s.Ended, s.Expired, s.EndedAt = 9, true, endedAt
		}
		return Record{Session: s}
	}
	ping := Record{Ping: &Ping{Client: 1, Session: "s1", Sent: ms(2000), Answer: "ok"}}
	require.NoError(t, CheckDeadSessions([]Record{sess(ms(3500)), ping}, b, 0, ms(9000)))
	require.ErrorContains(t, CheckDeadSessions([]Record{sess(ms(3600)), ping}, b, 0, ms(9000)),
		"session checker: session s1 (ttl 1s) is still alive 1.6s after nothing kept it alive (at 2s); dead sessions must end within 1.533s")
	require.ErrorContains(t, CheckDeadSessions([]Record{sess(0), ping}, b, 0, ms(9000)), "still alive 7s", "never ended")
	require.NoError(t, CheckDeadSessions([]Record{sess(0), ping}, b, ms(7500), ms(9000)), "the cluster was not live before 7.5 s")
	op := Record{Op: &Op{Client: 1, Call: ms(3000), Return: ms(3001), Input: linearizability.ListsInput{Op: linearizability.PushItem, Path: "/data/a", Session: "s1"}}}
	require.NoError(t, CheckDeadSessions([]Record{sess(ms(4500)), ping, op}, b, 0, ms(9000)), "an operation keeps it alive")
}

func lin(t *testing.T, h *linearizability.History) linearizability.Verdict {
	res, err := linearizability.Check(linearizability.ListsModel, h.Operations(), time.Minute)
	require.NoError(t, err)
	return res.Verdict
}

func pushOp(call, ret int64, data string, out *linearizability.ListsOutput) Record {
	return Record{Op: &Op{Client: 0, Call: call, Return: ret, Output: out,
		Input: linearizability.ListsInput{Op: linearizability.PushItem, Path: "/data/a", Session: "s1", Data: string(msgStr(data))}}}
}

func readOp(call, ret int64, version uint64, items ...uint64) Record {
	out := &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: version, Items: []linearizability.Item{}}
	for _, v := range items {
		out.Items = append(out.Items, linearizability.Item{Version: v, Owner: "s1", Data: string(msgStr(map[uint64]string{2: "x1", 3: "x2", 5: "x3"}[v]))})
	}
	return Record{Op: &Op{Client: 1, Call: call, Return: ret, Output: out, Input: linearizability.ListsInput{Op: linearizability.ReadList, Path: "/data/a"}}}
}

func ok(v uint64) *linearizability.ListsOutput {
	return &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: v}
}

func TestListsHistoryResolvesFromTheLog(t *testing.T) {
	// x1 answered; x2's outcome never came back and the log has it at 3,
	// as the read shows; x3 too, and nothing read it.
	recs := with(pushOp(11, 21, "x1", ok(2)), pushOp(22, -1, "x2", nil), pushOp(40, -1, "x3", nil), readOp(32, 35, 3, 2, 3))
	h, err := ListsHistory(recs)
	require.NoError(t, err)
	require.Equal(t, 4, h.Len())
	require.Equal(t, linearizability.VerdictOk, lin(t, h))
	// A read that shows x2 before its push began is not linearizable.
	recs = with(pushOp(11, 21, "x1", ok(2)), pushOp(22, -1, "x2", nil), readOp(12, 15, 3, 2, 3))
	h, err = ListsHistory(recs)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictIllegal, lin(t, h))
	// A read without an answer is dropped; a write the log never had too.
	recs = with(pushOp(11, 21, "x1", ok(2)), pushOp(60, -1, "x9", nil), Record{Op: &Op{Call: 5, Return: -1, Input: linearizability.ListsInput{Op: linearizability.ReadList, Path: "/data/a"}}})
	h, err = ListsHistory(recs)
	require.NoError(t, err)
	require.Equal(t, 1, h.Len())
}

func TestListsHistoryAddsExpiries(t *testing.T) {
	end := Record{Entry: &Entry{Index: 6, Term: 1, Data: fsm.Encode(fsm.CloseSession{ID: "s1", Expired: true}), At: 60}}
	expiry := Record{Expiry: &Expiry{Session: "s1", TTLms: 1000, Index: 6, ProposedAt: 55}}
	recs := with(end, expiry, pushOp(11, 21, "x1", ok(2)), readOp(70, 75, 6))
	h, err := ListsHistory(recs)
	require.NoError(t, err)
	require.Equal(t, 3, h.Len(), "the expiry is an EndSession")
	require.Equal(t, linearizability.VerdictOk, lin(t, h))
	// Read before the expiry was proposed, the list cannot be empty yet.
	recs = with(end, expiry, pushOp(11, 21, "x1", ok(2)), readOp(50, 52, 6))
	h, err = ListsHistory(recs)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictIllegal, lin(t, h))
}

func TestListsHistoryFailsAnswersTheLogBelies(t *testing.T) {
	dupLog := append(testLog(), Record{Entry: &Entry{Index: 6, Term: 2, Data: fsm.Encode(fsm.Push{Session: "s1", Path: "/data/a", Data: msgStr("x1")})}})
	notApplied := pushOp(22, -1, "x2", nil)
	notApplied.Op.NotApplied = "nothing was applied"
	for _, tc := range []struct {
		name string
		recs []Record
		want string
	}{
		{"lost", with(pushOp(11, 21, "x9", ok(7))), "acknowledged write lost: client 0's push /data/a session s1 item 0 was answered OK at 21ns, but the committed log does not have it"},
		{"moved", with(pushOp(11, 21, "x1", ok(4))), "was acknowledged at index 4, but the log has it at 2"},
		{"failure the log lacks", with(pushOp(11, 21, "x9", &linearizability.ListsOutput{Code: linearizability.CodeConflict})), "an answer only applying its entry gives"},
		{"other failure", with(pushOp(11, 21, "x1", &linearizability.ListsOutput{Code: linearizability.CodeConflict})), "its entry 2 in the log says OK"},
		{"committed twice", append(dupLog, pushOp(11, 21, "x1", ok(2)).Op.record()), "committed twice (again at 6)"},
		{"not applied", with(notApplied), "was answered Unavailable (nothing was applied), but the log has it at 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ListsHistory(tc.recs)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func (o *Op) record() Record { return Record{Op: o} }

// readA is a read of /data/a answered at version with the items named by
// their version and data.
func readA(call, ret int64, version uint64, items map[uint64]string) Record {
	out := &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: version, Items: []linearizability.Item{}}
	for _, v := range slices.Sorted(maps.Keys(items)) {
		out.Items = append(out.Items, linearizability.Item{Version: v, Owner: "s1", Data: string(msgStr(items[v]))})
	}
	return Record{Op: &Op{Client: 1, Call: call, Return: ret, Output: out, Input: linearizability.ListsInput{Op: linearizability.ReadList, Path: "/data/a"}}}
}

// The committed log known only through 5 (testLog) while the cluster went
// on: what the prefix holds is judged as ListsHistory judges it, the rest
// by the clients' answers alone.
func TestListsHistoryOfPrefixJudgesWhatThePrefixHolds(t *testing.T) {
	all := map[uint64]string{2: "x1", 3: "x2", 5: "x3"}
	plus := func(v uint64, data string) map[uint64]string {
		m := maps.Clone(all)
		m[v] = data
		return m
	}
	// The log's own pushes to /data/a, acknowledged.
	with := func(recs ...Record) []Record {
		return with(append([]Record{pushOp(1, 2, "x1", ok(2)), pushOp(3, 4, "x2", ok(3)), pushOp(5, 6, "x3", ok(5))}, recs...)...)
	}
	x9 := pushOp(60, 70, "x9", ok(7)) // acknowledged past the prefix

	recs := with(x9, readA(80, 85, 7, plus(7, "x9")))
	_, err := ListsHistory(recs)
	require.ErrorContains(t, err, "acknowledged write lost", "the whole log must have it")
	h, err := ListsHistoryOfPrefix(recs)
	require.NoError(t, err, "past the prefix: not judged against the log")
	require.Equal(t, linearizability.VerdictOk, lin(t, h))
	// The answer still binds: a read after it returned must show x9.
	h, err = ListsHistoryOfPrefix(with(x9, readA(80, 85, 7, all)))
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictIllegal, lin(t, h))

	// Within the prefix the log is the truth: acknowledged at 4, where
	// the log has y, it is lost.
	_, err = ListsHistoryOfPrefix(with(pushOp(11, 21, "x9", ok(4))))
	require.ErrorContains(t, err, "acknowledged write lost: client 0's push /data/a session s1 item 0 was acknowledged at index 4, which the committed log holds through 5, but it does not have it")

	// A write whose outcome never came back and which the prefix lacks may
	// have committed after it: unknown, not dropped.
	recs = with(pushOp(60, -1, "x9", nil), readA(80, 85, 7, plus(7, "x9")))
	h, err = ListsHistory(recs)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictIllegal, lin(t, h), "dropped: the whole log says it never committed")
	h, err = ListsHistoryOfPrefix(recs)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictOk, lin(t, h))

	// s1 ends past the prefix (no entry, no expiry record): its items may
	// vanish.
	recs = with(readA(90, 95, 6, nil))
	h, err = ListsHistory(recs)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictIllegal, lin(t, h), "the whole log never ends s1")
	h, err = ListsHistoryOfPrefix(recs)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictOk, lin(t, h))

	// A close answered OK that the prefix lacks: its index is unknown, so
	// it is checked as an unknown end.
	closed := Record{Op: &Op{Client: 0, Call: 50, Return: 55, Output: ok(0),
		Input: linearizability.ListsInput{Op: linearizability.EndSession, Session: "s1"}}}
	_, err = ListsHistory(with(closed))
	require.ErrorContains(t, err, "acknowledged write lost")
	h, err = ListsHistoryOfPrefix(with(closed, readA(60, 65, 8, nil)))
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictOk, lin(t, h))
}

// An operation resolved from the log returns, in the history porcupine
// checks, when a later entry's acknowledgment shows its entry committed,
// not at the end of time: a read invoked after that must show it.
func TestListsHistoryBoundsResolvedOperationsByLaterAcks(t *testing.T) {
	y := Record{Op: &Op{Client: 2, Call: 23, Return: 30, Output: ok(4),
		Input: linearizability.ListsInput{Op: linearizability.PushItem, Path: "/data/b", Session: "s1", Data: string(msgStr("y"))}}}
	// x2 (index 3) never came back; y at 4 was acknowledged at 30, so x2
	// had committed by 30. x3 (index 5) has no later acknowledgment.
	recs := with(pushOp(11, 21, "x1", ok(2)), pushOp(22, -1, "x2", nil), y, pushOp(41, -1, "x3", nil))
	h, err := ListsHistory(recs)
	require.NoError(t, err)
	returns := map[string]int64{}
	for _, op := range h.Operations() {
		returns[op.Input.(linearizability.ListsInput).Data] = op.Return
	}
	require.Equal(t, int64(30), returns[string(msgStr("x2"))])
	require.Equal(t, int64(math.MaxInt64), returns[string(msgStr("x3"))])
	require.Equal(t, linearizability.VerdictOk, lin(t, h))

	// A read of /data/a invoked at 35 that lacks x2 is stale: x2 had
	// committed by 30. Without the bound porcupine could place x2 after
	// the read, and the history passed.
	stale := readOp(35, 38, 2, 2)
	h, err = ListsHistory(append(recs, stale))
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictIllegal, lin(t, h))
	unbounded := h.Operations()
	for i := range unbounded {
		if unbounded[i].Input.(linearizability.ListsInput).Data == string(msgStr("x2")) {
			unbounded[i].Return = math.MaxInt64
		}
	}
	res, err := linearizability.Check(linearizability.ListsModel, unbounded, time.Minute)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictOk, res.Verdict, "the same history with x2 pending to the end")
	// Read before y's acknowledgment came back, the same answer is fine.
	h, err = ListsHistory(append(recs, readOp(24, 26, 2, 2)))
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictOk, lin(t, h))
}

// EventShape holds the state machine's changes to what PROTOCOL.md says of
// an item's version and modified, and the fsm's changes pass it.
func TestEventShape(t *testing.T) {
	item := func(version, modified uint64) fsm.Item {
		return fsm.Item{Version: version, Modified: modified, Owner: "s1", Data: "x"}
	}
	ev := func(kind fsm.EventKind, at uint64, it fsm.Item) *fsm.Event {
		return &fsm.Event{Path: "/data/a", Version: at, Kind: kind, Item: it}
	}
	for _, e := range []*fsm.Event{ev(fsm.EventPush, 7, item(7, 7)), ev(fsm.EventUpdate, 9, item(7, 9)),
		ev(fsm.EventDelete, 9, item(7, 7)), ev(fsm.EventDelete, 12, item(7, 9))} {
		require.NoError(t, EventShape(e.Version, e))
	}
	for _, e := range []*fsm.Event{
		ev(fsm.EventPush, 7, item(6, 6)),   // created elsewhere
		ev(fsm.EventPush, 7, item(7, 0)),   // modified unset
		ev(fsm.EventUpdate, 9, item(7, 7)), // modified kept from before
		ev(fsm.EventUpdate, 9, item(9, 9)), // created by its own update
		ev(fsm.EventDelete, 9, item(7, 9)), // modified by its own delete
		ev(fsm.EventDelete, 9, item(8, 7)), // modified before it was created
		ev("rename", 9, item(7, 7)),
	} {
		require.Error(t, EventShape(e.Version, e), "%+v", e)
	}
	require.Error(t, EventShape(8, ev(fsm.EventPush, 7, item(7, 7))), "at another index")

	m := fsm.New(fsm.Options{})
	changes := 0
	for i, c := range []fsm.Command{
		fsm.OpenSession{ID: "s1", TokenHash: [32]byte{1}, TTLms: 1000},
		fsm.Push{Session: "s1", Path: "/data/a", Data: msgStr("x")},
		fsm.Update{Session: "s1", Path: "/data/a", Item: 2, Data: msgStr("y")},
		fsm.Update{Session: "s1", Path: "/data/a", Item: 2, Data: msgStr("z")},
		fsm.Delete{Session: "s1", Path: "/data/a", Item: 2},
		fsm.Push{Session: "s1", Path: "/data/a", Data: msgStr("w")},
		fsm.CloseSession{ID: "s1"},
	} {
		_, events := m.Apply(uint64(i+1), fsm.Encode(c))
		for j := range events {
			require.NoError(t, EventShape(uint64(i+1), &events[j]))
		}
		changes += len(events)
	}
	require.Equal(t, 6, changes, "push, two updates, delete, push, and the close's delete")
}
