package sim

import (
	"fmt"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/raft"
)

// Finish checks a settled sessions run: every node's state machine is the
// committed log's; watchers missed no change before their session ended;
// every SessionExpired answer is borne out by the log; and the history,
// every outcome a client never learned read from the log and every session
// end in it, is linearizable.
func (wl *sessionsWorkload) Finish(w *World, _ []Service) (WorkloadReport, error) {
	report := WorkloadReport{Acked: wl.acked, Unknown: wl.unknown, WriteLatency: wl.latency}
	t := &wl.truth
	t.advance(wl)
	report.Sessions = len(t.opened)
	report.WatchEvents = wl.watchEvents
	report.Requests = wl.answered

	want := bytesDigest(t.machine.Snapshot())
	for _, n := range w.nodes {
		if c, ok := n.app.(*coreReplica); ok && n.up && n.applied == t.applied && c.digest() != want {
			return report, w.errorf("node %d applied the committed log through %d but its state machine differs from the log's", n.id, n.applied)
		}
	}
	if err := wl.checkWatchersComplete(); err != nil {
		return report, err
	}
	for _, id := range sortedKeys(wl.sessions) {
		rec := wl.sessions[id]
		end, ended := t.ends[id]
		for _, at := range rec.expiredAnswers {
			if !ended || end.committedAt > at {
				return report, w.errorf("session %s: its client was told SessionExpired at %v, but the log had not ended it then", id, at)
			}
		}
		wl.checkFalseExpiry(rec)
	}
	if w.failure != nil {
		return report, w.failure
	}

	history, err := wl.history()
	if err != nil {
		return report, err
	}
	ops := history.Operations()
	report.Ops = len(ops)
	err = checkLinearizable(w, wl.cfg, linearizability.ListsModel, ops, "list operations", &report)
	return report, err
}

// checkWatchersComplete is the end of the watch checker: once the run has
// settled, every watch still open has been given every change to its list
// before its session ended (PROTOCOL.md: events come "for as long as the
// session lives"). Events already checked are in order with no gap; this
// finds the changes that never came at all.
func (wl *sessionsWorkload) checkWatchersComplete() error {
	t, w := &wl.truth, wl.w
	for _, c := range wl.clients {
		if c.down || c.sess == nil || c.conn == nil || c.conn.closed {
			continue
		}
		upto := t.applied + 1
		if end, ok := t.ends[c.sess.id]; ok {
			upto = end.index
		}
		for _, path := range sortedKeys(c.watches) {
			wt := c.watches[path]
			if !wt.active {
				continue
			}
			evs := t.events[path]
			if wt.next < len(evs) && evs[wt.next].Version < upto {
				return w.errorf("watch checker: client %d's watch of %s on node %d never got %s (session %s lived until %d)",
					c.id, path, c.conn.node, describeEvent(&evs[wt.next]), c.sess.id, upto)
			}
		}
	}
	return nil
}

type deleteKey struct {
	session, path string
	item          uint64
}

// history builds the history the lists model checks: the clients'
// operations, with the outcome of each one whose answer the client never
// learned (or that said Unavailable) read from the committed log, and one
// EndSession for every expiry in the log, from when its leader proposed it
// to when it was committed.
func (wl *sessionsWorkload) history() (*linearizability.History, error) {
	w := wl.w
	byData := map[string]int{}
	byDelete := map[deleteKey]int{}
	byClose := map[string]int{}
	for i := range wl.ops {
		in := &wl.ops[i].input
		switch in.Op {
		case linearizability.PushItem, linearizability.UpdateItem:
			byData[in.Data] = i
		case linearizability.DeleteItem:
			byDelete[deleteKey{in.Session, in.Path, in.Item}] = i
		case linearizability.EndSession:
			byClose[in.Session] = i
		}
	}
	found := make([]bool, len(wl.ops))
	var expiries []sessOp
	expiryRow := len(wl.clients)
	machine := fsm.New(fsm.Options{})
	for _, e := range w.CommittedLog() {
		if e.Type != raft.EntryNormal {
			continue
		}
		res, _ := machine.Apply(e.Index, e.Data)
		cmd, err := fsm.Decode(e.Data)
		if err != nil {
			continue
		}
		at := -1
		switch c := cmd.(type) {
		case fsm.Push:
			at = lookup(byData, string(c.Data))
		case fsm.Update:
			at = lookup(byData, string(c.Data))
		case fsm.Delete:
			at = lookup(byDelete, deleteKey{c.Session, c.Path, c.Item})
		case fsm.CloseSession:
			if c.Expired {
				if res.Code == fsm.OK {
					end := wl.truth.ends[c.ID]
					expiries = append(expiries, sessOp{
						client: expiryRow, call: end.proposedAt, ret: end.committedAt, state: opAnswered,
						input: linearizability.ListsInput{Op: linearizability.EndSession, Session: c.ID},
						out:   linearizability.ListsOutput{Code: linearizability.CodeOK, Version: e.Index},
					})
				}
				continue
			}
			at = lookup(byClose, c.ID)
		}
		if at < 0 {
			continue
		}
		if found[at] {
			return nil, fmt.Errorf("one request of client %d was committed twice (again at %d): %s", wl.ops[at].client, e.Index, describeInput(&wl.ops[at].input))
		}
		found[at] = true
		if err := wl.resolve(&wl.ops[at], e.Index, res); err != nil {
			return nil, err
		}
	}
	h := &linearizability.History{}
	for i := range wl.ops {
		op := &wl.ops[i]
		if !found[i] {
			if err := wl.notInLog(op); err != nil {
				return nil, err
			}
		}
		switch op.state {
		case opAnswered:
			id := h.Begin(op.client, op.input, int64(op.call))
			h.End(id, op.out, int64(op.ret))
		case opResolve:
			id := h.Begin(op.client, op.input, int64(op.call))
			h.Unknown(id)
			h.Resolve(id, op.out)
		}
	}
	for i := range expiries {
		op := &expiries[i]
		id := h.Begin(op.client, op.input, int64(op.call))
		h.End(id, op.out, int64(op.ret))
	}
	return h, nil
}

func lookup[K comparable](m map[K]int, k K) int {
	if i, ok := m[k]; ok {
		return i
	}
	return -1
}

func describeInput(in *linearizability.ListsInput) string {
	return fmt.Sprintf("%s %s session %s item %d", in.Op, in.Path, in.Session, in.Item)
}

// resolve sets the outcome of op, whose entry the committed log holds at
// index with result res, and checks an answer the client got against it.
func (wl *sessionsWorkload) resolve(op *sessOp, index uint64, res fsm.Result) error {
	logged := linearizability.ListsOutput{Code: linearizability.Code(res.Code)}
	if res.Code == fsm.OK {
		logged.Version = index
		if op.input.Op != linearizability.EndSession {
			logged.Items, logged.HasItems = listItems(res.Items()), true
		}
	}
	switch op.state {
	case opAnswered:
		switch {
		case op.out.Code == linearizability.CodeOK && res.Code != fsm.OK:
			return fmt.Errorf("client %d's %s was answered OK, but its entry %d in the log failed with %s", op.client, describeInput(&op.input), index, res.Code)
		case op.out.Code == linearizability.CodeOK && op.input.Op == linearizability.EndSession:
			op.out.Version = index // the close's answer carries no index
		case op.out.Code == linearizability.CodeOK && op.out.Version != index:
			return fmt.Errorf("acknowledged write lost: client %d's %s was acknowledged at index %d, but the log has it at %d", op.client, describeInput(&op.input), op.out.Version, index)
		case op.out.Code != linearizability.CodeOK && op.out.Code != linearizability.Code(res.Code):
			return fmt.Errorf("client %d's %s was answered %s, but its entry %d in the log says %s", op.client, describeInput(&op.input), op.out.Code, index, res.Code)
		}
	case opResolve, opPending:
		if op.certainlyNot != "" {
			return fmt.Errorf("client %d's %s was answered Unavailable (%s), but the log has it at %d", op.client, describeInput(&op.input), op.certainlyNot, index)
		}
		op.state, op.out = opResolve, logged
	}
	return nil
}

// notInLog settles an operation whose entry is not in the committed log.
func (wl *sessionsWorkload) notInLog(op *sessOp) error {
	switch {
	case op.input.Op == linearizability.ReadList:
		if op.state != opAnswered {
			op.state = opDropped
		}
	case op.state == opAnswered && op.out.Code == linearizability.CodeOK:
		return fmt.Errorf("acknowledged write lost: client %d's %s was answered OK at %v, but the committed log does not have it", op.client, describeInput(&op.input), op.ret)
	case op.state == opAnswered && op.out.Code != linearizability.CodeSessionExpired:
		return fmt.Errorf("client %d's %s was answered %s at %v, an answer only applying its entry gives, but the committed log does not have it",
			op.client, describeInput(&op.input), op.out.Code, op.ret)
	case op.state == opAnswered:
		// SessionExpired from the node's own state, before the log: it
		// changed nothing.
	default:
		// Never committed: it never took effect.
		op.state = opDropped
	}
	return nil
}
