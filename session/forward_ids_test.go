package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/fsm"
)

// A follower numbers the writes it forwards to the leader and matches the
// leader's answers by number. After the follower restarts, an answer meant
// for its previous incarnation — held up in the network, or by a leader
// that was paused — must not be taken for one of the new incarnation's
// forwards: the write would be answered with another entry's result, or,
// if the stale answer says "not the leader", proposed a second time. Found
// by the simulator (sessions workload, swarm faults, seeds 1422 and 1472):
// a push acknowledged at another push's index.
func TestStaleForwardReplyAfterRestartIsIgnored(t *testing.T) {
	// Each start of a node draws from a fresh random source, as crypto/rand
	// would be.
	starts := uint64(1000)
	tc := newTestCluster(t, 3, func(c *Config) { starts++; c.Rand = newPCG(starts) })
	l := tc.leader()
	f := tc.follower()
	tc.connect(f, 1, 60000)

	// The follower forwards a push; the leader commits it, but its answer
	// to the follower is held back.
	tc.nodes[f].core.Submit(Request{Conn: 1, ID: 500, Op: OpCreate, Path: "/data/x", Data: mustPack("first")})
	tc.process()
	var held []PeerMessage
	for range 50 {
		msgs := tc.queue
		tc.queue = nil
		for _, m := range msgs {
			if m.ForwardReply != nil && m.To == f {
				held = append(held, m)
				continue
			}
			if tc.nodes[m.To].down {
				continue
			}
			require.NoError(t, tc.nodes[m.To].core.Step(m))
		}
		tc.process()
		if len(tc.queue) == 0 {
			break
		}
	}
	require.Len(t, held, 1)
	first, _ := tc.nodes[l].core.Machine().Read("/data/x")
	require.Len(t, first, 1, "the first push committed")

	// The follower restarts, a new client connects to it and pushes.
	tc.nodes[f].down = true
	tc.start(f, tc.nodes[f].disk)
	tc.tick(3)
	hello := tc.connect(f, 2, 60000)
	tc.nodes[f].core.Submit(Request{Conn: 2, ID: 501, Op: OpCreate, Path: "/data/x", Data: mustPack("second")})
	tc.process()
	// The old answer arrives before the new one.
	require.NoError(t, tc.nodes[f].core.Step(held[0]))
	r := tc.do(f, Request{Conn: 2, Op: OpRead, Path: "/data/x"})
	require.Equal(t, fsm.OK, r.Code)
	var answer *Reply
	for i := range tc.nodes[f].replies[2] {
		if tc.nodes[f].replies[2][i].ID == 501 {
			answer = &tc.nodes[f].replies[2][i]
		}
	}
	require.NotNil(t, answer, "the second push is answered")
	require.Equal(t, fsm.OK, answer.Code, answer.Message)
	require.Equal(t, hello.Session, answer.Item.Owner, "answered with its own entry")
	require.Equal(t, string(mustPack("second")), answer.Item.Data)
	require.Len(t, r.Items, 2, "each push is in the log once")
}

// TestDuplicateForwardIsProposedOnce: a Forward delivered twice to the
// leader is answered twice with the same place in the log and proposed
// once, so one client request never becomes two entries.
func TestDuplicateForwardIsProposedOnce(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	hello := tc.connect(f, 1, 60000)
	cmd := fsm.Encode(fsm.Push{Session: hello.Session, Path: "/data/dup", Data: mustPack("x")})
	fwd := PeerMessage{Group: 1, From: f, To: l, Forward: &Forward{ID: 777, Term: tc.nodes[l].core.Raft().Term(), Command: cmd}}
	require.NoError(t, tc.nodes[l].core.Step(fwd))
	require.NoError(t, tc.nodes[l].core.Step(fwd))
	var replies []ForwardReply
	for _, m := range tc.nodes[l].core.Ready().Messages {
		if m.ForwardReply != nil {
			replies = append(replies, *m.ForwardReply)
		}
	}
	tc.nodes[l].core.Advance()
	require.Len(t, replies, 2)
	require.Equal(t, replies[0], replies[1])
	require.Equal(t, fsm.OK, replies[0].Code)
	tc.tick(3)
	items, _ := tc.nodes[l].core.Machine().Read("/data/dup")
	require.Len(t, items, 1, "proposed once")
}

// A Forward held back in the network and delivered to a leader of another
// term (or to the same server after it restarted and was elected again)
// is not proposed: the leader that got it first may have proposed it
// already, and a new leader's memory of answered forwards starts empty.
// It is not answered either: "Unavailable" would tell the follower that
// nothing was proposed, and it would send the write again. The follower
// answers "may have been applied" once a newer term's entry applies
// (settleOlderTerms), or at its timeout: outcomes the contract allows.
func TestForwardFromAnotherTermIsNotProposed(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	hello := tc.connect(f, 1, 60000)
	term := tc.nodes[l].core.Raft().Term()
	for _, stale := range []uint64{term - 1, term + 1} {
		cmd := fsm.Encode(fsm.Push{Session: hello.Session, Path: "/data/late", Data: mustPack("x")})
		fwd := PeerMessage{Group: 1, From: f, To: l, Forward: &Forward{ID: 900 + stale, Term: stale, Command: cmd}}
		require.NoError(t, tc.nodes[l].core.Step(fwd))
		for _, m := range tc.nodes[l].core.Ready().Messages {
			require.Nil(t, m.ForwardReply, "a forward of term %d (the leader's is %d) was answered", stale, term)
		}
		tc.nodes[l].core.Advance()
	}
	tc.tick(3)
	items, _ := tc.nodes[l].core.Machine().Read("/data/late")
	require.Empty(t, items, "a forward addressed to another term's leader was proposed")
}

// A leader that restarts comes back as a follower of the same term, and
// its memory of answered forwards is gone. A copy of a forward it had
// proposed before the crash (the network repeated it, or held it up) then
// arrives addressed to the right term. "Unavailable: not the leader" would
// tell the follower that nothing was proposed, and the follower would send
// the write again to the next leader: one client request committed twice.
// A server cannot tell what its previous incarnation proposed in the term
// it restarted in, so it neither proposes nor answers a forward of that
// term; the follower answers "may have been applied" once a newer term's
// entry applies, or at its timeout. Found by the simulator (sessions
// workload, heavy faults with hold-back, seed 76): a push committed twice.
func TestForwardRepeatedToARestartedLeaderIsNotAnswered(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	l := tc.leader()
	f := tc.follower()
	tc.connect(f, 1, 60000)
	term := tc.nodes[l].core.Raft().Term()

	// The follower forwards a push; the leader proposes and commits it,
	// but its answer is lost, and the network keeps a copy of the
	// forward.
	tc.nodes[f].core.Submit(Request{Conn: 1, ID: 500, Op: OpCreate, Path: "/data/x", Data: mustPack("once")})
	tc.process()
	var copied []PeerMessage
	for range 50 {
		msgs := tc.queue
		tc.queue = nil
		for _, m := range msgs {
			if m.Forward != nil {
				copied = append(copied, m)
			}
			if (m.ForwardReply != nil && m.To == f) || tc.nodes[m.To].down {
				continue
			}
			require.NoError(t, tc.nodes[m.To].core.Step(m))
		}
		tc.process()
		if len(tc.queue) == 0 {
			break
		}
	}
	require.Len(t, copied, 1)
	require.Equal(t, term, copied[0].Forward.Term)
	items, _ := tc.nodes[l].core.Machine().Read("/data/x")
	require.Len(t, items, 1, "the push committed")

	// The leader restarts, a follower of the same term; the copy arrives.
	tc.start(l, tc.nodes[l].disk)
	require.Equal(t, term, tc.nodes[l].core.Raft().Term())
	require.NoError(t, tc.nodes[l].core.Step(copied[0]))
	tc.process()
	for _, m := range tc.queue {
		require.Nil(t, m.ForwardReply, "the restarted server answered a forward of the term it restarted in: %+v", m.ForwardReply)
	}

	// The cluster goes on; the follower's write is answered once, and the
	// push is in the log once.
	var answer *Reply
	for range 800 {
		tc.tick(1)
		for i, r := range tc.nodes[f].replies[1] {
			if r.ID == 500 {
				answer = &tc.nodes[f].replies[1][i]
			}
		}
		if answer != nil {
			break
		}
	}
	require.NotNil(t, answer, "the push is answered")
	require.Equal(t, fsm.Unavailable, answer.Code, "its outcome is unknown to the follower: %s", answer.Message)
	r := tc.do(f, Request{Conn: 1, Op: OpRead, Path: "/data/x"})
	require.Equal(t, fsm.OK, r.Code, r.Message)
	require.Len(t, r.Items, 1, "the push is in the log once")
}
