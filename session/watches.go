package session

import (
	"slices"

	"github.com/havenproject/haven/fsm"
)

// Watches (PROTOCOL.md, "Watches"): a watch answers with the list's items
// and version, then delivers every later change to the list, in log order,
// with no gaps and no duplicates, until unwatch or the session ends. A
// watch registered with `since` first gets the retained events after
// `since`, or `reset: true` when they are no longer retained.
//
// Watches live on the node the client is connected to; after a reconnect
// the client registers them again with `since` (client libraries do this).

// watch is one connection's watch of one path.
type watch struct {
	// after is the version of the last change this watcher has been given
	// (in the registration answer or as an event); only later changes are
	// delivered, which rules out duplicates.
	after uint64
}

func (c *Core) watch(req *Request, cn *conn) {
	if req.Since != nil && *req.Since > c.fsm.AppliedIndex() {
		// PROTOCOL.md: "A node answers a watch with since only once it has
		// applied at least through since." Answering now would give an
		// older list, and the events up to since would never come.
		c.reads.waitApplied(c, req, *req.Since)
		return
	}
	c.register(req, cn)
}

// watchApplied registers a watch that waited for this node to apply
// through its since, if its connection and session are still there.
func (c *Core) watchApplied(req *Request) {
	cn := c.conns[req.Conn]
	if cn == nil {
		return
	}
	if _, alive := c.fsm.Session(cn.session); !alive {
		c.fail(req, fsm.SessionExpired, "session %s has ended", cn.session)
		return
	}
	c.register(req, cn)
}

// register answers a watch with the list and starts its events.
func (c *Core) register(req *Request, cn *conn) {
	items, version := c.fsm.Read(req.Path)
	w := &watch{after: version}
	reply := Reply{Conn: req.Conn, ID: req.ID, Op: req.Op, Items: items, Version: version}
	var replay []fsm.Event
	if req.Since != nil {
		since := *req.Since
		if events, ok := c.history.since(req.Path, since); ok {
			replay = events
			w.after = max(since, version)
		} else {
			reply.Reset = true
		}
	}
	if old := cn.watches[req.Path]; old == nil {
		c.addWatcher(req.Path, req.Conn)
	}
	cn.watches[req.Path] = w
	c.reply(reply)
	for _, ev := range replay {
		if ev.Version <= version {
			c.deliver(req.Conn, ev)
		}
	}
}

func (c *Core) addWatcher(path string, id ConnID) {
	set := c.watchers[path]
	if i, found := slices.BinarySearch(set, id); !found {
		c.watchers[path] = slices.Insert(set, i, id)
	}
}

func (c *Core) removeWatcher(path string, id ConnID) {
	set := c.watchers[path]
	i, found := slices.BinarySearch(set, id)
	if !found {
		return
	}
	set = slices.Delete(set, i, i+1)
	if len(set) == 0 {
		delete(c.watchers, path)
		return
	}
	c.watchers[path] = set
}

// publish records the events of one entry and hands them to watchers.
// Events of one entry share its index as their version, so a watcher's
// `after` moves once the whole entry is delivered.
func (c *Core) publish(index uint64, events []fsm.Event) {
	if len(events) == 0 {
		return
	}
	c.history.add(events)
	// The events of one entry come sorted by path: deliver each path's
	// run of events, then move its watchers past this entry.
	for start := 0; start < len(events); {
		path := events[start].Path
		end := start + 1
		for end < len(events) && events[end].Path == path {
			end++
		}
		set := c.watchers[path]
		for _, id := range set {
			w := c.conns[id].watches[path]
			if w == nil || w.after >= index {
				continue
			}
			for _, ev := range events[start:end] {
				c.deliver(id, ev)
			}
			w.after = index
		}
		start = end
	}
}

// endSessionWatches drops the watches of every connection of a session
// that ended. It runs before the events of the ending entry are published,
// so a session's own watchers do not receive the deletions of its own
// items: watches last "for as long as the session lives" (PROTOCOL.md), and
// the simulator's watch checker holds the core to exactly that.
func (c *Core) endSessionWatches(session string) {
	// Only watcher sets change here, and their order is kept by id, so
	// the connections can be visited in any order.
	for id, cn := range c.conns {
		if cn.session != session {
			continue
		}
		for path := range cn.watches {
			c.removeWatcher(path, id)
		}
		cn.watches = map[string]*watch{}
	}
}

func sortedConnIDs(conns map[ConnID]*conn) []ConnID {
	ids := make([]ConnID, 0, len(conns))
	for id := range conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// history keeps the most recent events of each list, for watches that
// resume with `since`.
type history struct {
	perPath int
	// floor is the index from which this node has seen every event: the
	// snapshot it started from. Events at or below it were never seen.
	floor uint64
	lists map[string]*pathHistory
}

type pathHistory struct {
	events []fsm.Event // oldest first, at most perPath
	// evicted is the version of the newest event dropped from events.
	evicted uint64
}

func newHistory(perPath int) history {
	return history{perPath: perPath, lists: map[string]*pathHistory{}}
}

func (h *history) reset(floor uint64) {
	h.floor = floor
	h.lists = map[string]*pathHistory{}
}

func (h *history) add(events []fsm.Event) {
	for _, ev := range events {
		ph := h.lists[ev.Path]
		if ph == nil {
			ph = &pathHistory{}
			h.lists[ev.Path] = ph
		}
		if len(ph.events) >= h.perPath {
			ph.evicted = ph.events[0].Version
			ph.events = append(ph.events[:0], ph.events[1:]...)
		}
		ph.events = append(ph.events, ev)
	}
}

// since returns the retained events of path after version since, and
// whether they are all the events after it (none was evicted or predates
// what this node has seen).
func (h *history) since(path string, since uint64) ([]fsm.Event, bool) {
	if since < h.floor {
		return nil, false
	}
	ph := h.lists[path]
	if ph == nil {
		return nil, true
	}
	if since < ph.evicted {
		return nil, false
	}
	var out []fsm.Event
	for _, ev := range ph.events {
		if ev.Version > since {
			out = append(out, ev)
		}
	}
	return out, true
}
