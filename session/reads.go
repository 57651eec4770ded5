package session

import (
	"strconv"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// Reads (PROTOCOL.md, "Reads"): default reads are linearizable. Reads that
// arrive together share one ReadIndex round (§6.4): the batch gets a read
// index from the leader and is answered once this node has applied through
// it. Stale reads are answered from local state at once; local state only
// moves forward, so a session never sees it go back on this node — and,
// across a restart that lost the node's commit index or a move to another
// node, a connection's stale reads wait until the node has applied through
// the `seen` its client named on connect (PROTOCOL.md).

type pendingRead struct {
	req    Request
	resume bool // a connect that resumes a session by token
	// ping is a ping on the leader, and keepalive one a follower sent
	// (from): they wait for a read index only to know that the node still
	// led after it heard them (liveness.confirmed); term is the term it led.
	ping      bool
	keepalive *KeepAlive
	from      raft.NodeID
	term      uint64
	deadline  int64
	// atIndex is, for a stale read, the index this node must have applied
	// before it answers.
	atIndex uint64
}

type readBatch struct {
	ctx     string
	reads   []*pendingRead
	index   uint64
	known   bool  // the read index arrived
	askedAt int64 // when ReadIndex was last asked
}

type readTracker struct {
	queue   []*pendingRead // not yet asked
	batches []*readBatch   // asked, waiting for the index or the apply
	// atApplied holds stale reads and watches with since, waiting for
	// this node to apply through their atIndex.
	atApplied []*pendingRead
	next      uint64
}

func (t *readTracker) init() {}

func (c *Core) read(req *Request) {
	if err := fsm.ValidatePath(req.Path); err != nil {
		c.fail(req, fsm.InvalidParameter, "%s", err.Error())
		return
	}
	if req.Stale {
		if cn := c.conns[req.Conn]; cn != nil && cn.seen > c.fsm.AppliedIndex() {
			c.reads.waitApplied(c, req, cn.seen)
			return
		}
		c.answerRead(req)
		return
	}
	c.reads.enqueue(c, &pendingRead{req: *req})
}

// waitApplied holds a stale read or a watch with since until this node has
// applied through index.
func (t *readTracker) waitApplied(c *Core, req *Request, index uint64) {
	if t.full(c) {
		c.fail(req, fsm.Unavailable, "too many reads pending on this node; try again later")
		return
	}
	t.atApplied = append(t.atApplied, &pendingRead{
		req: *req, atIndex: index, deadline: c.now + c.cfg.RequestTimeoutMs,
	})
}

// cancelWaitingWatches answers Unavailable the watches of path that conn
// registered with a since this node has not applied through yet: the
// client unwatched the path after asking them.
func (t *readTracker) cancelWaitingWatches(c *Core, conn ConnID, path string) {
	waiting := t.atApplied[:0]
	for _, r := range t.atApplied {
		if r.req.Op == OpWatch && r.req.Conn == conn && r.req.Path == path {
			c.fail(&r.req, fsm.Unavailable, "unwatched before this node applied through since")
			continue
		}
		waiting = append(waiting, r)
	}
	clear(t.atApplied[len(waiting):])
	t.atApplied = waiting
}

func (c *Core) answerRead(req *Request) {
	items, version := c.fsm.Read(req.Path)
	c.reply(Reply{Conn: req.Conn, ID: req.ID, Op: req.Op, Items: items, Version: version})
}

func (t *readTracker) enqueue(c *Core, r *pendingRead) {
	if c.removedAt > 0 {
		c.fail(&r.req, fsm.Unavailable, "%s", c.removedWhy())
		return
	}
	if t.full(c) {
		c.fail(&r.req, fsm.Unavailable, "too many reads pending on this node; try again later")
		return
	}
	r.deadline = c.now + c.cfg.RequestTimeoutMs
	t.queue = append(t.queue, r)
}

// canFlush reports whether flush would ask for a read index now: reads are
// queued and a leader is known (Raft refuses ReadIndex only without one, so
// HasReady does not spin on reads it cannot ask for; the next tick or
// leader change asks).
func (t *readTracker) canFlush(c *Core) bool {
	if len(t.queue) == 0 {
		return false
	}
	soft := c.raft.SoftState()
	return soft.State == raft.StateLeader || soft.Lead != raft.None
}

// flush asks for one read index for every queued read.
func (t *readTracker) flush(c *Core) {
	if len(t.queue) == 0 {
		return
	}
	t.next++
	b := &readBatch{ctx: "r" + strconv.FormatUint(t.next, 10), reads: t.queue, askedAt: c.now}
	if err := c.raft.ReadIndex([]byte(b.ctx)); err != nil {
		// No leader known: keep them queued until the next tick or leader
		// change retries (canFlush is false meanwhile).
		return
	}
	t.queue = nil
	t.batches = append(t.batches, b)
}

// indexKnown records the read index Raft returned for a batch.
func (t *readTracker) indexKnown(rs raft.ReadState) {
	for _, b := range t.batches {
		if b.ctx == string(rs.Context) && !b.known {
			b.index, b.known = rs.Index, true
			return
		}
	}
}

// serve answers every batch whose read index has been applied.
func (t *readTracker) serve(c *Core) {
	applied := c.fsm.AppliedIndex()
	if len(t.atApplied) > 0 {
		waiting := t.atApplied[:0]
		for _, r := range t.atApplied {
			if r.atIndex > applied {
				waiting = append(waiting, r)
				continue
			}
			if r.req.Op == OpWatch {
				c.watchApplied(&r.req)
			} else {
				c.answerRead(&r.req)
			}
		}
		clear(t.atApplied[len(waiting):])
		t.atApplied = waiting
	}
	kept := t.batches[:0]
	for _, b := range t.batches {
		if !b.known || b.index > applied {
			kept = append(kept, b)
			continue
		}
		for _, r := range b.reads {
			switch {
			case r.resume:
				c.finishResume(&r.req)
			case r.ping || r.keepalive != nil:
				c.liveness.confirmed(c, r)
			default:
				c.answerRead(&r.req)
			}
		}
	}
	clear(t.batches[len(kept):])
	t.batches = kept
}

// tick times reads out and asks again for indexes that never came (the
// request or its answer may have been lost, or the leader changed).
func (t *readTracker) tick(c *Core) {
	kept := t.batches[:0]
	for _, b := range t.batches {
		if !b.known && c.now-b.askedAt >= c.cfg.ReadRetryMs {
			t.queue = append(t.queue, b.reads...)
			continue
		}
		if b.known {
			// Waiting for this node to apply through the index: time out
			// the reads whose deadline passed (the node may be cut off).
			b.reads = failExpired(c, b.reads, "timed out waiting to apply through the read index")
			if len(b.reads) == 0 {
				continue
			}
		}
		kept = append(kept, b)
	}
	clear(t.batches[len(kept):])
	t.batches = kept

	t.queue = failExpired(c, t.queue, "timed out waiting for a read index")
	t.atApplied = failExpired(c, t.atApplied, "timed out waiting for this node to apply through the version the client has seen")
	t.flush(c)
}

// failExpired answers Unavailable to the requests whose deadline passed and
// returns the others, in the same order and backing array.
func failExpired(c *Core, waiting []*pendingRead, why string) []*pendingRead {
	live := waiting[:0]
	for _, r := range waiting {
		if r.deadline <= c.now {
			c.fail(&r.req, fsm.Unavailable, "%s", why)
			continue
		}
		live = append(live, r)
	}
	clear(waiting[len(live):])
	return live
}
