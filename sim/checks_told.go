package sim

import (
	"maps"
	"slices"
	"strconv"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// toldWrites is the check that no forwarded write is orphaned (issue 7,
// item 12): a write a follower forwarded, once the leader's answer told it
// the index and term of its entry, must be answered in the very Ready in
// which the node applies that index — with its result if the entry there
// has that term, Unavailable if another term's entry took the index — or,
// if the node had already applied the index when the answer came, in the
// next Ready. Two writes can be told one index in two terms (a leader
// change overwrote the first one's entry); both must be answered then, not
// one of them only at its request timeout.
//
// Nor does a write outlive its leader's term by more than the Ready that
// shows the term over: once the node applies an entry of a newer term,
// every entry of older terms that will ever be committed is applied, so a
// write told an index beyond that entry in an older term must be answered
// (nothing was applied), and so must a write whose forward to an older
// term's leader was never answered (it may have been): in that Ready, not
// at its request timeout (session's settleOlderTerms).
//
// The host sees what the core was told from the wire: which client write
// each Forward carries (by its command: a push's or update's data is
// unique in the run, a delete names its session, list and item once, a
// close its session) and the index and term in each ForwardReply. It
// follows the core's rules: the first answer to a forward counts, one that
// is not OK or names no index tells nothing, and a write answered, or on a
// connection since closed, is forgotten (a reply to a closed connection
// is dropped). One incarnation of a node: the replica, and this with it,
// starts afresh on a restart.
type toldWrites struct {
	// byCommand are the writes taken and not answered on open
	// connections, by the key of their command; forwards the forwards
	// seen leaving, by id.
	byCommand map[string]reqKey
	forwards  map[uint64]forwarded
	// told are the writes told an index, by index; due those told an
	// index the node had already applied: answered in the next Ready.
	told map[uint64][]toldWrite
	due  []reqKey
	// appliedTerm is the term of the newest entry the node applied.
	appliedTerm uint64
	// open are the writes of told and due not yet answered.
	open map[reqKey]bool
}

type toldWrite struct {
	req  reqKey
	term uint64
}

// forwarded is a write's forward, sent to the leader of term.
type forwarded struct {
	req  reqKey
	term uint64
}

// commandKey names the client write a command is: "" for a command that
// is no client write the host can tell apart.
func commandKey(cmd fsm.Command) string {
	switch c := cmd.(type) {
	case fsm.Push:
		return "p" + string(c.Data)
	case fsm.Update:
		return "u" + string(c.Data)
	case fsm.Delete:
		return "d" + c.Session + "\x00" + c.Path + "\x00" + strconv.FormatUint(c.Item, 10)
	case fsm.CloseSession:
		return "c" + c.ID
	}
	return ""
}

// requestKey is commandKey of the command the core makes of a client's
// write on a connection of session sess.
func requestKey(r *session.Request, sess string) string {
	switch r.Op {
	case session.OpCreate:
		return "p" + string(r.Data)
	case session.OpUpdate:
		return "u" + string(r.Data)
	case session.OpDelete:
		return "d" + sess + "\x00" + r.Path + "\x00" + strconv.FormatUint(r.Item, 10)
	case session.OpClose:
		return "c" + sess
	}
	return ""
}

// took records a client write handed to the core.
func (t *toldWrites) took(p *ConnRequest) {
	if p.Session == "" {
		return
	}
	key := requestKey(&p.Req, p.Session)
	if key == "" {
		return
	}
	if t.byCommand == nil {
		t.byCommand, t.forwards, t.told, t.open = map[string]reqKey{}, map[uint64]forwarded{}, map[uint64][]toldWrite{}, map[reqKey]bool{}
	}
	t.byCommand[key] = reqKey{p.Req.Conn, p.Req.ID}
}

// sent notes the forwards of a Ready's service messages.
func (t *toldWrites) sent(msgs []session.PeerMessage) {
	if len(t.byCommand) == 0 {
		return
	}
	for i := range msgs {
		f := msgs[i].Forward
		if f == nil || f.Command == nil {
			continue
		}
		cmd, err := fsm.Decode(f.Command)
		if err != nil {
			continue
		}
		if req, ok := t.byCommand[commandKey(cmd)]; ok {
			t.forwards[f.ID] = forwarded{req: req, term: f.Term}
		}
	}
}

// answer notes a ForwardReply stepped into the core, which had applied
// through applied.
func (t *toldWrites) answer(r *session.ForwardReply, applied uint64) {
	fwd, ok := t.forwards[r.ID]
	if !ok {
		return
	}
	req := fwd.req
	delete(t.forwards, r.ID)
	if r.Code != fsm.OK || r.Index == 0 || t.open[req] {
		return
	}
	if _, pending := t.byCommand[t.keyOf(req)]; !pending {
		return
	}
	t.open[req] = true
	if r.Index <= applied {
		t.due = append(t.due, req)
		return
	}
	t.told[r.Index] = append(t.told[r.Index], toldWrite{req: req, term: r.Term})
}

// keyOf finds a pending write's command key (few are pending at once).
func (t *toldWrites) keyOf(req reqKey) string {
	for k, r := range t.byCommand {
		if r == req {
			return k
		}
	}
	return ""
}

// pending reports whether req is taken and not yet answered.
func (t *toldWrites) pending(req reqKey) bool { return t.keyOf(req) != "" }

// forget drops what is known of the writes answered or on closed
// connections: the one request, or with id 0 every request of conn.
func (t *toldWrites) forget(conn session.ConnID, id uint64) {
	for k, r := range t.byCommand {
		if r.conn == conn && (id == 0 || r.id == id) {
			delete(t.byCommand, k)
		}
	}
	for r := range t.open {
		if r.conn == conn && (id == 0 || r.id == id) {
			delete(t.open, r)
		}
	}
}

// check takes a Ready's answers and closed connections, then requires an
// answer of every write due in it: those told an index it applied, and
// those told an index applied before.
func (t *toldWrites) check(n *node, rd *session.Ready) error {
	if t.byCommand == nil {
		return nil
	}
	for i := range rd.Replies {
		t.forget(rd.Replies[i].Conn, rd.Replies[i].ID)
	}
	for _, conn := range rd.Disconnect {
		t.forget(conn, 0)
	}
	for _, req := range t.due {
		if t.open[req] {
			return n.w.Errorf("orphaned write: node %d was told an index it had already applied for the write %d of connection %d, and did not answer it in its next Ready",
				n.id, req.id, req.conn)
		}
	}
	t.due = t.due[:0]
	for i := range rd.CommittedEntries {
		e := &rd.CommittedEntries[i]
		waiting := t.told[e.Index]
		if waiting == nil {
			continue
		}
		delete(t.told, e.Index)
		for _, w := range waiting {
			if t.open[w.req] {
				return n.w.Errorf("orphaned write: node %d applied index %d (term %d) and did not answer, in that Ready, the write %d of connection %d the leader had told index %d in term %d",
					n.id, e.Index, e.Term, w.req.id, w.req.conn, e.Index, w.term)
			}
		}
	}
	if k := len(rd.CommittedEntries); k > 0 && rd.CommittedEntries[k-1].Term > t.appliedTerm {
		if err := t.checkOlderTerms(n, rd.CommittedEntries); err != nil {
			return err
		}
		t.appliedTerm = rd.CommittedEntries[k-1].Term
	}
	return nil
}

// checkOlderTerms requires, of a Ready whose entries reach a newer term,
// an answer of every write the first entry of a newer term decides: told
// an index beyond it in an older term, or forwarded to an older term's
// leader and never answered.
func (t *toldWrites) checkOlderTerms(n *node, entries []raft.Entry) error {
	// first finds the first entry of a term above term, if any.
	first := func(term uint64) *raft.Entry {
		for i := range entries {
			if entries[i].Term > term {
				return &entries[i]
			}
		}
		return nil
	}
	// In order, so that a run names the same write each time.
	for _, index := range slices.Sorted(maps.Keys(t.told)) {
		for _, w := range t.told[index] {
			if e := first(w.term); e != nil && e.Index < index && t.open[w.req] {
				return n.w.Errorf("orphaned write: node %d applied index %d of term %d and did not answer, in that Ready, the write %d of connection %d the leader had told index %d in the older term %d (nothing of it can commit now)",
					n.id, e.Index, e.Term, w.req.id, w.req.conn, index, w.term)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(t.forwards)) {
		f := t.forwards[id]
		e := first(f.term)
		if e == nil {
			continue
		}
		if t.pending(f.req) {
			return n.w.Errorf("orphaned write: node %d applied index %d of term %d and did not answer, in that Ready, the write %d of connection %d it had forwarded (id %d) to the leader of the older term %d, which never answered (its fate is decided now)",
				n.id, e.Index, e.Term, f.req.id, f.req.conn, id, f.term)
		}
		// An answer to it now would be ignored, as the core ignores it.
		delete(t.forwards, id)
	}
	return nil
}
