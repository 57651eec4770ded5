package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/netproto/client"
	"github.com/vmihailenco/msgpack/v5"
)

// op is one client operation as recorded; the linearizability History is
// built from these at the end, when session ends can be resolved.
type op struct {
	row       int
	in        linearizability.ListsInput
	call, ret time.Time
	out       *linearizability.ListsOutput // nil: unknown
	unknown   bool
}

// session is one worker session's life.
type session struct {
	row     int
	id      string
	ttl     time.Duration
	start   time.Time
	opened  time.Time // when Connect returned: its open had committed
	death   time.Time // when it was closed or abandoned (zero: live, or expired by itself)
	how     string    // "live", "close", "close-failed", "abandon", "expired"
	endCall time.Time
	endRet  time.Time // set for a close answered OK
	client  *client.Client
	// pings are its client's heartbeats (netproto/client's OnPing).
	pings *pingLog
}

// pingLog is one client's pings, as OnPing reports them.
type pingLog struct {
	mu    sync.Mutex
	pings []client.Ping
}

func (l *pingLog) add(p client.Ping) {
	l.mu.Lock()
	l.pings = append(l.pings, p)
	l.mu.Unlock()
}

func (l *pingLog) all() []client.Ping {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]client.Ping(nil), l.pings...)
}

// watchRec is what one watch delivered: the list when registered, then
// its events, each with when it was received, and when the stream ended
// (zero: it had not).
type watchRec struct {
	row     int
	session string
	path    string
	at      time.Time
	version uint64
	items   []client.Item
	events  []client.Event
	times   []time.Time
	stopped time.Time
}

// reset says whether the stream was reset (the library could not resume it
// with since and answered the current list instead).
func (rec *watchRec) reset() bool {
	return slices.ContainsFunc(rec.events, func(ev client.Event) bool { return ev.Kind == client.KindReset })
}

// receive records the watch's stream until it ends; mu guards the record.
func (rec *watchRec) receive(mu *sync.Mutex, w *client.Watch) {
	for ev := range w.Events() {
		mu.Lock()
		rec.events = append(rec.events, ev)
		rec.times = append(rec.times, time.Now())
		mu.Unlock()
	}
	mu.Lock()
	rec.stopped = time.Now()
	mu.Unlock()
}

// recorder collects everything the verdicts need, from many goroutines.
type recorder struct {
	t0       time.Time
	mu       sync.Mutex
	ops      []*op
	sessions []*session
	watches  []*watchRec
}

func (r *recorder) begin(row int, in linearizability.ListsInput) *op {
	o := &op{row: row, in: in, call: time.Now()}
	r.mu.Lock()
	r.ops = append(r.ops, o)
	r.mu.Unlock()
	return o
}

func (r *recorder) end(o *op, out *linearizability.ListsOutput) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o.ret = time.Now()
	if out == nil {
		o.unknown = true
		return
	}
	o.out = out
}

func encodeData(s string) string {
	b, err := msgpack.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func modelItems(items []client.Item) []linearizability.Item {
	out := make([]linearizability.Item, len(items))
	for i, it := range items {
		out[i] = linearizability.Item{Version: it.Version, Owner: it.Owner, Data: string(it.Data)}
	}
	return out
}

// outcome turns an answer into the model's output; nil when the outcome is
// unknown. A write refused with a definite code had no effect; any other
// failure of a write may have committed.
func outcome(list *client.List, err error, read bool) *linearizability.ListsOutput {
	if err == nil {
		return &linearizability.ListsOutput{Code: linearizability.CodeOK, Version: list.Version, Items: modelItems(list.Items), HasItems: true}
	}
	if read {
		return nil
	}
	switch client.CodeOf(err) {
	case fsm.Conflict:
		return &linearizability.ListsOutput{Code: linearizability.CodeConflict}
	case fsm.NotFound:
		return &linearizability.ListsOutput{Code: linearizability.CodeNotFound}
	case fsm.Forbidden:
		return &linearizability.ListsOutput{Code: linearizability.CodeForbidden}
	case fsm.SessionExpired:
		return &linearizability.ListsOutput{Code: linearizability.CodeSessionExpired}
	}
	return nil
}

var paths = []string{"/data/a", "/data/b", "/data/c"}

// worker runs sessions one after another on row until ctx ends, leaving
// its last session live (the checks read it, then end it).
func worker(ctx context.Context, r *recorder, row int, endpoints []string, seed uint64, logf func(string, ...any)) {
	rng := rand.New(rand.NewPCG(seed, uint64(row)))
	seq := 0
	for ctx.Err() == nil {
		ttl := 500 * time.Millisecond
		if rng.IntN(2) == 0 {
			ttl = 5 * time.Second
		}
		eps := append([]string(nil), endpoints...)
		rng.Shuffle(len(eps), func(i, j int) { eps[i], eps[j] = eps[j], eps[i] })
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		pings := &pingLog{}
		c, err := client.Connect(cctx, client.Config{Endpoints: eps, TTL: ttl, Ordered: true, OnPing: pings.add})
		cancel()
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		s := &session{row: row, id: c.SessionID(), ttl: c.TTL(), start: start, opened: time.Now(), how: "live", client: c, pings: pings}
		r.mu.Lock()
		r.sessions = append(r.sessions, s)
		r.mu.Unlock()
		if rng.IntN(2) == 0 {
			watchPath(ctx, r, row, c, paths[rng.IntN(len(paths))])
		}
		mine := map[string][]uint64{}
		nops := 5 + rng.IntN(30)
		for i := 0; i < nops && ctx.Err() == nil; i++ {
			select {
			case <-c.Done():
				i = nops
				continue
			default:
			}
			// Think time: fewer operations keep porcupine's search short.
			time.Sleep(time.Duration(20+rng.IntN(60)) * time.Millisecond)
			path := paths[rng.IntN(len(paths))]
			octx, cancel := context.WithTimeout(ctx, 5*time.Second)
			in := linearizability.ListsInput{Path: path, Session: s.id}
			switch k := rng.IntN(10); {
			case k < 4:
				seq++
				val := fmt.Sprintf("w%d.%d", row, seq)
				in.Op, in.Data = linearizability.PushItem, encodeData(val)
				o := r.begin(row, in)
				w, err := c.Push(octx, path, val)
				out := outcome(&w.List, err, false)
				r.end(o, out)
				if err == nil {
					mine[path] = append(mine[path], w.Item.Version)
				}
			case k < 6 && len(mine[path]) > 0:
				seq++
				val := fmt.Sprintf("w%d.%d", row, seq)
				item := mine[path][rng.IntN(len(mine[path]))]
				in.Op, in.Item, in.Data = linearizability.UpdateItem, item, encodeData(val)
				o := r.begin(row, in)
				w, err := c.Update(octx, path, item, val)
				r.end(o, outcome(&w.List, err, false))
			case k < 8 && len(mine[path]) > 0:
				j := rng.IntN(len(mine[path]))
				item := mine[path][j]
				in.Op, in.Item = linearizability.DeleteItem, item
				o := r.begin(row, in)
				l, err := c.Delete(octx, path, item)
				r.end(o, outcome(&l, err, false))
				mine[path] = append(mine[path][:j], mine[path][j+1:]...)
			default:
				in = linearizability.ListsInput{Op: linearizability.ReadList, Path: path}
				o := r.begin(row, in)
				l, err := c.Get(octx, path)
				r.end(o, outcome(&l, err, true))
			}
			cancel()
		}
		if ctx.Err() != nil {
			return // the last session stays live for the checks
		}
		endSession(r, s, rng.IntN(5) < 3)
	}
}

// endSession closes the session (close) or drops it without closing, as a
// crashed process would (its ttl then ends it).
func endSession(r *recorder, s *session, close bool) {
	r.mu.Lock()
	s.endCall = time.Now()
	r.mu.Unlock()
	select {
	case <-s.client.Done():
		if errors.Is(s.client.Err(), client.ErrClosed) {
			break
		}
		r.mu.Lock()
		s.how, s.endCall = "expired", s.start
		r.mu.Unlock()
		s.client.Abandon()
		return
	default:
	}
	if !close {
		s.client.Abandon()
		r.mu.Lock()
		s.how, s.death = "abandon", s.endCall
		r.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := s.client.Close(ctx)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	s.death = s.endCall
	if err == nil && !isExpired(s.client) {
		s.how, s.endRet = "close", time.Now()
	} else {
		s.how = "close-failed"
		s.client.Abandon()
	}
}

// isExpired reports whether the session ended by expiry (not by Close:
// CodeOf counts ErrClosed as SessionExpired too).
func isExpired(c *client.Client) bool {
	err := c.Err()
	return err != nil && !errors.Is(err, client.ErrClosed) && client.CodeOf(err) == fsm.SessionExpired
}

// watchPath registers a watch and records what it delivers until it ends.
func watchPath(ctx context.Context, r *recorder, row int, c *client.Client, path string) *watchRec {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	w, err := c.Watch(wctx, path)
	cancel()
	if err != nil {
		return nil
	}
	rec := &watchRec{row: row, session: c.SessionID(), path: path, at: time.Now(), version: w.Version, items: w.Items}
	r.mu.Lock()
	r.watches = append(r.watches, rec)
	r.mu.Unlock()
	go rec.receive(&r.mu, w)
	return rec
}
