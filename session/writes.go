package session

import (
	"errors"
	"slices"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// Writes (PROTOCOL.md, "Reads"): "Writes may be sent to any node; a
// follower forwards them to the leader. The answer comes after the entry is
// committed and applied on the node that answers."
//
// The life of a write on a follower:
//
//	Submit ─► Forward to leader ─► leader proposes, replies (index, term)
//	       ─► wait until this node applies index ─► answer from the result
//
// On the leader the middle step is a local Propose. If the entry applied at
// that index has another term, the proposal was lost to a leader change and
// the client is told Unavailable (nothing of it was applied).

type openInfo struct {
	id, token string
	ttl       uint64
}

// pending is a write (or connect, close, become) waiting for its answer.
type pending struct {
	req      Request
	cmd      []byte    // the encoded fsm command; nil for become
	open     *openInfo // set for a connect that opens a session
	deadline int64
	index    uint64
	term     uint64
	// fwdTerm is the term of its last forward: only that term's leader
	// may have proposed it.
	fwdTerm uint64
	done    bool
	// why is what it last waited for, said when it times out.
	why string
}

// appliedResult remembers what one entry did, for forwards whose reply
// arrives after this node already applied the entry.
type appliedResult struct {
	index, term uint64
	res         fsm.Result
}

const recentResults = 1024

type writeTracker struct {
	// byIndex holds the writes waiting for the entry at an index. Two can
	// wait on one index, told it in different terms (a leader change
	// overwrote the first one's entry): both are answered when it applies.
	byIndex     map[uint64][]*pending
	forwards    map[uint64]*pending
	waiting     []*pending // for a leader to be known
	queue       []*pending // every pending write in submission order, for timeouts
	nextForward uint64
	// startTerm is the term this incarnation started in. Its previous
	// incarnation may have led that term and proposed forwards it no
	// longer remembers; this one can only follow in it (a server that
	// campaigns moves to a new term).
	startTerm uint64
	// appliedTerm is the term of the newest entry applied (or snapshot
	// restored): see settleOlderTerms.
	appliedTerm uint64
	live        int // submitted and not yet answered
	recent      [recentResults]appliedResult

	// Leader side: the answers given to recent forwards, so that a Forward
	// delivered twice (a network or transport that repeats a message) is
	// answered again instead of proposed again: one client request, one
	// entry. Bounded to the last rememberedForwards forwards.
	answered      map[forwardKey]ForwardReply
	answeredOrder [rememberedForwards]forwardKey
	answeredNext  int
}

// forwardKey names one forward: ids are unique per node incarnation (they
// start at a random number), so the pair is unique in the cluster.
type forwardKey struct {
	from raft.NodeID
	id   uint64
}

const rememberedForwards = 4096

func (w *writeTracker) init() {
	w.byIndex = map[uint64][]*pending{}
	w.forwards = map[uint64]*pending{}
	w.answered = map[forwardKey]ForwardReply{}
}

// remember records the answer to a forward, forgetting the oldest.
func (w *writeTracker) remember(key forwardKey, reply ForwardReply) {
	slot := &w.answeredOrder[w.answeredNext%rememberedForwards]
	if w.answeredNext >= rememberedForwards {
		delete(w.answered, *slot)
	}
	*slot = key
	w.answeredNext++
	w.answered[key] = reply
}

func (w *writeTracker) submit(c *Core, p *pending) {
	if w.live >= c.cfg.MaxPendingWrites {
		c.fail(&p.req, fsm.Unavailable, "too many writes pending on this node (%d); try again later", w.live)
		return
	}
	w.live++
	p.deadline = c.now + c.cfg.RequestTimeoutMs
	w.queue = append(w.queue, p)
	w.try(c, p)
}

// try proposes on the leader, forwards from a follower, or waits.
func (w *writeTracker) try(c *Core, p *pending) {
	switch {
	case c.soft.State == raft.StateLeader:
		index, term, err := w.propose(c, p.cmd, &p.req)
		switch {
		case errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrTransferring):
			w.waiting = append(w.waiting, p)
		case errors.Is(err, errNotCaughtUp):
			// A promotion waits for its learner until its deadline, and
			// is tried again at every tick: "once it has caught up".
			p.why = err.Error()
			w.waiting = append(w.waiting, p)
		case err != nil:
			w.finishErr(c, p, codeOfProposal(err), err.Error())
		case index == 0:
			// A leadership transfer: accepted, nothing to wait for.
			w.finish(c, p, fsm.Result{Code: fsm.OK})
		default:
			w.await(p, index, term)
		}
	case c.removedAt > 0:
		// Told it is no member: whatever leader it still knows of no
		// longer counts it one, and has nothing to tell it but that again.
		w.finishErr(c, p, fsm.Unavailable, c.removedWhy()+"; nothing was applied")
	case c.soft.Lead != raft.None:
		w.nextForward++
		w.forwards[w.nextForward] = p
		p.fwdTerm = c.raft.Term()
		c.send(c.soft.Lead, PeerMessage{Forward: &Forward{
			ID: w.nextForward, Term: c.raft.Term(), Command: p.cmd,
			Become: p.req.Become, Node: p.req.Node, Address: p.req.Address,
		}})
	default:
		w.waiting = append(w.waiting, p)
	}
}

func (w *writeTracker) propose(c *Core, cmd []byte, req *Request) (uint64, uint64, error) {
	if cmd == nil {
		return c.proposeBecome(req.Become, req.Node, req.Address)
	}
	return c.raft.Propose(cmd)
}

func codeOfProposal(err error) fsm.Code {
	switch {
	case errors.Is(err, raft.ErrBadConfChange):
		return fsm.InvalidParameter
	case errors.Is(err, raft.ErrConfChangePending), errors.Is(err, raft.ErrProposalDropped),
		errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrTransferring), errors.Is(err, errNotCaughtUp):
		return fsm.Unavailable
	}
	return fsm.InternalError
}

// handleForward runs on the leader: propose and say where it went.
func (w *writeTracker) handleForward(c *Core, from raft.NodeID, f *Forward) {
	if f.Term != c.raft.Term() || f.Term == w.startTerm {
		// Sent to the leader of another term: held back in the network, or
		// sent before this server restarted. That leader may have proposed
		// it, and answers are remembered per leader, so it is neither
		// proposed nor answered here: the follower answers its client "may
		// have been applied" once it applies an entry of a newer term
		// (settleOlderTerms), or at the request timeout (Unavailable "not
		// the leader" would make it send the write again). The term this
		// server restarted in is such a term too: it may have led it before
		// the crash, and proposed this very forward.
		return
	}
	key := forwardKey{from: from, id: f.ID}
	if earlier, seen := w.answered[key]; seen {
		// A repeat: whatever happened the first time stands. Even a
		// refusal is repeated, not retried: the follower may already have
		// sent the write again under a new id.
		c.send(from, PeerMessage{ForwardReply: &earlier})
		return
	}
	reply := ForwardReply{ID: f.ID, Code: fsm.OK}
	if c.soft.State != raft.StateLeader {
		reply.Code, reply.Message = fsm.Unavailable, "not the leader"
	} else {
		var err error
		if f.Command == nil {
			reply.Index, reply.Term, err = c.proposeBecome(f.Become, f.Node, f.Address)
		} else {
			reply.Index, reply.Term, err = c.raft.Propose(f.Command)
		}
		if err != nil {
			reply.Code, reply.Message = codeOfProposal(err), err.Error()
		}
	}
	w.remember(key, reply)
	c.send(from, PeerMessage{ForwardReply: &reply})
}

// handleForwardReply runs on the follower that forwarded.
func (w *writeTracker) handleForwardReply(c *Core, r *ForwardReply) {
	p := w.forwards[r.ID]
	if p == nil || p.done {
		return
	}
	delete(w.forwards, r.ID)
	switch {
	case r.Code == fsm.Unavailable && c.now < p.deadline:
		// Not proposed anywhere: safe to try again once a leader is known.
		p.why = r.Message
		w.waiting = append(w.waiting, p)
	case r.Code != fsm.OK:
		w.finishErr(c, p, r.Code, r.Message)
	case r.Index == 0:
		w.finish(c, p, fsm.Result{Code: fsm.OK})
	case r.Index <= c.fsm.AppliedIndex():
		// Applied here before the leader's answer arrived.
		rec := &w.recent[r.Index%recentResults]
		switch {
		case rec.index != r.Index:
			w.finishErr(c, p, fsm.InternalError, "outcome no longer known; read to find out")
		case rec.term != r.Term:
			w.finishErr(c, p, fsm.Unavailable, "lost to a leader change")
		default:
			w.finish(c, p, rec.res)
		}
	default:
		w.await(p, r.Index, r.Term)
	}
}

// await makes p wait for the entry at index, which it expects in term.
func (w *writeTracker) await(p *pending, index, term uint64) {
	p.index, p.term = index, term
	w.byIndex[index] = append(w.byIndex[index], p)
}

// applied answers the write waiting on entry e, if any.
func (w *writeTracker) applied(c *Core, e *raft.Entry, res fsm.Result) {
	w.recent[e.Index%recentResults] = appliedResult{index: e.Index, term: e.Term, res: res}
	if waiting := w.byIndex[e.Index]; waiting != nil {
		delete(w.byIndex, e.Index)
		for _, p := range waiting {
			switch {
			case p.done:
			case e.Term != p.term:
				w.finishErr(c, p, fsm.Unavailable, "lost to a leader change; nothing was applied")
			default:
				w.finish(c, p, res)
			}
		}
	}
	if e.Term > w.appliedTerm {
		w.settleOlderTerms(c, e.Index, e.Term)
	}
}

// settleOlderTerms answers the writes whose fate the first applied entry
// of a newer term (index, term) decides. Terms never decrease along a
// log, so every entry of an older term that will ever be committed lies
// below index and is applied here by now:
//   - a write told it would be at an index beyond, in an older term, was
//     lost with its leader: nothing of it was applied;
//   - a forward to an older term's leader still unanswered was either
//     among that term's entries or never will be; which, this node cannot
//     tell (commands carry no request id), but a read now tells the
//     client.
//
// Without this such writes wait for their timeout (RequestTimeoutMs)
// though a new leader took over long before.
func (w *writeTracker) settleOlderTerms(c *Core, index, term uint64) {
	w.appliedTerm = term
	var beyond []uint64
	for i := range w.byIndex {
		if i > index {
			beyond = append(beyond, i)
		}
	}
	slices.Sort(beyond)
	for _, i := range beyond {
		keep := w.byIndex[i][:0]
		for _, p := range w.byIndex[i] {
			if p.term < term {
				w.finishErr(c, p, fsm.Unavailable, "lost to a leader change; nothing was applied")
			} else {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			delete(w.byIndex, i)
		} else {
			w.byIndex[i] = keep
		}
	}
	var unanswered []uint64
	for id, p := range w.forwards {
		if p.fwdTerm < term {
			unanswered = append(unanswered, id)
		}
	}
	slices.Sort(unanswered)
	for _, id := range unanswered {
		p := w.forwards[id]
		delete(w.forwards, id)
		w.finishErr(c, p, fsm.Unavailable, "the leader changed before it answered; the write may have been applied: read to find out")
	}
}

func (w *writeTracker) finishErr(c *Core, p *pending, code fsm.Code, msg string) {
	w.finish(c, p, fsm.Result{Code: code, Message: msg})
}

// finish answers the client as its operation's answer says.
func (w *writeTracker) finish(c *Core, p *pending, res fsm.Result) {
	if p.done {
		return
	}
	p.done = true
	w.live--
	req := &p.req
	if res.Code != fsm.OK {
		c.reply(Reply{Conn: req.Conn, ID: req.ID, Op: req.Op, Code: res.Code, Message: res.Message})
		return
	}
	r := Reply{Conn: req.Conn, ID: req.ID, Op: req.Op}
	switch req.Op {
	case OpConnect:
		cn := c.conns[req.Conn]
		if cn == nil {
			return
		}
		cn.session = p.open.id
		c.liveness.heard(c, p.open.id)
		r.Session, r.Token, r.TTLms = p.open.id, p.open.token, p.open.ttl
	case OpCreate, OpUpdate:
		item := res.Item
		r.Item, r.Items, r.Version = &item, res.Items(), res.Version
	case OpDelete:
		r.Items, r.Version = res.Items(), res.Version
	case OpClose:
		r.CloseConn = true
	}
	c.reply(r)
}

// retryWaiting tries the writes that waited for a leader.
func (w *writeTracker) retryWaiting(c *Core) {
	if len(w.waiting) == 0 {
		return
	}
	waiting := w.waiting
	w.waiting = nil
	for _, p := range waiting {
		if !p.done {
			w.try(c, p)
		}
	}
}

// tick times out writes past their deadline, oldest first.
func (w *writeTracker) tick(c *Core) {
	if c.soft.Lead != raft.None {
		w.retryWaiting(c)
	}
	n := 0
	for n < len(w.queue) && (w.queue[n].done || w.queue[n].deadline <= c.now) {
		p := w.queue[n]
		if !p.done {
			msg := "timed out waiting for the cluster"
			if p.why != "" {
				msg += ": " + p.why
			}
			w.finishErr(c, p, fsm.Unavailable, msg)
		}
		n++
	}
	if n > 0 {
		w.queue = slices.Delete(w.queue, 0, n)
	}
	// Done writes still in maps are dropped lazily: byIndex on apply,
	// forwards here when their reply never comes.
	if len(w.forwards) > 0 && n > 0 {
		for id, p := range w.forwards {
			if p.done {
				delete(w.forwards, id)
			}
		}
	}
}

// forgetBelow answers writes whose entries a received snapshot covered:
// this node never applied them one by one, so it cannot tell their result.
func (w *writeTracker) forgetBelow(c *Core, index uint64) {
	var gone []uint64
	for i := range w.byIndex {
		if i <= index {
			gone = append(gone, i)
		}
	}
	slices.Sort(gone)
	for _, i := range gone {
		waiting := w.byIndex[i]
		delete(w.byIndex, i)
		for _, p := range waiting {
			w.finishErr(c, p, fsm.InternalError, "outcome unknown: a snapshot replaced the log; read to find out")
		}
	}
}
