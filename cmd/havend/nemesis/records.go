package nemesis

import (
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/netproto/client"
)

// The run as a history in linearizability/history's format, the one the
// simulator writes: the verdicts on watches, dead sessions, false expiries
// and linearizability are that package's checkers over these records (no
// copies of them here), and the records are written as history.jsonl.
//
// What a real cluster cannot give exactly, and what stands in for it:
//   - Times are the recorder's wall clock, nanoseconds since the run's t0
//     (the simulator's are virtual). The clients and havend read the same
//     machine clock.
//   - Entries carry no commit time (At 0, "not recorded"): the committed
//     log is read from dumps taken every few seconds, which bound when an
//     entry committed only to within seconds. So the watch checker does
//     not hold deliveries to commit times here.
//   - A session's EndedAt is the earliest an observer received an event of
//     the entry that ended it (an upper bound on the commit: conservative
//     for the dead-session check), else, for a close answered OK, the
//     answer, else, for an expiry, the time its leader decided it (a lower
//     bound, short by the commit's latency), else unknown (not checked).
//   - The client library resumes a watch across reconnects itself (with
//     since, dropping repeats), so a worker's or observer's watch is one
//     stream on one connection as the user sees it; a reset the library
//     reports is a registration answered reset; the end of the stream
//     (its client closed, dropped or expired) is a stop.
//   - The log is the truth only as far as the WALs recorded commits:
//     acknowledged writes and deliveries past its last index (the second
//     barrier write, at most) are recorded as outcomes never learned and
//     left out.
//   - When the dumps do not make a whole log (partial), the log is its
//     prefix from index 1 to the first gap: deliveries past it are left
//     out as above, but acknowledged writes past it keep their answers,
//     for history.ListsHistoryOfPrefix, which judges only the prefix by
//     the log (so such a history is read with that, not ListsHistory).

// recordInputs is what buildRecords reads besides the recorder.
type recordInputs struct {
	observers []*watchRec // one per path, in paths order (nil: missing)
	log       []history.Entry
	k         *known
	// pingExpiry are the ping and expiry records (checkExpiries).
	pingExpiry []history.Record
	// decided is when each expired session's end was decided.
	decided map[string]time.Time
	// partial says log is only the committed log's prefix (k.complete is
	// false): the records are for history.ListsHistoryOfPrefix.
	partial bool
}

// buildRecords makes the run's history. The caller holds r.mu and the
// observers' lock.
func buildRecords(r *recorder, in recordInputs) []history.Record {
	ns := func(t time.Time) int64 { return int64(t.Sub(r.t0)) }
	k := in.k
	var recs []history.Record
	for i := range in.log {
		recs = append(recs, history.Record{Entry: &in.log[i]})
	}
	last := k.last
	for _, o := range r.ops {
		rec := &history.Op{Client: o.row, Call: ns(o.call), Return: ns(o.ret), Input: o.in, Output: o.out}
		if o.out != nil && o.out.Code == linearizability.CodeOK && o.in.Op != linearizability.ReadList && o.out.Version > last && !in.partial {
			rec.Output = nil // past the log's last recorded commit: not judged
		}
		if rec.Output == nil {
			rec.Return = -1
		}
		recs = append(recs, history.Record{Op: rec})
	}
	// A client's close is an operation too. client.Close answers nil when
	// the node says the session had already expired (a 500 ms ttl can run
	// out unnoticed): when the log says so, that close's answer is
	// SessionExpired, which changed nothing.
	for _, s := range r.sessions {
		if s.how != "close" && s.how != "close-failed" {
			continue
		}
		rec := &history.Op{Client: s.row, Call: ns(s.endCall), Return: -1,
			Input: linearizability.ListsInput{Op: linearizability.EndSession, Session: s.id}}
		if s.how == "close" {
			rec.Return = ns(s.endRet)
			rec.Output = &linearizability.ListsOutput{Code: linearizability.CodeOK}
			if end, ok := k.ends[s.id]; ok && end.expired {
				rec.Output.Code = linearizability.CodeSessionExpired
			}
		}
		recs = append(recs, history.Record{Op: rec})
	}
	seen := endSeen(in.observers, k)
	for _, s := range r.sessions {
		rec := &history.Session{ID: s.id, Client: s.row, TTLms: uint64(s.ttl / time.Millisecond),
			Opened: k.opened[s.id], OpenedAt: ns(s.opened)}
		if end, ok := k.ends[s.id]; ok {
			rec.Ended, rec.Expired = end.index, end.expired
			switch t, observed := seen[end.index]; {
			case observed:
				rec.EndedAt = ns(t)
			case s.how == "close" && !end.expired:
				rec.EndedAt = ns(s.endRet)
			case end.expired && !in.decided[s.id].IsZero():
				rec.EndedAt = ns(in.decided[s.id])
			}
		}
		recs = append(recs, history.Record{Session: rec})
	}
	recs = append(recs, in.pingExpiry...)
	conn := uint64(0)
	streams := append(append([]*watchRec(nil), r.watches...), in.observers...)
	for _, w := range streams {
		if w == nil {
			continue
		}
		conn++
		recs = append(recs, watchRecords(w, conn, last, ns)...)
	}
	return recs
}

// watchRecords is one watch stream: its registration, its deliveries in
// the order received (a reset as a registration answered reset), and its
// stop if it ended; deliveries past the log's last index are left out.
func watchRecords(w *watchRec, conn, last uint64, ns func(time.Time) int64) []history.Record {
	reg := func(at time.Time, version uint64) *history.Watch {
		return &history.Watch{Client: w.row, Conn: conn, Session: w.session, Path: w.path, At: ns(at), Version: version}
	}
	out := []history.Record{{Watch: reg(w.at, w.version)}}
	seen := w.version
	for i, ev := range w.events {
		if ev.Version > last {
			break
		}
		at := w.times[i]
		if ev.Kind == client.KindReset {
			r := reg(at, ev.Version)
			since := seen
			r.Since, r.Reset = &since, true
			out = append(out, history.Record{Watch: r})
			seen = ev.Version
			continue
		}
		out = append(out, history.Record{Delivery: &history.Delivery{Client: w.row, Conn: conn, Path: w.path, At: ns(at),
			Kind: string(ev.Kind), Version: ev.Version, Item: ev.Item.Version,
			Owner: ev.Item.Owner, Modified: ev.Item.Modified, Data: ev.Item.Data}})
		seen = ev.Version
	}
	if !w.stopped.IsZero() {
		r := reg(w.stopped, 0)
		r.Stop = true
		out = append(out, history.Record{Watch: r})
	}
	return out
}

// endSeen maps the index of every session end in the log to the earliest
// time an observer received an event of it.
func endSeen(observers []*watchRec, k *known) map[uint64]time.Time {
	ends := map[uint64]bool{}
	for _, e := range k.ends {
		ends[e.index] = true
	}
	out := map[uint64]time.Time{}
	for _, w := range observers {
		if w == nil {
			continue
		}
		for i, ev := range w.events {
			if ev.Kind != client.KindDelete || !ends[ev.Version] {
				continue
			}
			if t, ok := out[ev.Version]; !ok || w.times[i].Before(t) {
				out[ev.Version] = w.times[i]
			}
		}
	}
	return out
}
