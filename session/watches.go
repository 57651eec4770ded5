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
	if req.MaxListBytes > 0 {
		if n := listBytes(items); n > req.MaxListBytes {
			c.fail(req, fsm.TooLarge, "the list's %d items take about %d bytes, more than an answer may carry (%d)", len(items), n, req.MaxListBytes)
			return
		}
	}
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
	// One entry's events at a time (they share its index).
	for start := 0; start < len(replay) && replay[start].Version <= version; {
		end := start + 1
		for end < len(replay) && replay[end].Version == replay[start].Version {
			end++
		}
		c.deliver(req.Conn, replay[start:end])
		start = end
	}
}

// listBytes is about the encoded size of items: their data and owner, and
// 56 bytes each for the rest of an item's MessagePack map (Request's
// MaxListBytes).
func listBytes(items []fsm.Item) int {
	n := 0
	for i := range items {
		n += 56 + len(items[i].Owner) + len(items[i].Data)
	}
	return n
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
			c.deliver(id, events[start:end])
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
// resume with `since`: perPath events a list, for the maxPaths lists
// changed most recently. Beyond that the least recently changed list's
// events are dropped, so that memory follows the lists in use and not every
// list ever written (a push-heavy workload writes lists by the million);
// dropped remembers the newest event dropped so, and a watch resuming
// below it on a list with no retained events, or on one retained anew
// since, is answered `reset`.
type history struct {
	perPath, maxPaths int
	// floor is the index from which this node has seen every event: the
	// snapshot it started from. Events at or below it were never seen.
	floor uint64
	// dropped is the version of the newest event of a list dropped whole.
	dropped uint64
	lists   map[string]*pathHistory
	// oldest and newest end the lists in order of their last change.
	oldest, newest *pathHistory
}

type pathHistory struct {
	path   string
	events []fsm.Event // oldest first, at most perPath
	// evicted is the version of the newest event dropped from events.
	evicted uint64
	// older and newer link the lists in order of their last change.
	older, newer *pathHistory
}

func newHistory(perPath, maxPaths int) history {
	return history{perPath: perPath, maxPaths: maxPaths, lists: map[string]*pathHistory{}}
}

func (h *history) reset(floor uint64) {
	h.floor, h.dropped = floor, 0
	h.lists = map[string]*pathHistory{}
	h.oldest, h.newest = nil, nil
}

func (h *history) add(events []fsm.Event) {
	for _, ev := range events {
		ph := h.lists[ev.Path]
		if ph == nil {
			// Its events up to dropped may have been dropped with it.
			ph = &pathHistory{path: ev.Path, evicted: h.dropped}
			h.lists[ev.Path] = ph
		} else {
			h.unlink(ph)
		}
		h.link(ph)
		if len(ph.events) >= h.perPath {
			ph.evicted = ph.events[0].Version
			ph.events = append(ph.events[:0], ph.events[1:]...)
		}
		ph.events = append(ph.events, ev)
	}
	for len(h.lists) > h.maxPaths {
		ph := h.oldest
		h.unlink(ph)
		delete(h.lists, ph.path)
		h.dropped = max(h.dropped, ph.events[len(ph.events)-1].Version)
	}
}

// link makes ph the most recently changed list.
func (h *history) link(ph *pathHistory) {
	ph.older, ph.newer = h.newest, nil
	if h.newest != nil {
		h.newest.newer = ph
	} else {
		h.oldest = ph
	}
	h.newest = ph
}

// unlink takes ph out of the order of last change.
func (h *history) unlink(ph *pathHistory) {
	if ph.older != nil {
		ph.older.newer = ph.newer
	} else {
		h.oldest = ph.newer
	}
	if ph.newer != nil {
		ph.newer.older = ph.older
	} else {
		h.newest = ph.older
	}
	ph.older, ph.newer = nil, nil
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
		// No retained event: none after since, unless a dropped list's
		// were (this one's among them, perhaps).
		return nil, since >= h.dropped
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
