package linearizability

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/anishathalye/porcupine"
	"pgregory.net/rapid"
)

// This file holds sequential reference implementations of the two
// workloads, written independently of the models, and generators that turn
// them into histories: sequential ones for the property tests and
// concurrent-looking ones for the benchmark. Any history they produce is
// linearizable by construction, because each operation takes effect at one
// instant inside its [call, return] interval, in the order of those
// instants.

// chooser draws random numbers: from rapid in property tests, so that
// failures shrink, and from a seeded PRNG in benchmarks.
type chooser interface {
	intn(n int, label string) int
}

type rapidChooser struct{ t *rapid.T }

func (c rapidChooser) intn(n int, label string) int {
	return rapid.IntRange(0, n-1).Draw(c.t, label)
}

type seededChooser struct{ rng *rand.Rand }

func (c seededChooser) intn(n int, _ string) int { return c.rng.IntN(n) }

func newSeededChooser(seed uint64) seededChooser {
	return seededChooser{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// referenceKV is a key-value store applied one operation at a time.
type referenceKV struct {
	values map[string]string
	writes int
}

func (r *referenceKV) apply(in KVInput) KVOutput {
	current := r.values[in.Key]
	switch in.Op {
	case KVGet:
		return KVOutput{Value: current}
	case KVPut:
		r.values[in.Key] = in.Value
	case KVAppend:
		r.values[in.Key] = current + in.Value
	case KVCompareAndSwap:
		if current != in.Expected {
			return KVOutput{}
		}
		r.values[in.Key] = in.Value
		return KVOutput{Swapped: true}
	}
	return KVOutput{}
}

func (r *referenceKV) randomInput(c chooser, keys int) KVInput {
	key := fmt.Sprintf("k%d", c.intn(keys, "key"))
	r.writes++
	value := fmt.Sprintf("w%d.", r.writes) // unique, so that appends tell writes apart
	switch c.intn(4, "kv op") {
	case 0:
		return KVInput{Op: KVGet, Key: key}
	case 1:
		return KVInput{Op: KVPut, Key: key, Value: value}
	case 2:
		return KVInput{Op: KVAppend, Key: key, Value: value}
	default:
		expected := r.values[key]
		if c.intn(2, "cas mismatch") == 0 {
			expected = "never written"
		}
		return KVInput{Op: KVCompareAndSwap, Key: key, Value: value, Expected: expected}
	}
}

// referenceLists is Haven's data model applied one operation at a time, with
// a log index that session opens, writes and conditional writes refused when
// applied all consume, so that versions have gaps as in a real log.
type referenceLists struct {
	index    uint64
	lists    map[string]*referenceList
	ended    map[string]bool
	sessions []string // the live session of each client
	opened   int
}

type referenceList struct {
	items   []Item
	version uint64
}

func newReferenceLists(clients int) *referenceLists {
	r := &referenceLists{lists: make(map[string]*referenceList), ended: make(map[string]bool)}
	for range clients {
		r.sessions = append(r.sessions, r.newSession())
	}
	return r
}

func (r *referenceLists) newSession() string {
	r.opened++
	r.index++ // opening a session is a log entry too
	return fmt.Sprintf("s%d", r.opened)
}

func (r *referenceLists) list(path string) *referenceList {
	if r.lists[path] == nil {
		r.lists[path] = &referenceList{}
	}
	return r.lists[path]
}

func (r *referenceLists) apply(in ListsInput) ListsOutput {
	if in.Op == EndSession {
		if r.ended[in.Session] {
			return ListsOutput{Code: CodeSessionExpired}
		}
		r.index++
		r.ended[in.Session] = true
		for _, l := range r.lists {
			before := len(l.items)
			l.items = slices.DeleteFunc(l.items, func(item Item) bool { return item.Owner == in.Session })
			if len(l.items) != before {
				l.version = r.index
			}
		}
		return ListsOutput{Code: CodeOK, Version: r.index}
	}
	l := r.list(in.Path)
	if in.Op == ReadList {
		return ListsOutput{Code: CodeOK, Version: l.version, Items: slices.Clone(l.items)}
	}
	if r.ended[in.Session] {
		return ListsOutput{Code: CodeSessionExpired}
	}
	position := -1
	if in.Op != PushItem {
		position = slices.IndexFunc(l.items, func(item Item) bool { return item.Version == in.Item })
		if position < 0 {
			return ListsOutput{Code: CodeNotFound}
		}
		if l.items[position].Owner != in.Session {
			return ListsOutput{Code: CodeForbidden}
		}
	}
	if in.IfVersion != nil && *in.IfVersion != l.version {
		r.index++ // refused when applied: the entry is in the log all the same
		return ListsOutput{Code: CodeConflict}
	}
	r.index++
	switch in.Op {
	case PushItem:
		l.items = append(l.items, Item{Version: r.index, Owner: in.Session, Data: in.Data})
	case UpdateItem:
		l.items[position].Data = in.Data
	case DeleteItem:
		l.items = slices.Delete(l.items, position, position+1)
	}
	l.version = r.index
	return ListsOutput{Code: CodeOK, Version: r.index}
}

// randomInput draws a request of client from the current state, so that
// most updates and deletes target real items and most conditions hold.
func (r *referenceLists) randomInput(c chooser, client, paths int) ListsInput {
	path := fmt.Sprintf("/data/p%d", c.intn(paths, "path"))
	l := r.list(path)
	in := ListsInput{Path: path, Session: r.sessions[client], Data: fmt.Sprintf("d%d", r.index)}
	if c.intn(4, "conditional") == 0 {
		version := l.version
		if c.intn(3, "condition fails") == 0 {
			version++
		}
		in.IfVersion = &version
	}
	// Now and then a session acts as another's, to provoke Forbidden.
	if c.intn(10, "foreign session") == 0 {
		in.Session = r.sessions[c.intn(len(r.sessions), "foreign")]
	}
	switch op := c.intn(100, "op"); {
	case op < 40:
		in.Op = ReadList
	case op < 65:
		in.Op = PushItem
	case op < 97:
		in.Op = UpdateItem
		if op >= 81 {
			in.Op = DeleteItem
		}
		in.Item = r.index + 1 // nothing has that version yet: NotFound
		if len(l.items) > 0 && c.intn(5, "target missing") != 0 {
			in.Item = l.items[c.intn(len(l.items), "target")].Version
		}
	default:
		in.Op = EndSession
		in.Session = r.sessions[client]
	}
	return in
}

// afterApply lets a client whose session just ended open a new one.
func (r *referenceLists) afterApply(client int, in ListsInput) {
	if in.Op == EndSession && in.Session == r.sessions[client] {
		r.sessions[client] = r.newSession()
	}
}

// outcomeKind says how much the client of a generated operation learned.
type outcomeKind int

const (
	outcomeAnswered outcomeKind = iota
	outcomeUnknown              // nil output, infinite return
	outcomeResolved             // true output, infinite return
)

// sequentialListsHistory generates n operations by clients, one after
// another without overlap, applied to a reference in that order. unknownOneIn
// > 0 makes about one write in that many lose its answer: it then takes
// effect or not at random, and half of those are resolved afterwards. The
// reference comes back too, in its final state.
func sequentialListsHistory(c chooser, n, clients, paths, unknownOneIn int) ([]porcupine.Operation, *referenceLists) {
	ref := newReferenceLists(clients)
	var ops []porcupine.Operation
	for i := range n {
		client := c.intn(clients, "client")
		in := ref.randomInput(c, client, paths)
		op := porcupine.Operation{ClientId: client, Input: in, Call: int64(10 * i), Return: int64(10*i + 5)}
		kind := outcomeAnswered
		if in.Op != ReadList && unknownOneIn > 0 && c.intn(unknownOneIn, "unknown") == 0 {
			kind = outcomeKind(1 + c.intn(2, "resolved"))
		}
		if kind != outcomeAnswered && c.intn(2, "took effect") == 0 {
			// The request was lost before it reached the log.
			op.Output, op.Return = ListsOutput{Code: CodeUnavailable}, math.MaxInt64
			if kind == outcomeUnknown {
				op.Output = nil
			}
			ops = append(ops, op)
			continue
		}
		op.Output = ref.apply(in)
		ref.afterApply(client, in)
		if kind != outcomeAnswered {
			op.Return = math.MaxInt64
			if kind == outcomeUnknown {
				op.Output = nil
			}
		}
		ops = append(ops, op)
	}
	return ops, ref
}

// sequentialKVHistory is sequentialListsHistory for the key-value store.
func sequentialKVHistory(c chooser, n, keys, unknownOneIn int) []porcupine.Operation {
	ref := &referenceKV{values: make(map[string]string)}
	var ops []porcupine.Operation
	for i := range n {
		in := ref.randomInput(c, keys)
		op := porcupine.Operation{ClientId: i % 3, Input: in, Call: int64(10 * i), Return: int64(10*i + 5)}
		unknown := in.Op != KVGet && unknownOneIn > 0 && c.intn(unknownOneIn, "unknown") == 0
		if unknown {
			op.Return = math.MaxInt64
			if c.intn(2, "took effect") == 0 {
				ops = append(ops, op) // lost before it took effect
				continue
			}
		}
		out := ref.apply(in)
		if !unknown {
			op.Output = out
		}
		ops = append(ops, op)
	}
	return ops
}

// concurrentTimeline lays out n operations of clients on a time line: each
// client runs one operation at a time, with random gaps and durations, so
// that operations of different clients overlap. Each operation gets an
// instant strictly inside its interval at which it takes effect; the slots
// come back sorted by that instant.
type slot struct {
	client            int
	call, at, returns int64
}

func concurrentTimeline(c chooser, n, clients int) []slot {
	next := make([]int64, clients)
	slots := make([]slot, 0, n)
	for range n {
		client := c.intn(clients, "client")
		call := next[client] + int64(1+c.intn(20, "gap"))
		at := call + int64(1+c.intn(30, "latency"))
		returns := at + int64(1+c.intn(30, "latency"))
		next[client] = returns
		slots = append(slots, slot{client: client, call: call, at: at, returns: returns})
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].at < slots[j].at })
	return slots
}

// concurrentListsHistory applies operations at their instants, in order.
// lostOneIn > 0 makes about one write in that many lose its answer: half of
// those never reach the log, and half of all lost ones are resolved
// afterwards (as the simulator does from the committed log).
func concurrentListsHistory(c chooser, n, clients, paths, lostOneIn int) []porcupine.Operation {
	ref := newReferenceLists(clients)
	ops := make([]porcupine.Operation, 0, n)
	for _, s := range concurrentTimeline(c, n, clients) {
		in := ref.randomInput(c, s.client, paths)
		op := porcupine.Operation{ClientId: s.client, Input: in, Call: s.call, Return: s.returns}
		lost := in.Op != ReadList && lostOneIn > 0 && c.intn(lostOneIn, "lost") == 0
		if lost && c.intn(2, "took effect") == 0 {
			op.Output = ListsOutput{Code: CodeUnavailable}
		} else {
			op.Output = ref.apply(in)
			ref.afterApply(s.client, in)
		}
		if lost {
			op.Return = math.MaxInt64
			if c.intn(2, "resolved") == 0 {
				op.Output = nil
			}
		}
		ops = append(ops, op)
	}
	return ops
}

func concurrentKVHistory(c chooser, n, clients, keys int) []porcupine.Operation {
	ref := &referenceKV{values: make(map[string]string)}
	ops := make([]porcupine.Operation, 0, n)
	for _, s := range concurrentTimeline(c, n, clients) {
		in := ref.randomInput(c, keys)
		out := ref.apply(in)
		ops = append(ops, porcupine.Operation{ClientId: s.client, Input: in, Call: s.call, Output: out, Return: s.returns})
	}
	return ops
}
