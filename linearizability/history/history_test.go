package history

import (
	"bytes"
	"testing"
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/stretchr/testify/require"
)

func TestHistoryRoundTripsAsJSONLines(t *testing.T) {
	out := &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: 7}
	since := uint64(5)
	recs := []Record{
		{Entry: &Entry{Index: 7, Term: 2, Data: []byte{1, 2}}},
		{Op: &Op{Client: 1, Call: 10, Return: 20, Input: linearizability.ListsInput{Op: linearizability.PushItem, Path: "/data/a", Data: "x"}, Output: out}},
		// Raw MessagePack data need not be UTF-8: it reads back byte for byte.
		{Op: &Op{Client: 2, Call: 11, Return: 21, Input: linearizability.ListsInput{Op: linearizability.PushItem, Path: "/data/a", Data: "\xc4\x01\xff"},
			Output: &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: 8, HasItems: true,
				Items: []linearizability.Item{{Version: 8, Owner: "s2", Data: "\xc4\x01\xff"}, {Version: 9, Owner: "s2", Data: "\x92\xfe"}}}}},
		{Op: &Op{Client: 2, Call: 12, Return: -1, NotApplied: "nothing was applied", Input: linearizability.ListsInput{Op: linearizability.ReadList, Path: "/data/a"}}},
		{Ping: &Ping{Client: 1, Session: "s1", Sent: 30, Answer: "ok", At: 31}},
		{Expiry: &Expiry{Session: "s1", TTLms: 500, Index: 9, ProposedAt: 40}},
		{Watch: &Watch{Client: 1, Conn: 3, Session: "s1", Path: "/data/a", At: 41, Version: 7, Since: &since, Reset: true}},
		{Delivery: &Delivery{Client: 1, Conn: 3, Path: "/data/a", At: 42, Kind: "push", Version: 8, Item: 8, Owner: "s1", Modified: 8, Data: []byte{0xc4, 0xff, 0}}},
		{Watch: &Watch{Client: 1, Conn: 3, Path: "/data/a", At: 43, Stop: true}},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range recs {
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Flush())
	require.Equal(t, len(recs), bytes.Count(buf.Bytes(), []byte("\n")), "one record a line")
	got, err := Read(&buf)
	require.NoError(t, err)
	require.Equal(t, recs, got)
}

func TestCheckNoFalseExpiry(t *testing.T) {
	b := ExpiryBounds{Drift: 0.1, Tick: 10 * time.Millisecond}
	ms := func(v int64) int64 { return v * int64(time.Millisecond) }
	expiry := Record{Expiry: &Expiry{Session: "s1", TTLms: 1000, Index: 9, ProposedAt: ms(5000)}}
	// Slack: 100 ms of drift and 20 ms of ticks: pings after 4120 ms prove it false.
	quiet := []Record{{Ping: &Ping{Session: "s1", Sent: ms(4100), Answer: "ok"}}, expiry}
	require.NoError(t, CheckNoFalseExpiry(quiet, b), "silent for a ttl less the slack")
	refused := []Record{{Ping: &Ping{Session: "s1", Sent: ms(4800), Answer: "SessionExpired"}}, expiry}
	require.NoError(t, CheckNoFalseExpiry(refused, b), "only pings answered OK count")
	heard := []Record{{Ping: &Ping{Session: "s1", Sent: ms(4500), Answer: "ok"}}, expiry}
	require.ErrorContains(t, CheckNoFalseExpiry(heard, b), "false expiry: session s1")
}
