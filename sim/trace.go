package sim

import (
	"bufio"
	"io"
	"strconv"
	"time"
)

// tracer writes the event trace: one line per event, plus notes for what the
// host saw happen (elections, crashes, faults, failures). It exists only when
// a trace is asked for; the run's hash, which the determinism test compares,
// is computed whether or not it does, so tracing never changes a run.
type tracer struct {
	out *bufio.Writer
	buf []byte
}

func newTracer(w io.Writer) *tracer {
	return &tracer{out: bufio.NewWriterSize(w, 1<<16)}
}

func (t *tracer) flush() { t.out.Flush() }

func appendTime(b []byte, d time.Duration) []byte {
	// Seconds with microseconds, padded so that lines line up.
	us := int64(d / time.Microsecond)
	sec := us / 1e6
	for width := int64(1000); width > 1 && sec < width; width /= 10 {
		b = append(b, ' ')
	}
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	frac := us % 1e6
	for div := int64(1e5); div > 0; div /= 10 {
		b = append(b, byte('0'+frac/div%10))
	}
	return b
}

func (t *tracer) note(at time.Duration, text string) {
	b := appendTime(t.buf[:0], at)
	b = append(b, " # "...)
	b = append(b, text...)
	b = append(b, '\n')
	t.out.Write(b)
	t.buf = b
}

func (t *tracer) event(w *World, ev *event) {
	b := appendTime(t.buf[:0], ev.at)
	b = append(b, ' ')
	b = append(b, ev.kind.String()...)
	switch ev.kind {
	case evTick, evFsync, evRestart, evResume:
		b = append(b, " n"...)
		b = strconv.AppendInt(b, int64(ev.node)+1, 10)
	case evDeliver:
		m := &w.msgs.items[ev.ref]
		if m.service != nil {
			kind, id := serviceMessageKind(m.service)
			b = append(b, ' ')
			b = append(b, kind...)
			b = append(b, " n"...)
			b = strconv.AppendUint(b, uint64(m.From), 10)
			b = append(b, "->n"...)
			b = strconv.AppendUint(b, uint64(m.To), 10)
			b = append(b, " id="...)
			b = strconv.AppendUint(b, id, 10)
			break
		}
		b = append(b, ' ')
		b = append(b, m.Type.String()...)
		b = append(b, " n"...)
		b = strconv.AppendUint(b, uint64(m.From), 10)
		b = append(b, "->n"...)
		b = strconv.AppendUint(b, uint64(m.To), 10)
		b = append(b, " term="...)
		b = strconv.AppendUint(b, m.Term, 10)
		b = append(b, " index="...)
		b = strconv.AppendUint(b, m.Index, 10)
		b = append(b, " logterm="...)
		b = strconv.AppendUint(b, m.LogTerm, 10)
		b = append(b, " commit="...)
		b = strconv.AppendUint(b, m.Commit, 10)
		if len(m.Entries) > 0 {
			b = append(b, " entries="...)
			b = strconv.AppendInt(b, int64(len(m.Entries)), 10)
		}
		if m.Reject {
			b = append(b, " reject hint="...)
			b = strconv.AppendUint(b, m.RejectHint, 10)
		}
		if m.Snapshot != nil {
			b = append(b, " snapshot="...)
			b = strconv.AppendUint(b, m.Snapshot.Meta.Index, 10)
		}
	case evToNode:
		r := &w.rpcs.items[ev.ref]
		b = append(b, " c"...)
		b = strconv.AppendInt(b, int64(r.client), 10)
		b = append(b, "->n"...)
		b = strconv.AppendInt(b, int64(r.node)+1, 10)
		b = append(b, ' ')
		b = appendPayload(b, r.payload)
	case evToClient:
		r := &w.rpcs.items[ev.ref]
		b = append(b, " n"...)
		b = strconv.AppendInt(b, int64(r.node)+1, 10)
		b = append(b, "->c"...)
		b = strconv.AppendInt(b, int64(r.client), 10)
		b = append(b, ' ')
		b = appendPayload(b, r.payload)
	case evClientWake:
		b = append(b, " c"...)
		b = strconv.AppendInt(b, int64(ev.ref), 10)
		b = append(b, " token="...)
		b = strconv.AppendUint(b, ev.aux, 10)
	case evFault, evFaultStep:
		b = append(b, " #"...)
		b = strconv.AppendInt(b, int64(ev.ref), 10)
		b = append(b, ' ')
		b = append(b, w.schedule[ev.ref].Kind.String()...)
	}
	b = append(b, '\n')
	t.out.Write(b)
	t.buf = b
}

// Traceable is a client request or reply that can describe itself in a
// trace line (Config.Trace): a workload's payloads implement it, or the
// trace shows them as "?".
type Traceable interface {
	// AppendTrace appends the payload's description to b.
	AppendTrace(b []byte) []byte
}

func appendPayload(b []byte, p any) []byte {
	if t, ok := p.(Traceable); ok {
		return t.AppendTrace(b)
	}
	return append(b, '?')
}
