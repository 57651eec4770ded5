package nemesis

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability/history"
)

func entry(index, term uint64, cmd fsm.Command) history.Entry {
	return history.Entry{Index: index, Term: term, Data: fsm.Encode(cmd)}
}

func TestCommittedLogMergesDumpsAndFindsConflicts(t *testing.T) {
	open := fsm.OpenSession{ID: "s1", TTLms: 5000, TokenHash: [32]byte{1}}
	push := fsm.Push{Session: "s1", Path: "/data/a", Data: []byte(encodeData("x"))}
	end := fsm.CloseSession{ID: "s1", Expired: true}
	l := newCommittedLog()
	l.merge("n1", []history.Entry{entry(1, 1, open), entry(2, 1, push)})
	l.merge("n2", []history.Entry{entry(2, 1, push), entry(3, 2, end)}) // compacted head, longer tail
	require.Empty(t, l.conflicts)

	k := l.apply(2)
	require.True(t, k.complete)
	require.Equal(t, uint64(3), k.last)
	require.Equal(t, sessionEnd{index: 3, expired: true}, k.ends["s1"])
	require.False(t, l.apply(4).complete, "the log must reach the index the barrier was answered with")

	l.merge("n3", []history.Entry{entry(3, 3, fsm.Noop{})})
	require.Len(t, l.conflicts, 1, "two entries at one index break Log Matching")
	l.merge("n4", []history.Entry{entry(1, 1, open), entry(3, 2, end)})
	require.Len(t, l.conflicts, 2, "a dump with a hole")

	var v verdicts
	checkLog(&v, l, k, nil, nil, 2)
	require.Len(t, v.failures, 2, "%v", v.failures)
	require.Contains(t, v.failures[0], "log matching")
}

// The line havend's logExpiries writes (cmd/havend/expiry.go), as slog's
// text handler renders it.
func TestDecisionsAreReadFromTheNodesLogs(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "n1.log")
	line := `time=2026-12-02T06:26:29.247Z level=INFO msg="session expiry decided" node=n2 session=51f34326870d8b5f index=593 term=4 decided_at=2026-12-02T06:26:29.247106846Z reason="silent for its ttl"`
	require.NoError(t, os.WriteFile(log, []byte("other line\n"+line+"\n"), 0o644))
	got, err := readDecisions(&cluster{nodes: []*node{{id: "n1", log: log}}})
	require.NoError(t, err)
	at, _ := time.Parse(time.RFC3339Nano, "2026-12-02T06:26:29.247106846Z")
	require.Equal(t, []decision{{node: "n1", session: "51f34326870d8b5f", index: 593, term: 4, at: at}}, got)
}
