package nemesis

import (
	"fmt"
	"slices"

	"github.com/havenproject/haven/linearizability"
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
