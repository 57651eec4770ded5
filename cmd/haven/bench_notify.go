package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/netproto/client"
)

// stamped is the watch mode's item: when it was written, and padding.
type stamped struct {
	T   int64  `json:"t" msgpack:"t"`
	Pad string `json:"p" msgpack:"p"`
}

// otherThan is endpoints rotated to start at the first one that is not
// addr, so a watcher sits on another node than the writer when it can.
func otherThan(endpoints []string, addr string, i int) []string {
	var others []string
	for _, e := range endpoints {
		if e != addr {
			others = append(others, e)
		}
	}
	if len(others) == 0 {
		return endpoints
	}
	first := others[i%len(others)]
	out := []string{first}
	for _, e := range endpoints {
		if e != first {
			out = append(out, e)
		}
	}
	return out
}

func (a *app) benchWatch(ctx context.Context, o *benchOptions, info clusterInfo, given []string, prefix string, rec *recorder, ph *phase) error {
	path := prefix + "/watch"
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	writerEnds := info.placementFor(0, o.placement, given)
	writer, err := client.Connect(sctx, client.Config{Endpoints: writerEnds, TTL: a.ttl, Ordered: true})
	if err != nil {
		return err
	}
	defer writer.Close(context.Background())
	_, writerAddr := writer.Node()
	pad := fmt.Sprintf("%0*d", max(o.valueSize-16, 1), 0)
	first, err := writer.Push(sctx, path, stamped{T: time.Now().UnixNano(), Pad: pad})
	if err != nil {
		return err
	}
	watchers := make([]*client.Client, o.clients)
	ws := make([]*client.Watch, o.clients)
	for i := range watchers {
		c, err := client.Connect(sctx, client.Config{Endpoints: otherThan(writerEnds, writerAddr, i), TTL: a.ttl, Ordered: true})
		if err != nil {
			closeAll(watchers[:i])
			return err
		}
		watchers[i] = c
		if ws[i], err = c.Watch(sctx, path); err != nil {
			closeAll(watchers[:i+1])
			return err
		}
	}
	defer closeAll(watchers)

	cpu := a.startCPU(ctx, info)
	ph.measureStart = time.Now().Add(o.warmup)
	ph.end.Store(ph.measureStart.Add(o.duration).UnixNano())
	stopProgress := a.progress(o, rec, ph)

	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func(w *client.Watch) {
			defer wg.Done()
			for ev := range w.Events() {
				if ev.Kind != client.KindUpdate {
					continue
				}
				var s stamped
				if err := ev.Item.Decode(&s); err != nil {
					continue
				}
				sent := time.Unix(0, s.T)
				if ph.measuring(sent) && !ph.over(sent) {
					rec.record(time.Since(sent))
				}
			}
		}(w)
	}
	wo := *o
	wo.clients = 1
	runLoad(ctx, &wo, ph, newRecorder(), func(ctx context.Context, _ int) error {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := writer.Update(wctx, path, first.Item.Version, stamped{T: time.Now().UnixNano(), Pad: pad})
		if err != nil && ph.measuring(time.Now()) {
			rec.fail(err)
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // the last events in flight
	measured := ph.window()
	stopProgress()
	for _, w := range ws {
		_ = w.Close(context.Background())
	}
	wg.Wait()
	res := a.finish(o, rec, measured, cpu.stop(ctx, rec.ops.Load()), info)
	return a.report2(o, rec, res)
}

func (a *app) benchCloseNotify(ctx context.Context, o *benchOptions, info clusterInfo, given []string, prefix string, rec *recorder, ph *phase) error {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	watchers := make([]*client.Client, o.clients)
	ws := make([]*client.Watch, o.clients)
	sessionEnds := make([][]string, o.clients)
	for i := range watchers {
		ends := info.placementFor(i, o.placement, given)
		c, err := client.Connect(sctx, client.Config{Endpoints: ends, TTL: a.ttl, Ordered: true})
		if err != nil {
			closeAll(watchers[:i])
			return err
		}
		watchers[i] = c
		_, at := c.Node()
		sessionEnds[i] = otherThan(ends, at, 0)
		if ws[i], err = c.Watch(sctx, fmt.Sprintf("%s/cn%d", prefix, i)); err != nil {
			closeAll(watchers[:i+1])
			return err
		}
	}
	defer closeAll(watchers)
	pad := fmt.Sprintf("%0*d", max(o.valueSize, 1), 0)

	cpu := a.startCPU(ctx, info)
	ph.measureStart = time.Now().Add(o.warmup)
	ph.end.Store(ph.measureStart.Add(o.duration).UnixNano())
	stopProgress := a.progress(o, rec, ph)

	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w := ws[i]
			for ctx.Err() == nil && !ph.over(time.Now()) {
				d, t0, err := a.closeNotifyOnce(ctx, w, sessionEnds[i], pad)
				if !ph.measuring(t0) {
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						rec.fail(err)
					}
					if client.CodeOf(w.Err()) == fsm.SessionExpired {
						return
					}
					continue
				}
				rec.record(d)
			}
		}(i)
	}
	wg.Wait()
	measured := ph.window()
	stopProgress()
	res := a.finish(o, rec, measured, cpu.stop(ctx, rec.ops.Load()), info)
	return a.report2(o, rec, res)
}

// closeNotifyOnce opens a session, pushes, waits for the watcher to see the
// push, closes the session and times the watcher's delete from the close.
func (a *app) closeNotifyOnce(ctx context.Context, w *client.Watch, ends []string, pad string) (time.Duration, time.Time, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := client.Connect(cctx, client.Config{Endpoints: ends, TTL: a.ttl, Ordered: true})
	if err != nil {
		return 0, time.Now(), err
	}
	wr, err := s.Push(cctx, w.Path(), pad)
	if err != nil {
		_ = s.Close(cctx)
		return 0, time.Now(), err
	}
	if err := waitFor(cctx, w, client.KindPush, wr.Item.Version); err != nil {
		_ = s.Close(cctx)
		return 0, time.Now(), err
	}
	t0 := time.Now()
	if err := s.Close(cctx); err != nil {
		return 0, t0, err
	}
	if err := waitFor(cctx, w, client.KindDelete, wr.Item.Version); err != nil {
		return 0, t0, err
	}
	return time.Since(t0), t0, nil
}

func waitFor(ctx context.Context, w *client.Watch, kind client.Kind, item uint64) error {
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				if err := w.Err(); err != nil {
					return err
				}
				return &client.Error{Code: fsm.Unavailable, Message: "watch ended"}
			}
			if ev.Kind == kind && ev.Item.Version == item {
				return nil
			}
		case <-ctx.Done():
			return &client.Error{Code: fsm.Unavailable, Message: "watcher not notified in time"}
		}
	}
}
