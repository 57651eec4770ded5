package nemesis

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/netproto/client"
)

// A small run as the recorder has it: session s1 (ttl 500 ms) opens at 1,
// pushes x at 2 and y at 3 on /data/a, and is expired at 4; an observer
// watches /data/a from version 0 (never written).
type smallRun struct {
	r   *recorder
	t0  time.Time
	obs *watchRec
	k   *known
	log []history.Entry
}

func newSmallRun(t *testing.T) *smallRun {
	t0 := time.Unix(1_000_000, 0)
	open := fsm.OpenSession{ID: "s1", TTLms: 500, TokenHash: [32]byte{1}}
	x := fsm.Push{Session: "s1", Path: "/data/a", Data: []byte(encodeData("x"))}
	y := fsm.Push{Session: "s1", Path: "/data/a", Data: []byte(encodeData("y"))}
	end := fsm.CloseSession{ID: "s1", Expired: true}
	l := newCommittedLog()
	l.merge("n1", []history.Entry{entry(1, 1, open), entry(2, 1, x), entry(3, 1, y), entry(4, 1, end)})
	k := l.apply(3)
	require.True(t, k.complete)
	s := &session{row: 0, id: "s1", ttl: 500 * time.Millisecond, start: t0, opened: t0.Add(10 * time.Millisecond), how: "abandon", pings: &pingLog{}}
	s.pings.add(client.Ping{Sent: t0.Add(100 * time.Millisecond), Answered: t0.Add(110 * time.Millisecond)})
	r := &recorder{t0: t0, sessions: []*session{s}}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	r.ops = []*op{
		{row: 0, in: linearizability.ListsInput{Op: linearizability.PushItem, Path: "/data/a", Session: "s1", Data: encodeData("x")},
			call: at(20), ret: at(30), out: &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: 2,
				Items: []linearizability.Item{{Version: 2, Owner: "s1", Data: encodeData("x")}}, HasItems: true}},
		// Its answer was lost: the log resolves it.
		{row: 0, in: linearizability.ListsInput{Op: linearizability.PushItem, Path: "/data/a", Session: "s1", Data: encodeData("y")},
			call: at(40), ret: at(50), unknown: true},
	}
	item := func(v uint64, data string) client.Item {
		return client.Item{Version: v, Modified: v, Owner: "s1", Data: []byte(encodeData(data))}
	}
	obs := &watchRec{row: -1, session: "obs", path: "/data/a", at: at(5), version: 0,
		events: []client.Event{
			{Path: "/data/a", Version: 2, Kind: client.KindPush, Item: item(2, "x")},
			{Path: "/data/a", Version: 3, Kind: client.KindPush, Item: item(3, "y")},
			{Path: "/data/a", Version: 4, Kind: client.KindDelete, Item: item(2, "x")},
			{Path: "/data/a", Version: 4, Kind: client.KindDelete, Item: item(3, "y")},
		},
		times: []time.Time{at(31), at(51), at(900), at(900)}}
	return &smallRun{r: r, t0: t0, obs: obs, k: k, log: l.prefix()}
}

func (run *smallRun) records() []history.Record {
	return buildRecords(run.r, recordInputs{observers: []*watchRec{run.obs, nil, nil}, log: run.log, k: run.k,
		pingExpiry: pingRecords(run.r, run.r.sessions[0]), decided: map[string]time.Time{}})
}

func (run *smallRun) ns(d time.Duration) int64 { return int64(d) }

func TestRecordsPassHistorysCheckers(t *testing.T) {
	run := newSmallRun(t)
	recs := run.records()
	require.NoError(t, history.CheckWatches(recs))
	require.NoError(t, history.CheckDeadSessions(recs, deadBounds, 0, run.ns(5*time.Second)))
	h, err := history.ListsHistory(recs)
	require.NoError(t, err)
	require.Len(t, h.Operations(), 3, "two pushes (one resolved from the log) and the expiry")
	lin, _ := linearizability.Check(linearizability.ListsModel, h.Operations(), 10*time.Second)
	require.Equal(t, linearizability.VerdictOk, lin.Verdict)
}

func TestRecordsOfAWrongDeliveryFailTheWatchChecker(t *testing.T) {
	run := newSmallRun(t)
	run.obs.events = append(run.obs.events[:1:1], run.obs.events[2:]...) // y's push never came
	run.obs.times = append(run.obs.times[:1:1], run.obs.times[2:]...)
	require.ErrorContains(t, history.CheckWatches(run.records()), "a gap")

	run = newSmallRun(t)
	run.obs.events[1].Item.Owner = "s2" // the change delivered is not the log's
	require.ErrorContains(t, history.CheckWatches(run.records()), "no change to the list in the committed log")
}

func TestRecordsOfALateDeadSessionFailTheSessionChecker(t *testing.T) {
	run := newSmallRun(t)
	// The observer heard of s1's end 9 s after its last ping: far past a
	// 500 ms ttl and the bound.
	run.obs.times[2], run.obs.times[3] = run.t0.Add(9*time.Second), run.t0.Add(9*time.Second)
	err := history.CheckDeadSessions(run.records(), deadBounds, 0, run.ns(10*time.Second))
	require.ErrorContains(t, err, "session s1")
	// From when the cluster was live again (liveFrom) it was in time.
	require.NoError(t, history.CheckDeadSessions(run.records(), deadBounds, run.ns(8*time.Second), run.ns(10*time.Second)))
}

func TestRecordsOfALostWriteFailTheListsHistory(t *testing.T) {
	run := newSmallRun(t)
	run.r.ops = append(run.r.ops, &op{row: 0,
		in:   linearizability.ListsInput{Op: linearizability.PushItem, Path: "/data/a", Session: "s1", Data: encodeData("lost")},
		call: run.t0.Add(60 * time.Millisecond), ret: run.t0.Add(70 * time.Millisecond),
		out: &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: 3}})
	_, err := history.ListsHistory(run.records())
	require.ErrorContains(t, err, "acknowledged write lost")
}

func TestRegistrationsAreCheckedAgainstTheLog(t *testing.T) {
	run := newSmallRun(t)
	x := client.Item{Version: 2, Modified: 2, Owner: "s1", Data: []byte(encodeData("x"))}
	good := &watchRec{row: 0, session: "s1", path: "/data/a", version: 2, items: []client.Item{x}}
	var v verdicts
	checkRegistrations(&v, run.log, []*watchRec{run.obs, good})
	require.Empty(t, v.failures)

	stale := &watchRec{row: 0, session: "s1", path: "/data/a", version: 3, items: []client.Item{x}} // y missing
	checkRegistrations(&v, run.log, []*watchRec{stale})
	require.Len(t, v.failures, 1)
	require.Contains(t, v.failures[0], "the committed log's list there has 2")
}

// A run whose dumps left a gap at index 3 (y's push): the log is known
// through 2 only, and the run has failed already (checkLog). The history
// checkers still run on what is there, and report what it shows.
func TestAnIncompleteLogIsStillChecked(t *testing.T) {
	partialRun := func(t *testing.T) *smallRun {
		run := newSmallRun(t)
		open := fsm.OpenSession{ID: "s1", TTLms: 500, TokenHash: [32]byte{1}}
		x := fsm.Push{Session: "s1", Path: "/data/a", Data: []byte(encodeData("x"))}
		end := fsm.CloseSession{ID: "s1", Expired: true}
		l := newCommittedLog()
		l.merge("n1", []history.Entry{entry(1, 1, open), entry(2, 1, x)})
		l.merge("n2", []history.Entry{entry(4, 1, end)})
		run.k, run.log = l.apply(3), l.prefix()
		require.False(t, run.k.complete)
		require.Equal(t, uint64(2), run.k.last)
		// y's answer came back this time: acknowledged at 3, the gap.
		y := run.r.ops[1]
		y.unknown, y.out = false, &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: 3,
			Items: []linearizability.Item{{Version: 2, Owner: "s1", Data: encodeData("x")}, {Version: 3, Owner: "s1", Data: encodeData("y")}}, HasItems: true}
		return run
	}
	check := func(run *smallRun) *verdicts {
		var v verdicts
		recs := buildRecords(run.r, recordInputs{observers: []*watchRec{run.obs, nil, nil}, log: run.log, k: run.k, partial: true,
			pingExpiry: pingRecords(run.r, run.r.sessions[0]), decided: map[string]time.Time{}})
		checkHistory(&v, recs, nil, run.t0, run.t0, run.t0.Add(5*time.Second), options{}, t.TempDir(), true)
		return &v
	}

	v := check(partialRun(t))
	require.Empty(t, v.failures, "what the prefix holds is right; y, past it, is not judged by the log, nor s1, whose end is not known")
	require.Contains(t, v.notes, "linearizable (porcupine, 3 operations)", "x, y and s1's end (unknown)")

	run := partialRun(t)
	run.obs.events[0].Item.Owner = "s2" // the change delivered is not the log's
	// A read after x was acknowledged that lacks it, at x's index.
	run.r.ops = append(run.r.ops, &op{row: 1, in: linearizability.ListsInput{Op: linearizability.ReadList, Path: "/data/a"},
		call: run.t0.Add(35 * time.Millisecond), ret: run.t0.Add(36 * time.Millisecond),
		out: &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: 2, Items: []linearizability.Item{}, HasItems: true}})
	v = check(run)
	require.Len(t, v.failures, 2, "%q", v.failures)
	require.Contains(t, v.failures[0], "no change to the list in the committed log")
	require.Contains(t, v.failures[1], "not linearizable")
}
