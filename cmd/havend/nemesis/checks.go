package nemesis

import (
	"fmt"
	"slices"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/netproto/client"
)

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

// checkRegistrations checks what linearizability/history's watch checker
// does not: that every watch registration (and every reset) was answered
// with the list as the committed log has it at the version answered
// (PROTOCOL.md, "Watches": the answer is the list's current items and
// version). Registrations past the log's last index are not judged.
func checkRegistrations(v *verdicts, log []history.Entry, watches []*watchRec) {
	type listAt struct {
		version uint64
		items   []fsm.Item
	}
	lists := map[string][]listAt{}
	m := fsm.New(fsm.Options{})
	for _, e := range log {
		if e.Type == "confchange" {
			continue
		}
		_, events := m.Apply(e.Index, e.Data)
		for _, ev := range events {
			if l := lists[ev.Path]; len(l) == 0 || l[len(l)-1].version != e.Index {
				items, version := m.Read(ev.Path)
				lists[ev.Path] = append(lists[ev.Path], listAt{version, slices.Clone(items)})
			}
		}
	}
	last := uint64(len(log))
	check := func(w *watchRec, version uint64, items []client.Item, what string) bool {
		if version > last {
			return true
		}
		var want []fsm.Item
		if version > 0 {
			l := lists[w.path]
			i := slices.IndexFunc(l, func(x listAt) bool { return x.version == version })
			if i < 0 {
				v.fail("watch %s (row %d, %s): %s answered version %d, at which the committed log did not change the list", w.path, w.row, w.session, what, version)
				return false
			}
			want = l[i].items
		}
		same := slices.EqualFunc(items, want, func(a client.Item, b fsm.Item) bool {
			return a.Version == b.Version && a.Modified == b.Modified && a.Owner == b.Owner && string(a.Data) == b.Data
		})
		if !same {
			v.fail("watch %s (row %d, %s): %s answered version %d with %d items; the committed log's list there has %d", w.path, w.row, w.session, what, version, len(items), len(want))
		}
		return same
	}
	for _, w := range watches {
		if w == nil || !check(w, w.version, w.items, "the registration") {
			continue
		}
		for _, ev := range w.events {
			if ev.Kind == client.KindReset && !check(w, ev.Version, ev.Items, "a reset") {
				break
			}
		}
	}
}
