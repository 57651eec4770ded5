package client

import (
	"context"
	"iter"
	"sync"

	"github.com/havenproject/haven/fsm"
)

// Watch is a persistent watch on one list. Its events come, in log order
// with no gap and no duplicate, on Events, across reconnects of its client
// to other nodes; the channel is closed when the watch ends (Close, or the
// session's end: Err says why).
type Watch struct {
	c    *Client
	path string

	// Items and Version are the list as the node had applied it when the
	// watch was registered; Events continue from there (or from the
	// WatchSince version the watch was asked for).
	Items   []Item
	Version uint64

	ch     chan Event
	signal chan struct{} // wakes pump; buffered 1
	stop   chan struct{} // closed by Close: pump drops what is left

	mu         sync.Mutex
	queue      []Event
	last       uint64   // version of the last event delivered (or the start)
	lastItems  []uint64 // item versions delivered at version last, with their kind
	lastKinds  []Kind
	ended      bool
	err        error
	registered bool  // has a starting version; the manager re-registers it
	conn       *conn // the connection it is registered on (under c.mu)
}

// WatchOption changes a watch.
type WatchOption func(*watchOptions)

type watchOptions struct {
	since *uint64
}

// WatchSince starts the events after version v instead of at the list's
// current version: the node delivers every change after v that it still
// retains, or a KindReset event with the current items if it does not.
func WatchSince(v uint64) WatchOption {
	return func(o *watchOptions) { o.since = &v }
}

// Watch registers a watch on path. One client holds at most one watch per
// path (the protocol's unwatch names the path alone).
func (c *Client) Watch(ctx context.Context, path string, opts ...WatchOption) (*Watch, error) {
	var o watchOptions
	for _, opt := range opts {
		opt(&o)
	}
	w := &Watch{c: c, path: path, ch: make(chan Event, 64), signal: make(chan struct{}, 1), stop: make(chan struct{})}
	if o.since != nil {
		w.last = *o.since
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	if _, dup := c.watches[path]; dup {
		c.mu.Unlock()
		return nil, errorf(fsm.InvalidParameter, "watch", "this client already watches %s", path)
	}
	// Registered in the map before the request goes out, so an event
	// that overtakes the answer is queued, not lost.
	c.watches[path] = w
	c.mu.Unlock()

	req := newRequest("query").set("type", "watch").set("path", path)
	if o.since != nil {
		req.set("since", *o.since)
	}
	a, cn, err := c.do(ctx, req, true)
	if err != nil {
		c.mu.Lock()
		if c.watches[path] == w {
			delete(c.watches, path)
		}
		c.mu.Unlock()
		return nil, err
	}
	w.Items, w.Version = a.Items, a.Version
	w.mu.Lock()
	if a.Reset {
		w.queue = append(w.queue, Event{Path: path, Version: a.Version, Kind: KindReset, Items: a.Items})
		w.last, w.lastItems, w.lastKinds = a.Version, nil, nil
	} else if o.since == nil && a.Version > w.last {
		w.last = a.Version
	}
	w.mu.Unlock()
	go w.pump()

	// If the connection changed while we waited, the manager may have
	// published the new one without this watch: register it there.
	for {
		c.mu.Lock()
		w.registered = true
		if w.conn == nil {
			w.conn = cn
		}
		cur := c.cur
		c.mu.Unlock()
		if cur == nil || cur == w.conn {
			break // current, or the manager will include it before publishing
		}
		if err := c.registerOn(cur, w); err != nil {
			break // cur is failing too; the manager re-registers it
		}
	}
	return w, nil
}

// Path is the watched list.
func (w *Watch) Path() string { return w.path }

// Events delivers the watch's events. It is closed when the watch ends.
func (w *Watch) Events() <-chan Event { return w.ch }

// All ranges over the events until the watch ends or ctx is done; the error
// is nil after Close, else why the watch ended.
//
//	for ev, err := range w.All(ctx) { ... }
func (w *Watch) All(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			select {
			case ev, ok := <-w.ch:
				if !ok {
					if err := w.Err(); err != nil && err != ErrClosed {
						yield(Event{}, err)
					}
					return
				}
				if !yield(ev, nil) {
					return
				}
			case <-ctx.Done():
				yield(Event{}, ctx.Err())
				return
			}
		}
	}
}

// Err says why the watch ended: nil while it runs or after Close, else the
// session's end.
func (w *Watch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == ErrClosed {
		return nil
	}
	return w.err
}

// Close unregisters the watch and closes Events.
func (w *Watch) Close(ctx context.Context) error {
	c := w.c
	c.mu.Lock()
	mine := c.watches[w.path] == w
	if mine {
		delete(c.watches, w.path)
	}
	live := c.err == nil
	c.mu.Unlock()
	w.end(ErrClosed)
	if !mine || !live {
		return nil
	}
	_, _, err := c.do(ctx, newRequest("query").set("type", "unwatch").set("path", w.path), true)
	return err
}

func (w *Watch) lastVersion() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// deliver queues an event from a heartbeat, dropping one this watch already
// delivered (the same version and item, which a resume may repeat). Events
// of one session end share a version, so the version alone cannot tell.
func (w *Watch) deliver(ev Event) {
	w.mu.Lock()
	if w.ended || ev.Version < w.last {
		w.mu.Unlock()
		return
	}
	if ev.Version == w.last {
		for i, v := range w.lastItems {
			if v == ev.Item.Version && w.lastKinds[i] == ev.Kind {
				w.mu.Unlock()
				return
			}
		}
	} else {
		w.last, w.lastItems, w.lastKinds = ev.Version, w.lastItems[:0], w.lastKinds[:0]
	}
	w.lastItems = append(w.lastItems, ev.Item.Version)
	w.lastKinds = append(w.lastKinds, ev.Kind)
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	w.wake()
}

// reset replaces the stream's position after a resume the node could not
// continue: the user gets the list as it is now.
func (w *Watch) reset(items []Item, version uint64) {
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, Event{Path: w.path, Version: version, Kind: KindReset, Items: items})
	w.last, w.lastItems, w.lastKinds = version, nil, nil
	w.mu.Unlock()
	w.wake()
}

func (w *Watch) end(err error) {
	w.mu.Lock()
	if !w.ended {
		w.ended, w.err = true, err
		if err == ErrClosed {
			close(w.stop)
		}
	}
	w.mu.Unlock()
	w.wake()
}

func (w *Watch) wake() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// pump moves queued events to the channel, so that a slow reader never
// blocks the heartbeat (which would let the session expire).
func (w *Watch) pump() {
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		ended := w.ended
		w.mu.Unlock()
	send:
		for _, ev := range batch {
			select {
			case w.ch <- ev:
			case <-w.stop:
				break send // closed by the user: drop what is left
			}
		}
		if len(batch) == 0 && ended {
			close(w.ch)
			return
		}
		if len(batch) == 0 {
			<-w.signal
		}
	}
}
