package linearizability

import (
	"fmt"
	"math"
	"sync"

	"github.com/anishathalye/porcupine"
)

// OpID names an operation recorded in a History.
type OpID int

// History records the operations of a test run, as clients see them, for a
// linearizability check. It serves both hosts: the simulator calls it from
// one goroutine with virtual timestamps, real-cluster tests from many
// goroutines with real ones; the mutex makes the second safe and costs the
// first nothing that matters. Timestamps are whatever the caller's clock
// says, in any unit, as long as one history uses one clock.
//
// The zero History is empty and ready to use.
type History struct {
	mu          sync.Mutex
	records     []record
	annotations []Annotation
}

// outcome is what is known about how an operation ended.
type outcome uint8

const (
	// pending: begun, nothing more heard. Treated as unknown when checked.
	pending outcome = iota
	// answered: the client got an answer, at ret.
	answered
	// unknown: the client gave up (timeout, lost connection) without one.
	unknown
	// resolved: the client never learned the outcome, but the caller found
	// it out afterwards (the simulator, from the committed log).
	resolved
	// resolvedBy: resolved, and known to have taken effect by ret.
	resolvedBy
)

type record struct {
	client  int
	input   any
	call    int64
	output  any
	ret     int64
	outcome outcome
}

// Begin records that client invoked an operation at time at, and returns
// its id. client numbers the rows of the visualization, so it should be
// small and zero-based, and a client's operations should not overlap (they
// share a row).
func (h *History) Begin(client int, input any, at int64) OpID {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, record{client: client, input: input, call: at})
	return OpID(len(h.records) - 1)
}

// End records the answer the client got at time at. An answer that arrives
// after the client gave up (Unknown) or after the outcome was Resolve'd still
// counts: it is the best evidence there is. Ending an operation twice, or
// before it began, is a bug in the caller and panics.
func (h *History) End(id OpID, output any, at int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.record(id)
	if r.outcome == answered {
		panic(fmt.Sprintf("linearizability: operation %d ended twice", id))
	}
	if at < r.call {
		panic(fmt.Sprintf("linearizability: operation %d returns at %d, before its call at %d", id, at, r.call))
	}
	r.output, r.ret, r.outcome = output, at, answered
}

// Unknown records that the client will never learn the outcome (it timed out
// or lost its connection). The operation is checked as having returned at the
// end of time with a nil output: a write may or may not have taken effect, at
// any point after its call, and a read constrains nothing. An operation still
// pending when Operations is called is treated the same way; Unknown says so
// explicitly.
func (h *History) Unknown(id OpID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.record(id)
	if r.outcome == answered {
		panic(fmt.Sprintf("linearizability: operation %d already ended; it cannot become unknown", id))
	}
	r.outcome = unknown
}

// Resolve fills in the outcome of an operation whose client never learned
// it, from other knowledge: the simulator reads it from the committed log
// (the entry's index, or that the entry never committed). Its return time
// stays at the end of time, because the client saw none, but a known output
// pins the operation down and makes the check much faster than an unknown
// one, for which every placement must be tried. Resolving an operation whose
// client got an answer is a bug in the caller and panics.
func (h *History) Resolve(id OpID, output any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.record(id)
	if r.outcome == answered {
		panic(fmt.Sprintf("linearizability: operation %d already ended; only an unanswered one can be resolved", id))
	}
	r.output, r.outcome = output, resolved
}

// ResolveBy is Resolve for an outcome also known to have taken effect no
// later than time at: the operation is checked as returning at at, not at
// the end of time. A history builder that knows when the write's log entry
// had certainly committed (an answer the cluster gave for a later entry of
// the same log) gives it, which confines the operation to [call, at]
// instead of letting porcupine try it everywhere after its call. A bound
// before the call, or resolving an operation whose client got an answer, is
// a bug in the caller and panics.
func (h *History) ResolveBy(id OpID, output any, at int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.record(id)
	if r.outcome == answered {
		panic(fmt.Sprintf("linearizability: operation %d already ended; only an unanswered one can be resolved", id))
	}
	if at < r.call {
		panic(fmt.Sprintf("linearizability: operation %d resolved as done by %d, before its call at %d", id, at, r.call))
	}
	r.output, r.ret, r.outcome = output, at, resolvedBy
}

// Annotate records an annotation, for instance an injected fault, to draw in
// the visualization alongside the operations.
func (h *History) Annotate(annotation Annotation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.annotations = append(h.annotations, annotation)
}

// Annotations returns a copy of the annotations recorded so far.
func (h *History) Annotations() []Annotation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Annotation(nil), h.annotations...)
}

// Len returns the number of operations recorded so far.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.records)
}

// Operations returns the history in porcupine's form, one operation per
// Begin, in the order they began. Operations without an answer return at
// math.MaxInt64, later than everything else; their Metadata says why, and
// the visualization shows it.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := make([]porcupine.Operation, len(h.records))
	for i, r := range h.records {
		op := porcupine.Operation{ClientId: r.client, Input: r.input, Call: r.call}
		switch r.outcome {
		case answered:
			op.Output, op.Return = r.output, r.ret
		case resolved:
			op.Output, op.Return = r.output, math.MaxInt64
			op.Metadata = "client never learned the outcome; resolved afterwards"
		case resolvedBy:
			op.Output, op.Return = r.output, r.ret
			op.Metadata = "client never learned the outcome; resolved afterwards, done by the return shown"
		default:
			op.Output, op.Return = nil, math.MaxInt64
			op.Metadata = "outcome unknown"
		}
		ops[i] = op
	}
	return ops
}

// record returns the record of id; h.mu must be held.
func (h *History) record(id OpID) *record {
	if id < 0 || int(id) >= len(h.records) {
		panic(fmt.Sprintf("linearizability: no operation %d in this history", id))
	}
	return &h.records[id]
}
