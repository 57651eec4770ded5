package nemesis

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/netproto/client"
)

// listState is a list rebuilt from a watch stream.
type listState struct {
	version uint64
	items   []client.Item
}

func sameItems(a, b []client.Item) bool {
	return slices.EqualFunc(a, b, func(x, y client.Item) bool {
		return x.Version == y.Version && x.Owner == y.Owner && bytes.Equal(x.Data, y.Data)
	})
}

func sameEvent(a, b client.Event) bool {
	return a.Version == b.Version && a.Kind == b.Kind && sameItems([]client.Item{a.Item}, []client.Item{b.Item})
}

// apply is one event's change to the list; an error says the stream is
// inconsistent with itself.
func (s listState) apply(ev client.Event) (listState, error) {
	if ev.Version < s.version || (ev.Version == s.version && ev.Kind != client.KindDelete) {
		return s, fmt.Errorf("event %s @%d after list version %d", ev.Kind, ev.Version, s.version)
	}
	items := slices.Clone(s.items)
	i := slices.IndexFunc(items, func(it client.Item) bool { return it.Version == ev.Item.Version })
	switch ev.Kind {
	case client.KindPush:
		if i >= 0 || ev.Item.Version != ev.Version {
			return s, fmt.Errorf("push @%d of item %d: duplicate or misnumbered", ev.Version, ev.Item.Version)
		}
		items = append(items, ev.Item)
	case client.KindUpdate:
		if i < 0 {
			return s, fmt.Errorf("update @%d of missing item %d", ev.Version, ev.Item.Version)
		}
		items[i] = ev.Item
	case client.KindDelete:
		if i < 0 {
			return s, fmt.Errorf("delete @%d of missing item %d", ev.Version, ev.Item.Version)
		}
		items = slices.Delete(items, i, i+1)
	default:
		return s, fmt.Errorf("unexpected event kind %q", ev.Kind)
	}
	return listState{version: ev.Version, items: items}, nil
}

// verdicts is what the checks found; any failure fails the run.
type verdicts struct {
	failures []string
	notes    []string
}

func (v *verdicts) fail(format string, args ...any) {
	v.failures = append(v.failures, fmt.Sprintf(format, args...))
}
func (v *verdicts) note(format string, args ...any) {
	v.notes = append(v.notes, fmt.Sprintf(format, args...))
}

// checkWatches checks, per path, that the observer's stream is the
// sequence of changes to the path: self-consistent, ending in the final
// list, holding every acknowledged write at its index, and that every
// other watch saw exactly the same list and events from where it began.
func checkWatches(v *verdicts, observers map[string]*watchRec, watches []*watchRec, ops []*op, final map[string]client.List) {
	for _, path := range paths {
		obs := observers[path]
		if obs == nil || obs.reset {
			v.note("%s: observer watch reset or missing: watch streams of this path not checked", path)
			continue
		}
		states := []listState{{version: obs.version, items: obs.items}}
		cur := states[0]
		ok := true
		for _, ev := range obs.events {
			next, err := cur.apply(ev)
			if err != nil {
				v.fail("watch %s (observer): %v", path, err)
				ok = false
				break
			}
			cur = next
			states = append(states, cur)
		}
		if !ok {
			continue
		}
		if f := final[path]; cur.version != f.Version || !sameItems(cur.items, f.Items) {
			v.fail("watch %s (observer): the stream ends at v%d with %d items, the final read is v%d with %d items", path, cur.version, len(cur.items), f.Version, len(f.Items))
		}
		byVersion := map[uint64][]client.Event{}
		for _, ev := range obs.events {
			byVersion[ev.Version] = append(byVersion[ev.Version], ev)
		}
		for _, o := range ops {
			if o.in.Path != path || o.out == nil || o.out.Code != linearizability.CodeOK || o.in.Op == linearizability.ReadList {
				continue
			}
			if o.out.Version <= obs.version {
				continue
			}
			want := map[linearizability.ListOp]client.Kind{linearizability.PushItem: client.KindPush, linearizability.UpdateItem: client.KindUpdate, linearizability.DeleteItem: client.KindDelete}[o.in.Op]
			if !slices.ContainsFunc(byVersion[o.out.Version], func(ev client.Event) bool { return ev.Kind == want }) {
				v.fail("watch %s (observer): acknowledged %s by %s @%d has no %s event", path, o.in.Op, o.in.Session, o.out.Version, want)
			}
		}
		for _, w := range watches {
			if w.path != path || w.version < obs.version {
				continue
			}
			// The state the observer had at the watch's version.
			k := 0
			for k+1 < len(states) && states[k+1].version <= w.version {
				k++
			}
			if states[k].version != w.version || !sameItems(states[k].items, w.items) {
				v.fail("watch %s (row %d, %s): registered at v%d with %d items; the observer had v%d with %d items there", path, w.row, w.session, w.version, len(w.items), states[k].version, len(states[k].items))
				continue
			}
			rest := obs.events[k:]
			for i, ev := range w.events {
				if ev.Kind == client.KindReset {
					v.note("watch %s (row %d): reset after %d events; checked up to it", path, w.row, i)
					break
				}
				if i >= len(rest) || !sameEvent(ev, rest[i]) {
					v.fail("watch %s (row %d, %s): event %d is %s @%d item %d; the path's change there is %v", path, w.row, w.session, i, ev.Kind, ev.Version, ev.Item.Version, at(rest, i))
					break
				}
			}
		}
	}
}

func at(evs []client.Event, i int) string {
	if i >= len(evs) {
		return "none"
	}
	return fmt.Sprintf("%s @%d item %d", evs[i].Kind, evs[i].Version, evs[i].Item.Version)
}

// checkLost checks that after healing every acknowledged push of a live
// session is still there (unless its session deleted it) and every
// acknowledged delete is absent.
//
// A session the committed log (k, when complete) ended at or before the
// read's version of a path was not live for that read: a 500 ms session
// can expire between the client's last word and the read.
func checkLost(v *verdicts, ops []*op, sessions []*session, final map[string]client.List, k *known) {
	live := map[string]bool{}
	for _, s := range sessions {
		if s.how == "live" && !isExpired(s.client) {
			live[s.id] = true
		}
	}
	present := func(path string, version uint64) bool {
		return slices.ContainsFunc(final[path].Items, func(it client.Item) bool { return it.Version == version })
	}
	touched := map[string]map[uint64]bool{} // items a delete may have removed
	for _, o := range ops {
		if o.in.Op == linearizability.DeleteItem && (o.out == nil || o.out.Code == linearizability.CodeOK) {
			if touched[o.in.Path] == nil {
				touched[o.in.Path] = map[uint64]bool{}
			}
			touched[o.in.Path][o.in.Item] = true
		}
	}
	for _, o := range ops {
		if o.out == nil || o.out.Code != linearizability.CodeOK {
			continue
		}
		switch o.in.Op {
		case linearizability.PushItem:
			if k != nil {
				if end, ok := k.ends[o.in.Session]; ok && end.index <= final[o.in.Path].Version {
					continue
				}
			}
			if live[o.in.Session] && !touched[o.in.Path][o.out.Version] && !present(o.in.Path, o.out.Version) {
				v.fail("lost write: acknowledged push %s @%d by live session %s is missing", o.in.Path, o.out.Version, o.in.Session)
			}
		case linearizability.DeleteItem:
			if present(o.in.Path, o.in.Item) {
				v.fail("lost delete: acknowledged delete of %s item %d by %s, but the item is there", o.in.Path, o.in.Item, o.in.Session)
			}
		}
	}
}

// checkDead checks that no item of an ended session is left: final is
// read after every session ended and its ttl plus the bound passed.
func checkDead(v *verdicts, sessions []*session, final map[string]client.List) {
	ended := map[string]*session{}
	for _, s := range sessions {
		ended[s.id] = s
	}
	for path, l := range final {
		for _, it := range l.Items {
			if s, ok := ended[it.Owner]; ok {
				v.fail("dead session's item left: %s item %d of %s (%s, ttl %v)", path, it.Version, it.Owner, s.how, s.ttl)
			}
		}
	}
}

// expiryLags measures, from the observer's streams, how long after a
// session was abandoned its items went (the time the observer heard it).
func expiryLags(obsTimes map[string]map[uint64]time.Time, observers map[string]*watchRec, sessions []*session) (worst time.Duration, who string) {
	for _, s := range sessions {
		if s.how != "abandon" && s.how != "close-failed" {
			continue
		}
		for path, obs := range observers {
			for _, ev := range obs.events {
				if ev.Kind == client.KindDelete && ev.Item.Owner == s.id {
					if t, ok := obsTimes[path][ev.Version]; ok && t.Sub(s.death)-s.ttl > worst {
						worst, who = t.Sub(s.death)-s.ttl, s.id
					}
				}
			}
		}
	}
	return worst, who
}

// resolveEnd finds the index of the entry that ended session s from the
// observers' streams: deletions of its items at an index none of its own
// acknowledged deletes had. 0 when not exactly one such index exists.
func resolveEnd(s *session, observers map[string]*watchRec, ops []*op) uint64 {
	own := map[uint64]bool{}
	for _, o := range ops {
		if o.in.Session == s.id && o.in.Op == linearizability.DeleteItem {
			if o.out == nil {
				return 0 // an unknown delete could be confused with the end
			}
			if o.out.Code == linearizability.CodeOK {
				own[o.out.Version] = true
			}
		}
	}
	found := map[uint64]bool{}
	for _, obs := range observers {
		if obs == nil || obs.reset {
			return 0
		}
		for _, ev := range obs.events {
			if ev.Kind == client.KindDelete && ev.Item.Owner == s.id && !own[ev.Version] {
				found[ev.Version] = true
			}
		}
	}
	if len(found) != 1 {
		return 0
	}
	for v := range found {
		return v
	}
	return 0
}

// buildHistory makes the linearizability History: every operation, and
// one EndSession per ended session.
//
// A push or update whose client never learned the outcome is resolved from
// the observer of its path when that stream is complete (complete: it
// reached the final read's version with no reset): every write's data is
// unique, so the event carrying it gives its index, and no such event means
// it never committed. That pins down what would otherwise double the search.
//
// The committed log (k), when complete, decides first: the entry of the
// write, or none. It also says how each session ended, which narrows the
// end's call: an expiry is called when its leader decided it (decided),
// a close when the client sent it (had the session expired first, the
// log says so).
func buildHistory(r *recorder, observers map[string]*watchRec, tl []fault, extraRow int, complete bool, k *known, decided map[string]time.Time) (*linearizability.History, map[string]int) {
	h := &linearizability.History{}
	counts := map[string]int{}
	ts := func(t time.Time) int64 { return int64(t.Sub(r.t0)) }
	for _, o := range r.ops {
		id := h.Begin(o.row, o.in, ts(o.call))
		if o.out != nil {
			h.End(id, *o.out, ts(o.ret))
			continue
		}
		h.Unknown(id)
		if out, ok := k.resolve(o.in); ok {
			h.Resolve(id, out)
			counts["resolved from the committed log "+o.in.Op.String()]++
			continue
		}
		obs := observers[o.in.Path]
		if !complete || obs == nil || obs.reset || (o.in.Op != linearizability.PushItem && o.in.Op != linearizability.UpdateItem) {
			counts["unknown "+o.in.Op.String()]++
			continue
		}
		kind := client.KindPush
		if o.in.Op == linearizability.UpdateItem {
			kind = client.KindUpdate
		}
		i := slices.IndexFunc(obs.events, func(ev client.Event) bool { return ev.Kind == kind && string(ev.Item.Data) == o.in.Data })
		if i >= 0 {
			h.Resolve(id, linearizability.ListsOutput{Code: linearizability.CodeOK, Version: obs.events[i].Version})
			counts["resolved committed "+o.in.Op.String()]++
		} else {
			h.Resolve(id, linearizability.ListsOutput{Code: linearizability.CodeUnavailable})
			counts["resolved never committed "+o.in.Op.String()]++
		}
	}
	for i, s := range r.sessions {
		if s.how == "live" {
			continue
		}
		in := linearizability.ListsInput{Op: linearizability.EndSession, Session: s.id}
		// The end may have come before the client closed or dropped the
		// session (a 500 ms ttl can run out unnoticed, and Close then
		// answers OK): its call is the session's start, which is sound;
		// the resolved index pins it down.
		call := s.start
		if k != nil {
			end, ok := k.ends[s.id]
			switch {
			case ok && end.expired && !decided[s.id].IsZero():
				call = decided[s.id]
			case ok && !end.expired && !s.endCall.IsZero() && (s.how == "close" || s.how == "close-failed"):
				call = s.endCall
			}
		}
		id := h.Begin(extraRow+i%8, in, ts(call))
		v := resolveEnd(s, observers, r.ops)
		if k != nil && k.complete {
			v = k.ends[s.id].index
		}
		if v == 0 {
			counts["unresolved session end"]++
		} else {
			counts["resolved session end"]++
		}
		switch {
		case v == 0:
			h.Unknown(id)
		case s.how == "close":
			h.End(id, linearizability.ListsOutput{Code: linearizability.CodeOK, Version: v}, ts(s.endRet))
		default:
			h.Resolve(id, linearizability.ListsOutput{Code: linearizability.CodeOK, Version: v})
		}
	}
	for _, f := range tl {
		h.Annotate(linearizability.Annotation{Start: ts(f.Start), End: ts(f.End), Text: f.Text, Color: "#ff9191"})
	}
	return h, counts
}
