package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

func TestLeaderLogsTheExpiriesItProposed(t *testing.T) {
	var buf bytes.Buffer
	n := &node{log: slog.New(slog.NewTextHandler(&buf, nil))}
	expire := func(index, term uint64, id string) raft.Entry {
		return raft.Entry{Index: index, Term: term, Data: fsm.Encode(fsm.CloseSession{ID: id, Expired: true})}
	}
	closed := raft.Entry{Index: 2, Term: 3, Data: fsm.Encode(fsm.CloseSession{ID: "closed"})}

	n.soft, n.hs = raft.SoftState{State: raft.StateFollower}, raft.HardState{Term: 3}
	n.logExpiries([]raft.Entry{expire(1, 3, "follower")})
	require.Empty(t, buf.String(), "a follower's entries are the leader's decisions, not its own")

	n.soft = raft.SoftState{State: raft.StateLeader}
	n.logExpiries([]raft.Entry{expire(1, 3, "a"), closed})
	// The Ready that says it stepped down still carries its own proposals.
	n.soft, n.hs = raft.SoftState{State: raft.StateFollower}, raft.HardState{Term: 4}
	n.logExpiries([]raft.Entry{expire(3, 3, "b"), expire(4, 4, "new-leaders")})

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2, "%s", buf.String())
	require.Contains(t, lines[0], `msg="session expiry decided" session=a index=1 term=3 decided_at=`)
	require.Contains(t, lines[1], `session=b index=3 term=3`)
}
