package history

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
)

// ListsHistory builds, from a history's operations and committed log, the
// history linearizability.ListsModel checks: every operation answered as
// its client saw it; every write whose outcome the client never learned
// (Return -1, no Output) resolved from the log (the index and result of its
// entry, or dropped if the log never had it), returning when a client's
// acknowledgment first showed its entry committed (committedBy; at the end
// of time if none did); reads without an answer dropped; and one
// EndSession for every expiry in the log, from when its leader proposed it
// (its Expiry record; 0 if none) to when it committed (its entry's At; if
// not recorded, committedBy; else unknown), on a row of its own after the
// clients'.
//
// Operations are matched to entries by what is unique per client write:
// the data of a push or update (the recorder must make it so), the
// session, path and item of a delete, the session of a close. It checks
// the answers against the log on the way, and the first disagreement is
// the error: a write acknowledged OK that the log lacks, or has at another
// index, or with a failure; a failure code the log does not give; a write
// committed twice; a write said to have had no effect (NotApplied) that
// the log has.
func ListsHistory(recs []Record) (*linearizability.History, error) {
	return listsHistory(recs, false)
}

// ListsHistoryOfPrefix is ListsHistory for a history whose committed log
// is known only from index 1 through its last entry, while the cluster's
// log went on past it (a real cluster's dumps that left a gap). Whatever
// the prefix holds is resolved and judged as ListsHistory does, and so is
// a write acknowledged at an index within it. What it cannot hold is left
// to the clients' answers, which porcupine still checks against each
// other:
//   - a write acknowledged at an index past the prefix, or answered with a
//     failure the prefix does not explain, keeps its answer, unjudged by
//     the log;
//   - a write whose outcome never came back is unknown, not dropped (it
//     may have committed past the prefix), unless its answer said it
//     certainly had no effect (NotApplied);
//   - a close answered OK that the prefix lacks is an unknown end (its
//     index is not known);
//   - every session the prefix does not end gets an unknown EndSession on
//     the expiry row: it may have closed or expired past the prefix. Its
//     call is no earlier than the session's opening and its last write
//     acknowledged OK (the end's entry comes after that write's, which
//     came after its call); this only spares porcupine placements the
//     model would refuse anyway.
//
// It is weaker than ListsHistory on the same operations, never stronger:
// call it only when the whole log cannot be had.
func ListsHistoryOfPrefix(recs []Record) (*linearizability.History, error) {
	return listsHistory(recs, true)
}

func listsHistory(recs []Record, prefix bool) (*linearizability.History, error) {
	var ops []listsOp
	proposed := map[string]int64{}
	expiryRow := 0
	for i := range recs {
		switch r := &recs[i]; {
		case r.Op != nil:
			op := listsOp{Op: r.Op}
			switch {
			case r.Op.Output != nil && r.Op.Return >= 0:
				op.state, op.out = opAnswered, *r.Op.Output
			default:
				op.state = opUnknown
			}
			ops = append(ops, op)
			expiryRow = max(expiryRow, r.Op.Client+1)
		case r.Session != nil:
			expiryRow = max(expiryRow, r.Session.Client+1)
		case r.Expiry != nil:
			proposed[r.Expiry.Session] = r.Expiry.ProposedAt
		}
	}
	byData := map[string]int{}
	byDelete := map[deleteKey]int{}
	byClose := map[string]int{}
	for i := range ops {
		in := &ops[i].Input
		switch in.Op {
		case linearizability.PushItem, linearizability.UpdateItem:
			byData[in.Data] = i
		case linearizability.DeleteItem:
			byDelete[deleteKey{in.Session, in.Path, in.Item}] = i
		case linearizability.EndSession:
			byClose[in.Session] = i
		}
	}
	found := make([]bool, len(ops))
	type expiry struct {
		session string
		call    int64
		at      int64
		index   uint64
	}
	var expiries []expiry
	var err error
	through := uint64(0)       // the log's last index
	ended := map[string]bool{} // sessions the log ends
	Log(recs, func(e *Entry, res fsm.Result, _ []fsm.Event) {
		through = max(through, e.Index)
		if err != nil || e.Type == "confchange" {
			return
		}
		cmd, derr := fsm.Decode(e.Data)
		if derr != nil {
			return
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
			if res.Code == fsm.OK {
				ended[c.ID] = true
			}
			if c.Expired {
				if res.Code == fsm.OK {
					expiries = append(expiries, expiry{session: c.ID, call: proposed[c.ID], at: e.At, index: e.Index})
				}
				return
			}
			at = lookup(byClose, c.ID)
		}
		if at < 0 {
			return
		}
		if found[at] {
			err = fmt.Errorf("double commit: one request of client %d was committed twice (again at %d): %s", ops[at].Client, e.Index, describeInput(&ops[at].Input))
			return
		}
		found[at] = true
		err = ops[at].resolve(e.Index, res)
	})
	if err != nil {
		return nil, err
	}
	by := committedBy(ops, found)
	h := &linearizability.History{}
	for i := range ops {
		op := &ops[i]
		if !found[i] {
			notIn := op.notInLog
			if prefix {
				notIn = func() error { return op.notInPrefix(through) }
			}
			if err := notIn(); err != nil {
				return nil, err
			}
		}
		switch op.state {
		case opAnswered:
			id := h.Begin(op.Client, op.Input, op.Call)
			h.End(id, op.out, op.Return)
		case opResolved:
			id := h.Begin(op.Client, op.Input, op.Call)
			h.Unknown(id)
			if at, ok := by(op.index); ok && at >= op.Call {
				h.ResolveBy(id, op.out, at)
			} else {
				h.Resolve(id, op.out)
			}
		case opUnknown: // only past a prefix: ListsHistory resolves or drops every one
			h.Unknown(h.Begin(op.Client, op.Input, op.Call))
		}
	}
	if prefix {
		for _, x := range unendedSessions(recs, ops, ended) {
			h.Unknown(h.Begin(expiryRow, linearizability.ListsInput{Op: linearizability.EndSession, Session: x.session}, x.call))
		}
	}
	for _, x := range expiries {
		id := h.Begin(expiryRow, linearizability.ListsInput{Op: linearizability.EndSession, Session: x.session}, x.call)
		out := linearizability.ListsOutput{Code: linearizability.CodeOK, Version: x.index}
		switch at, ok := by(x.index); {
		case x.at > 0:
			h.End(id, out, x.at)
		case ok && at >= x.call:
			h.Unknown(id)
			h.ResolveBy(id, out, at)
		default:
			h.Unknown(id)
			h.Resolve(id, out)
		}
	}
	return h, nil
}

// unended are the sessions of a history that its log does not end, in
// the order first named, each with the earliest its end may be called:
// its opening, or its last write acknowledged OK (answered or resolved).
func unendedSessions(recs []Record, ops []listsOp, ended map[string]bool) []struct {
	session string
	call    int64
} {
	var order []string
	from := map[string]int64{}
	name := func(id string, at int64) {
		if id == "" || ended[id] {
			return
		}
		if _, ok := from[id]; !ok {
			order = append(order, id)
		}
		from[id] = max(from[id], at)
	}
	for i := range recs {
		if s := recs[i].Session; s != nil {
			name(s.ID, s.OpenedAt)
		}
	}
	for i := range ops {
		op := &ops[i]
		switch {
		case op.Input.Op == linearizability.ReadList:
		case (op.state == opAnswered || op.state == opResolved) && op.out.Code == linearizability.CodeOK && op.Input.Op != linearizability.EndSession:
			name(op.Input.Session, op.Call)
		default:
			name(op.Input.Session, 0)
		}
	}
	out := make([]struct {
		session string
		call    int64
	}, len(order))
	for i, id := range order {
		out[i].session, out[i].call = id, from[id]
	}
	return out
}

type listsOp struct {
	*Op
	state opState
	out   linearizability.ListsOutput
	index uint64 // its entry in the log (0: the log does not have it)
}

// committedBy returns, for a log index, the earliest time by which the
// entry there had certainly committed, as the clients' answers show it:
// the earliest return of a write acknowledged OK at that index or a later
// one (ok false if none was). It bounds the return of an operation
// resolved from the log, and of an expiry whose commit time was not
// recorded, which otherwise stay pending to the end of the history:
// porcupine must then try each at every point after its call, and a long
// history of them on one list is more than its search can decide (a
// 10-minute fault run's, about 440 such expiries a list, ran it out of
// memory at 24 GB).
//
// Why the bound is sound, i.e. a correct cluster's history stays
// linearizable with it:
//   - An answer OK comes after its entry committed (PROTOCOL.md, "Writes":
//     the answer comes after the entry is committed and applied), and Raft
//     commits a log's prefix: an entry committed at j means every entry at
//     or below j committed too (§5.3, Log Matching; §5.4.2). So the entry
//     at i ≤ j had committed when the answer for j was received.
//   - A write (or an expiry) takes effect when its entry commits: every
//     operation invoked after that is applied after it or reads a state
//     that holds it (a new leader commits an entry of its term before
//     serving, §8; a read index is the leader's commit index, §6.4). Its
//     linearization point, its commit, is thus within [call, committedBy],
//     where the check now looks for it.
//
// Only answers the log confirms count: a write acknowledged OK whose entry
// is the log's at the index its answer gave (resolve checked it; one the
// log lacks or has elsewhere fails the history before this). A node that
// acknowledged before committing breaks the contract this relies on; the
// check may then report it as a read that missed an earlier write rather
// than as what it is, but it reports it. The bound only ever removes
// placements of an operation, never adds one, so it cannot hide a
// violation the unbounded history shows.
func committedBy(ops []listsOp, found []bool) func(index uint64) (int64, bool) {
	type ack struct {
		index uint64
		at    int64
	}
	var acks []ack
	for i := range ops {
		op := &ops[i]
		switch op.Input.Op {
		case linearizability.PushItem, linearizability.UpdateItem, linearizability.DeleteItem:
		default:
			continue
		}
		if found[i] && op.state == opAnswered && op.out.Code == linearizability.CodeOK {
			acks = append(acks, ack{op.index, op.Return})
		}
	}
	slices.SortFunc(acks, func(a, b ack) int { return cmp.Compare(a.index, b.index) })
	// earliest[k] is the earliest return among acks[k:].
	earliest := make([]int64, len(acks))
	for k := len(acks) - 1; k >= 0; k-- {
		earliest[k] = acks[k].at
		if k+1 < len(acks) {
			earliest[k] = min(earliest[k], earliest[k+1])
		}
	}
	return func(index uint64) (int64, bool) {
		if index == 0 {
			return 0, false
		}
		k, _ := slices.BinarySearchFunc(acks, index, func(a ack, index uint64) int { return cmp.Compare(a.index, index) })
		if k == len(acks) {
			return 0, false
		}
		return earliest[k], true
	}
}

type opState uint8

const (
	opUnknown  opState = iota // the client never learned the outcome
	opAnswered                // answered at Return with out
	opResolved                // outcome read from the log into out
	opDropped                 // constrains nothing
)

type deleteKey struct {
	session, path string
	item          uint64
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

// ListItems is a list of the state machine as the lists model has it.
func ListItems(items []fsm.Item) []linearizability.Item {
	out := make([]linearizability.Item, len(items))
	for i, item := range items {
		out[i] = linearizability.Item{Version: item.Version, Owner: item.Owner, Data: item.Data}
	}
	return out
}

// resolve sets the outcome of op, whose entry the committed log holds at
// index with result res, and checks an answer the client got against it.
func (op *listsOp) resolve(index uint64, res fsm.Result) error {
	op.index = index
	logged := linearizability.ListsOutput{Code: linearizability.Code(res.Code)}
	if res.Code == fsm.OK {
		logged.Version = index
		if op.Input.Op != linearizability.EndSession {
			logged.Items, logged.HasItems = ListItems(res.Items()), true
		}
	}
	switch op.state {
	case opAnswered:
		switch {
		case op.out.Code == linearizability.CodeOK && res.Code != fsm.OK:
			return fmt.Errorf("client %d's %s was answered OK, but its entry %d in the log failed with %s", op.Client, describeInput(&op.Input), index, res.Code)
		case op.out.Code == linearizability.CodeOK && op.Input.Op == linearizability.EndSession:
			op.out.Version = index // the close's answer carries no index
		case op.out.Code == linearizability.CodeOK && op.out.Version != index:
			return fmt.Errorf("acknowledged write lost: client %d's %s was acknowledged at index %d, but the log has it at %d", op.Client, describeInput(&op.Input), op.out.Version, index)
		case op.out.Code != linearizability.CodeOK && op.out.Code != linearizability.Code(res.Code):
			return fmt.Errorf("client %d's %s was answered %s, but its entry %d in the log says %s", op.Client, describeInput(&op.Input), op.out.Code, index, res.Code)
		}
	case opUnknown:
		if op.NotApplied != "" {
			return fmt.Errorf("client %d's %s was answered Unavailable (%s), but the log has it at %d", op.Client, describeInput(&op.Input), op.NotApplied, index)
		}
		op.state, op.out = opResolved, logged
	}
	return nil
}

// notInPrefix settles an operation whose entry is not in a log known only
// through index through (ListsHistoryOfPrefix).
func (op *listsOp) notInPrefix(through uint64) error {
	switch {
	case op.Input.Op == linearizability.ReadList:
		if op.state != opAnswered {
			op.state = opDropped
		}
	case op.state == opAnswered && op.out.Code == linearizability.CodeOK && op.Input.Op == linearizability.EndSession:
		op.state = opUnknown // ended at an index past the prefix, which the answer does not give
	case op.state == opAnswered && op.out.Code == linearizability.CodeOK && op.out.Version <= through:
		return fmt.Errorf("acknowledged write lost: client %d's %s was acknowledged at index %d, which the committed log holds through %d, but it does not have it",
			op.Client, describeInput(&op.Input), op.out.Version, through)
	case op.state == opAnswered:
		// Its entry may be past the prefix: the answer stands.
	case op.NotApplied != "":
		op.state = opDropped
	default:
		// It may have committed past the prefix.
	}
	return nil
}

// notInLog settles an operation whose entry is not in the committed log.
func (op *listsOp) notInLog() error {
	switch {
	case op.Input.Op == linearizability.ReadList:
		if op.state != opAnswered {
			op.state = opDropped
		}
	case op.state == opAnswered && op.out.Code == linearizability.CodeOK:
		return fmt.Errorf("acknowledged write lost: client %d's %s was answered OK at %v, but the committed log does not have it", op.Client, describeInput(&op.Input), time.Duration(op.Return))
	case op.state == opAnswered && op.out.Code != linearizability.CodeSessionExpired:
		return fmt.Errorf("client %d's %s was answered %s at %v, an answer only applying its entry gives, but the committed log does not have it",
			op.Client, describeInput(&op.Input), op.out.Code, time.Duration(op.Return))
	case op.state == opAnswered:
		// SessionExpired from the node's own state, before the log: it
		// changed nothing.
	default:
		// Never committed: it never took effect.
		op.state = opDropped
	}
	return nil
}
