package history

import (
	"cmp"
	"fmt"
	"slices"
	"sort"

	"github.com/havenproject/haven/fsm"
)

// Watches is the watch checker. PROTOCOL.md, "Watches": a watch delivers
// "an event for each later change to that list, in log order, with no gaps
// and no duplicates", for as long as the session lives. So each event a
// client receives must be the very next change to its list in the
// committed log after the last one it saw, and must not come before its
// entry committed; where a stream starts is set by its registration's
// answer: after the answer's version, or after `since` when the server
// resumed from it, or after the answer's version again when it answered
// reset.
//
// It checks as it is fed, so a host can call it online (the simulator
// does) or replay a recorded history ([CheckWatches]): Committed and Ended
// with the committed log as it grows, Register and Deliver with the
// client's watch records as they happen, Complete at the end.
type Watches struct {
	changes map[string][]change
	through uint64
	ends    map[string]uint64
	streams map[streamKey]*stream
	n       int
}

type change struct {
	ev fsm.Event
	at int64
}

type streamKey struct {
	client int
	path   string
}

type stream struct {
	conn    uint64
	session string
	// next is the position, in the list's changes, of the event due next.
	next int
}

// NewWatches returns a watch checker that has seen no log.
func NewWatches() *Watches {
	return &Watches{changes: map[string][]change{}, ends: map[string]uint64{}, streams: map[streamKey]*stream{}}
}

// Committed takes the committed entry at index, in index order, with its
// changes to lists (what fsm.Machine.Apply returns; none for a
// configuration change) and when the recorder knew it committed (0: not
// recorded).
func (w *Watches) Committed(index uint64, at int64, events []fsm.Event) {
	w.through = max(w.through, index)
	for _, ev := range events {
		w.changes[ev.Path] = append(w.changes[ev.Path], change{ev: ev, at: at})
	}
}

// Ended says the entry at index ended the session: its watches are due
// the changes before that index only.
func (w *Watches) Ended(session string, index uint64) { w.ends[session] = index }

// Delivered is how many events were checked and found right.
func (w *Watches) Delivered() int { return w.n }

// Register takes a watch record: a registration answered OK starts the
// client's stream of its path (replacing one it had), a Stop ends it.
//
// A registration with since is wrong if its answer shows the list older
// than it was at since: PROTOCOL.md, "A node answers a watch with since
// only once it has applied at least through since", so the list it
// answers with is at least the list as of since — its version no lower
// than the last change to the list at or before since, reset or not.
// The stream still starts where the answer says.
func (w *Watches) Register(r Watch) error {
	key := streamKey{r.Client, r.Path}
	if r.Stop {
		delete(w.streams, key)
		return nil
	}
	from := r.Version
	if r.Since != nil && !r.Reset {
		from = *r.Since
	}
	chs := w.changes[r.Path]
	next := sort.Search(len(chs), func(i int) bool { return chs[i].ev.Version > from })
	w.streams[key] = &stream{conn: r.Conn, session: r.Session, next: next}
	if r.Since == nil {
		return nil
	}
	since := *r.Since
	if at := sort.Search(len(chs), func(i int) bool { return chs[i].ev.Version > since }); at > 0 && r.Version < chs[at-1].ev.Version {
		return fmt.Errorf("client %d's watch of %s with since %d on connection %d was answered with the list at version %d (reset %t), "+
			"older than the list at since (changed last at %d, %s): the node answered before it had applied through since",
			r.Client, r.Path, since, r.Conn, r.Version, r.Reset, chs[at-1].ev.Version, Describe(&chs[at-1].ev))
	}
	return nil
}

// Describe says what a change is, as the checkers' messages do.
func Describe(ev *fsm.Event) string {
	return fmt.Sprintf("%s of item %d (owner %s, modified %d) at %d", ev.Kind, ev.Item.Version, ev.Item.Owner, ev.Item.Modified, ev.Version)
}

// Event is the change a delivery says happened.
func (d *Delivery) Event() fsm.Event {
	return fsm.Event{Path: d.Path, Version: d.Version, Kind: fsm.EventKind(d.Kind),
		Item: fsm.Item{Version: d.Item, Modified: d.Modified, Owner: d.Owner, Data: string(d.Data)}}
}

// matches says whether a delivered event is the change ev: in full, or,
// if !full, in path, index, kind and item version.
func matches(d, ev *fsm.Event, full bool) bool {
	if d.Path != ev.Path || d.Version != ev.Version || d.Kind != ev.Kind || d.Item.Version != ev.Item.Version {
		return false
	}
	return !full || d.Item == ev.Item
}

// Deliver checks one event a client received; the first wrong one is the
// error. A delivery that records no owner is compared in path, index,
// kind and item version only.
func (w *Watches) Deliver(d Delivery) error {
	ev := d.Event()
	return w.deliver(d.Client, d.Conn, d.At, &ev, d.Owner != "")
}

// DeliverEvent is Deliver for a host that has the event itself: client
// got ev on connection conn at the time at; it is compared in full.
func (w *Watches) DeliverEvent(client int, conn uint64, at int64, ev *fsm.Event) error {
	return w.deliver(client, conn, at, ev, true)
}

func (w *Watches) deliver(client int, conn uint64, at int64, ev *fsm.Event, full bool) error {
	s := w.streams[streamKey{client, ev.Path}]
	if s == nil || s.conn != conn {
		return fmt.Errorf("client %d got an event on connection %d for %s, which that connection does not watch: %s",
			client, conn, ev.Path, Describe(ev))
	}
	if ev.Version > w.through {
		return fmt.Errorf("client %d got an event of entry %d for %s on connection %d, but the log is committed only through %d: %s",
			client, ev.Version, ev.Path, conn, w.through, Describe(ev))
	}
	chs := w.changes[ev.Path]
	if s.next < len(chs) && matches(ev, &chs[s.next].ev, full) {
		if c := chs[s.next].at; c > 0 && at < c {
			return fmt.Errorf("client %d got an event of entry %d for %s on connection %d at %d, before the entry committed (at %d): %s",
				client, ev.Version, ev.Path, conn, at, c, Describe(ev))
		}
		s.next++
		w.n++
		return nil
	}
	want := "no event (it has seen every change)"
	if s.next < len(chs) {
		want = Describe(&chs[s.next].ev)
	}
	found := -1
	for i := sort.Search(len(chs), func(i int) bool { return chs[i].ev.Version >= ev.Version }); i < len(chs) && chs[i].ev.Version == ev.Version; i++ {
		if matches(ev, &chs[i].ev, full) {
			found = i
			break
		}
	}
	what := "a gap: it skipped"
	switch {
	case found < 0:
		what = "an event that is no change to the list in the committed log, where it expected"
	case found < s.next:
		what = "a duplicate or out-of-order event, where it expected"
	}
	return fmt.Errorf("client %d's watch of %s on connection %d got %s, %s %s", client, ev.Path, conn, Describe(ev), what, want)
}

// Complete is the end of the watch checker, once the run has settled:
// every stream still open has been given every change to its list before
// its session ended (or, if it has not, every change in the log). Deliver
// finds events out of order or with a gap; this finds the changes that
// never came at all.
func (w *Watches) Complete() error {
	keys := make([]streamKey, 0, len(w.streams))
	for k := range w.streams {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b streamKey) int {
		return cmp.Or(cmp.Compare(a.client, b.client), cmp.Compare(a.path, b.path))
	})
	for _, k := range keys {
		s := w.streams[k]
		upto := w.through + 1
		if end, ok := w.ends[s.session]; ok && s.session != "" {
			upto = end
		}
		if chs := w.changes[k.path]; s.next < len(chs) && chs[s.next].ev.Version < upto {
			return fmt.Errorf("client %d's watch of %s on connection %d never got %s (session %s lived until %d)",
				k.client, k.path, s.conn, Describe(&chs[s.next].ev), s.session, upto)
		}
	}
	return nil
}

// Log applies a history's committed log to a state machine of its own and
// calls fn with each entry and what applying it gave (for a configuration
// change, a zero Result and no events).
func Log(recs []Record, fn func(e *Entry, res fsm.Result, events []fsm.Event)) {
	m := fsm.New(fsm.Options{})
	for i := range recs {
		e := recs[i].Entry
		if e == nil {
			continue
		}
		if e.Type == "confchange" {
			fn(e, fsm.Result{}, nil)
			continue
		}
		res, events := m.Apply(e.Index, e.Data)
		fn(e, res, events)
	}
}

// EventShape checks one change that the committed entry at index made to a
// list against what PROTOCOL.md says of items, whatever state machine
// computed it: the change is at index; a pushed item was created there and
// never updated (version = modified = index); an updated one was created
// before and is last modified there; a deleted one is shown as it was, so
// created and last modified before. The watch checker compares deliveries
// with the changes the state machine computes from the log, so this is
// what sees a state machine that gets an item's fields wrong.
func EventShape(index uint64, ev *fsm.Event) error {
	it := &ev.Item
	ok := ev.Version == index
	switch ev.Kind {
	case fsm.EventPush:
		ok = ok && it.Version == index && it.Modified == index
	case fsm.EventUpdate:
		ok = ok && it.Version < index && it.Modified == index
	case fsm.EventDelete:
		ok = ok && it.Version <= it.Modified && it.Modified < index
	default:
		ok = false
	}
	if !ok {
		return fmt.Errorf("the committed entry %d makes the change %s to %s, which no entry at %d can make (PROTOCOL.md: an item's version is the index that created it, modified the index of its last update)",
			index, Describe(ev), ev.Path, index)
	}
	return nil
}

// CheckWatches runs the watch checker over a recorded history: its
// committed log first, then its watch and delivery records in the order
// they were recorded, then Complete. The first wrong event is the error.
func CheckWatches(recs []Record) error {
	w := NewWatches()
	var shape error
	Log(recs, func(e *Entry, res fsm.Result, events []fsm.Event) {
		for i := range events {
			if err := EventShape(e.Index, &events[i]); err != nil && shape == nil {
				shape = err
			}
		}
		w.Committed(e.Index, e.At, events)
		if id := res.Session.ID; res.Code == fsm.OK && id != "" && res.Session.Opened != e.Index {
			w.Ended(id, e.Index)
		}
	})
	if shape != nil {
		return fmt.Errorf("state machine bug: %w", shape)
	}
	for i := range recs {
		switch r := &recs[i]; {
		case r.Watch != nil:
			if err := w.Register(*r.Watch); err != nil {
				return fmt.Errorf("watch checker: %w", err)
			}
		case r.Delivery != nil:
			if err := w.Deliver(*r.Delivery); err != nil {
				return fmt.Errorf("watch checker: %w", err)
			}
		}
	}
	if err := w.Complete(); err != nil {
		return fmt.Errorf("watch checker: %w", err)
	}
	return nil
}
