package raft

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Paper tests for leadership transfer (thesis §3.10).

// TestTransferLeadership checks the whole transfer over the network: "The
// prior leader sends a TimeoutNow request to the target server. This
// request has the same effect as the target server's election timer firing:
// the target server starts a new election (incrementing its term and
// becoming a candidate)." It works with CheckQuorum's lease and PreVote on,
// because the target's vote requests are marked as a transfer.
// Reference: §3.10
func TestTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	l := c.leader()
	target := c.others(l)[1]
	term := c.node(l).term
	require.NoError(t, c.node(l).TransferLeadership(target))
	c.deliverAll()
	require.Equal(t, target, c.leader())
	require.Equal(t, term+1, c.node(target).term)
	require.Equal(t, StateFollower, c.node(l).state)
	c.propose("y")
	c.tick(2)
	for _, id := range c.ids {
		require.Equal(t, []string{"x", "y"}, appliedData(c.nodes[id]))
	}
}

// TestTimeoutNowStartsElectionAtOnce checks the target's side: TimeoutNow
// makes it a candidate at once, skipping the pre-election (the leader asked
// for it), and its requests carry the transfer mark.
// Reference: §3.10
func TestTimeoutNowStartsElectionAtOnce(t *testing.T) {
	r := newTestRaft(t, 2, []NodeID{1, 2, 3}, 3, logOf(1, 3), func(c *Config) { c.PreVote, c.CheckQuorum = true, true })
	step(t, r, Message{From: 1, Type: MsgHeartbeat, Term: 3})
	drain(r)
	step(t, r, Message{From: 1, Type: MsgTimeoutNow, Term: 3})
	require.Equal(t, StateCandidate, r.state)
	require.Equal(t, uint64(4), r.term)
	votes := ofType(drain(r), MsgVote)
	require.Len(t, votes, 2)
	for _, m := range votes {
		require.Equal(t, campaignTransfer, string(m.Context))
	}
}

// TestTransferCatchesTargetUpFirst checks step 2: "The prior leader fully
// updates the target server's log to match its own, using the normal log
// replication mechanism." TimeoutNow goes out only once the target holds
// the leader's whole log.
// Reference: §3.10
func TestTransferCatchesTargetUpFirst(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, r)
	step(t, r, Message{From: 2, Type: MsgAppResp, Term: r.term, Index: 2})
	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: 1})
	drain(r)

	require.NoError(t, r.TransferLeadership(3))
	msgs := drain(r)
	require.Empty(t, ofType(msgs, MsgTimeoutNow), "3 is behind")
	apps := ofType(msgs, MsgApp)
	require.Len(t, apps, 1)
	require.Equal(t, NodeID(3), apps[0].To)

	step(t, r, Message{From: 3, Type: MsgAppResp, Term: r.term, Index: 2})
	now := ofType(drain(r), MsgTimeoutNow)
	require.Len(t, now, 1)
	require.Equal(t, NodeID(3), now[0].To)

	// An up-to-date target gets TimeoutNow at once.
	r2 := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, r2)
	step(t, r2, Message{From: 2, Type: MsgAppResp, Term: r2.term, Index: 2})
	drain(r2)
	require.NoError(t, r2.TransferLeadership(2))
	require.Len(t, ofType(drain(r2), MsgTimeoutNow), 1)
}

// TestTransferRefusesProposals checks step 1: "The prior leader stops
// accepting new client requests."
// Reference: §3.10
func TestTransferRefusesProposals(t *testing.T) {
	r := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, logOf(1), nil)
	makeLeader(t, r)
	require.NoError(t, r.TransferLeadership(3))
	require.Equal(t, NodeID(3), r.Status().LeadTransferee)
	_, _, err := r.Propose([]byte("x"))
	require.ErrorIs(t, err, ErrTransferring)
	_, _, err = r.ProposeConfChange(ConfChange{Type: AddLearner, Node: 4})
	require.ErrorIs(t, err, ErrTransferring)
}

// TestTransferAbortsAfterElectionTimeout checks: "If leadership transfer
// does not complete after about an election timeout, the prior leader
// aborts the transfer and resumes accepting client requests."
// Reference: §3.10
func TestTransferAbortsAfterElectionTimeout(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	l := c.leader()
	target := c.others(l)[0]
	c.crash(target)
	require.NoError(t, c.node(l).TransferLeadership(target))
	for range c.node(l).cfg.ElectionTicks - 1 {
		c.tick(1)
		_, _, err := c.node(l).Propose([]byte("refused"))
		require.ErrorIs(t, err, ErrTransferring)
	}
	c.tick(1)
	require.Equal(t, l, c.leader())
	require.Equal(t, None, c.node(l).Status().LeadTransferee)
	c.propose("y")
	require.Equal(t, []string{"x", "y"}, appliedData(c.nodes[l]))
}

// TestTransferRequests checks the request paths: a follower forwards the
// request to the leader, and a target that is no voter is refused.
// Reference: §3.10
func TestTransferRequests(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("x")
	l := c.leader()
	follower, target := c.others(l)[0], c.others(l)[1]
	require.NoError(t, c.node(follower).TransferLeadership(target))
	c.deliverAll()
	require.Equal(t, target, c.leader())

	require.ErrorIs(t, c.node(target).TransferLeadership(9), ErrBadConfChange)
	require.NoError(t, c.node(target).TransferLeadership(target), "already the leader")

	lone := newTestRaft(t, 1, []NodeID{1, 2, 3}, 1, nil, nil)
	require.ErrorIs(t, lone.TransferLeadership(2), ErrNoLeader)
}

// TestAbortedTransferKeepsTheLeaseRevoked checks the lease across an
// aborted transfer: the TimeoutNow is out, and may arrive after the abort;
// the target then campaigns with the mark voters grant inside a lease, so
// the prior leader, though it takes requests again, may not read from its
// lease for the rest of its term. Here the late TimeoutNow elects the target
// while the old leader still thinks it leads: its read must not miss what
// the new leader committed.
// Reference: §3.10, §6.4.1
func TestAbortedTransferKeepsTheLeaseRevoked(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.ReadMode = ReadLease })
	c.propose("x")
	c.tick(12)
	l := c.leader()
	target := c.others(l)[0]
	held := holdTimeoutNows(c, target)
	require.NoError(t, c.node(l).TransferLeadership(target))
	c.deliverAll()
	require.Len(t, *held, 1, "the TimeoutNow is held back")
	c.tick(12)
	require.Equal(t, None, c.node(l).Status().LeadTransferee, "the transfer was aborted")
	// The TimeoutNow arrives late; the target's requests to the old leader
	// are lost, so it goes on as leader of its term.
	c.cut[[2]NodeID{target, l}] = true
	c.dropFn = nil
	c.deliver((*held)[0])
	c.deliverAll()
	require.Equal(t, StateLeader, c.node(target).state)
	requireReadCovers(t, c, l, target)
}

// TestStaleTimeoutNowIsIgnored checks that a TimeoutNow of an earlier term
// starts no election: it comes from a leader that has since been replaced,
// and the votes it would take inside the new leader's lease would leave
// that leader reading from a lease no quorum backs.
// Reference: §3.10, Figure 2 ("If a server receives a request with a stale
// term number, it rejects the request", §5.1)
func TestStaleTimeoutNowIsIgnored(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.ReadMode = ReadLease })
	c.propose("x")
	c.tick(12)
	a := c.leader()
	b, d := c.others(a)[0], c.others(a)[1]
	held := holdTimeoutNows(c, b)
	require.NoError(t, c.node(a).TransferLeadership(b))
	c.deliverAll()
	require.Len(t, *held, 1, "the TimeoutNow to b is held back")
	require.NoError(t, c.node(a).TransferLeadership(d))
	c.deliverAll()
	require.Equal(t, StateLeader, c.node(d).state)
	c.tick(3) // d's lease is established
	term := c.node(b).term
	c.cut[[2]NodeID{b, d}] = true
	c.dropFn = nil
	c.deliver((*held)[0])
	c.deliverAll()
	require.Equal(t, term, c.node(b).term, "the stale TimeoutNow started an election")
	require.Equal(t, StateFollower, c.node(b).state)
}

// holdTimeoutNows keeps every TimeoutNow to target off the network until
// the test delivers it (c.deliver); the returned slice fills as they are
// sent. Clearing c.dropFn ends the hold.
func holdTimeoutNows(c *cluster, target NodeID) *[]Message {
	held := &[]Message{}
	c.dropFn = func(m Message) bool {
		if m.Type == MsgTimeoutNow && m.To == target {
			*held = append(*held, m)
			return true
		}
		return false
	}
	return held
}

// requireReadCovers asks old, which may still think it leads, for a read
// after newLead committed a write, and requires every answer to cover it.
func requireReadCovers(t *testing.T, c *cluster, old, newLead NodeID) {
	t.Helper()
	_, _, err := c.node(newLead).Propose([]byte("y"))
	require.NoError(t, err)
	c.deliverAll()
	committed := c.node(newLead).log.committed
	require.NoError(t, c.node(old).ReadIndex([]byte("r")))
	c.process()
	for _, rs := range c.nodes[old].reads {
		require.GreaterOrEqualf(t, rs.Index, committed, "node %d answers a read at index %d, below what node %d committed", old, rs.Index, newLead)
	}
}
