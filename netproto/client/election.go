package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/havenproject/haven/fsm"
)

// Election is the contract's leader election recipe on one list
// (PROTOCOL.md, "Data model"): each candidate pushes an item, the item with
// the lowest version leads, the others watch the list. The leader's item
// version is its fencing token: it only grows from one leader to the next.
//
// An Election is used by one goroutine at a time; its client must not watch
// the same path otherwise.
type Election struct {
	c    *Client
	path string

	mu      sync.Mutex
	w       *Watch
	item    uint64 // our candidacy's version; 0 when not campaigning
	lost    chan struct{}
	stopped chan struct{} // closed to stop the follower goroutine
}

// NewElection prepares a campaign on path with c's session.
func NewElection(c *Client, path string) *Election {
	return &Election{c: c, path: path}
}

// ErrLostCandidacy says our item left the list before we led: the session
// ended, or someone with our session deleted it.
var ErrLostCandidacy = errors.New("haven: candidacy removed")

// Campaign pushes a candidacy holding value and returns once it leads, with
// its fencing token (the item's version). If ctx ends first, the candidacy
// is withdrawn. After it returns, Lost is closed if leadership ends.
func (e *Election) Campaign(ctx context.Context, value any) (uint64, error) {
	e.mu.Lock()
	if e.item != 0 {
		e.mu.Unlock()
		return 0, errorf(fsm.InvalidParameter, "campaign", "already campaigning on %s", e.path)
	}
	e.mu.Unlock()
	// Watch first, so that no change after our push can be missed.
	w, err := e.c.Watch(ctx, e.path)
	if err != nil {
		return 0, err
	}
	// The push's answer is the list as of our item (everything before it
	// applied), so it is the candidate set exactly; the watch's events up
	// to that version are already in it.
	mine, list, err := e.push(ctx, value)
	if err != nil {
		_ = w.Close(quick(ctx))
		return 0, err
	}
	members := map[uint64]bool{mine: true}
	for _, it := range list.Items {
		members[it.Version] = true
	}
	upTo := list.Version
	e.mu.Lock()
	e.w, e.item = w, mine
	e.lost, e.stopped = make(chan struct{}), make(chan struct{})
	e.mu.Unlock()

	for {
		if lowest(members) == mine {
			go e.follow(w, members, mine)
			return mine, nil
		}
		select {
		case ev, ok := <-w.Events():
			if !ok {
				e.clear()
				return 0, e.endErr(w)
			}
			if ev.Kind != KindReset && ev.Version <= upTo {
				continue
			}
			if !apply(members, ev) && ev.Version < mine {
				members[mine] = true // a reset from before our push
			}
			if !members[mine] {
				e.clear()
				_ = w.Close(quick(ctx))
				return 0, ErrLostCandidacy
			}
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = e.Resign(rctx)
			cancel()
			return 0, &Error{Code: fsm.Unavailable, Op: "campaign", Message: "not elected in time: " + ctx.Err().Error(), cause: ctx.Err()}
		}
	}
}

// quick is a short context for cleaning up after ctx ended.
func quick(ctx context.Context) context.Context {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	context.AfterFunc(c, cancel)
	return c
}

// push makes our candidacy. If the connection broke before the answer, the
// item may exist: look for one of ours before pushing again.
func (e *Election) push(ctx context.Context, value any) (uint64, List, error) {
	for {
		wr, err := e.c.Push(ctx, e.path, value)
		if err == nil {
			return wr.Item.Version, wr.List, nil
		}
		if CodeOf(err) != fsm.Unavailable || ctx.Err() != nil {
			return 0, List{}, err
		}
		list, gerr := e.c.Get(ctx, e.path)
		if gerr != nil {
			return 0, List{}, err
		}
		for _, it := range list.Items {
			if it.Owner == e.c.SessionID() {
				return it.Version, list, nil
			}
		}
	}
}

// follow watches the list while we lead, and closes lost when our item
// goes (the session ended).
func (e *Election) follow(w *Watch, members map[uint64]bool, mine uint64) {
	e.mu.Lock()
	lost, stopped := e.lost, e.stopped
	e.mu.Unlock()
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				close(lost)
				return
			}
			if !apply(members, ev) && ev.Version < mine {
				members[mine] = true
			}
			if !members[mine] {
				close(lost)
				return
			}
		case <-stopped:
			return
		}
	}
}

// apply updates the candidate set with ev; false if ev was a reset.
func apply(members map[uint64]bool, ev Event) bool {
	switch ev.Kind {
	case KindPush:
		members[ev.Item.Version] = true
	case KindDelete:
		delete(members, ev.Item.Version)
	case KindReset:
		clear(members)
		for _, it := range ev.Items {
			members[it.Version] = true
		}
		return false
	}
	return true
}

func lowest(members map[uint64]bool) uint64 {
	keys := make([]uint64, 0, len(members))
	for v := range members {
		keys = append(keys, v)
	}
	if len(keys) == 0 {
		return 0
	}
	return slices.Min(keys)
}

func (e *Election) endErr(w *Watch) error {
	if err := w.Err(); err != nil {
		return err
	}
	return ErrLostCandidacy
}

func (e *Election) clear() {
	e.mu.Lock()
	e.item, e.w = 0, nil
	e.mu.Unlock()
}

// Token is the fencing token of our candidacy (0 if none).
func (e *Election) Token() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.item
}

// Lost is closed when leadership won by Campaign ends without Resign: the
// session expired, so another candidate may lead now.
func (e *Election) Lost() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lost
}

// Resign withdraws the candidacy (deletes our item) and stops watching.
func (e *Election) Resign(ctx context.Context) error {
	e.mu.Lock()
	w, item, stopped := e.w, e.item, e.stopped
	e.w, e.item = nil, 0
	e.mu.Unlock()
	if item == 0 {
		return nil
	}
	if stopped != nil {
		select {
		case <-stopped:
		default:
			close(stopped)
		}
	}
	_, err := e.c.Delete(ctx, e.path, item)
	if CodeOf(err) == fsm.NotFound {
		err = nil
	}
	if w != nil {
		_ = w.Close(ctx)
	}
	return err
}

// Leader reads who leads the election on path now: the item with the lowest
// version, and false if there is no candidate.
func Leader(ctx context.Context, c *Client, path string) (Item, bool, error) {
	list, err := c.Get(ctx, path)
	if err != nil || len(list.Items) == 0 {
		return Item{}, false, err
	}
	best := list.Items[0]
	for _, it := range list.Items[1:] {
		if it.Version < best.Version {
			best = it
		}
	}
	return best, true, nil
}

// Mutex is a distributed lock on the same recipe as Election: the holder is
// the session whose item on path has the lowest version, and that version is
// the fencing token to hand to whatever the lock protects.
type Mutex struct{ e *Election }

// NewMutex prepares a lock on path held by c's session.
func NewMutex(c *Client, path string) *Mutex { return &Mutex{e: NewElection(c, path)} }

// Lock waits until this session holds the lock, and returns its fencing
// token. If ctx ends first, the waiting item is withdrawn.
func (m *Mutex) Lock(ctx context.Context) (uint64, error) { return m.e.Campaign(ctx, nil) }

// Unlock releases the lock.
func (m *Mutex) Unlock(ctx context.Context) error { return m.e.Resign(ctx) }

// Lost is closed if the lock is lost without Unlock (the session ended).
func (m *Mutex) Lost() <-chan struct{} { return m.e.Lost() }
