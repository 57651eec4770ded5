package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"time"

	hc "github.com/havenproject/haven/netproto/client"
)

// haven runs three havend processes made by `havend init`, each with its
// own data directory, fsync on.
type haven struct {
	o *options
	procs
	base int // n1's Haven port; HTTP is +80, peers +100
}

func newHaven(o *options, dir string) (cluster, error) {
	return &haven{o: o, procs: procs{dir: dir}}, nil
}

func (h *haven) havenAddr(i int) string { return "127.0.0.1:" + strconv.Itoa(h.base+i) }
func (h *haven) httpAddr(i int) string  { return "127.0.0.1:" + strconv.Itoa(h.base+80+i) }

func (h *haven) start(ctx context.Context) error {
	base, err := freeLayout()
	if err != nil {
		return err
	}
	h.base = base
	if err := runQuiet(ctx, h.o.havend, "init", "-nodes", "3", "-dir", h.dir, "-base-port", strconv.Itoa(base)); err != nil {
		return err
	}
	for i := range 3 {
		name := "n" + strconv.Itoa(i+1)
		if err := h.spawn(name, []string{h.o.havend, "-config", filepath.Join(h.dir, name+".yaml")}, nil); err != nil {
			return err
		}
	}
	return waitFor(ctx, 30*time.Second, "haven", func() error {
		_, err := h.leader(ctx)
		return err
	})
}

// freeLayout finds a base port whose Haven, HTTP and peer ports (base+0..2,
// +80, +100) are all free.
func freeLayout() (int, error) {
	for range 50 {
		// Below Linux's ephemeral range, in 27000-32767, which no test
		// harness of the repository draws from.
		base := 27000 + rand.IntN(32768-27000-103)
		free := true
		for _, off := range []int{0, 1, 2, 80, 81, 82, 100, 101, 102} {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, errors.New("no free ports for a haven cluster")
}

func (h *haven) leader(ctx context.Context) (int, error) {
	for i := range 3 {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := hc.FetchStatus(sctx, h.httpAddr(i))
		cancel()
		if err == nil && st.Role == "leader" {
			return i, nil
		}
	}
	return 0, errors.New("no node says it leads")
}

// connect puts the client on node first, and lets it fail over to the
// others in order.
func (h *haven) connect(ctx context.Context, node, id int) (client, error) {
	eps := []string{h.havenAddr(node), h.havenAddr((node + 1) % 3), h.havenAddr((node + 2) % 3)}
	c, err := hc.Connect(ctx, hc.Config{Endpoints: eps, Ordered: true, TTL: h.o.ttl})
	if err != nil {
		return nil, err
	}
	return &havenClient{c: c, path: fmt.Sprintf("/data/bench/c%d", id)}, nil
}

func (h *haven) closeNotify(ctx context.Context, writerNode, watcherNode, id int, value []byte) (time.Duration, error) {
	w, err := h.connect(ctx, watcherNode, id)
	if err != nil {
		return 0, err
	}
	watcher := w.(*havenClient)
	defer watcher.close(context.Background())
	path := fmt.Sprintf("/data/close/c%d", id)
	watch, err := watcher.c.Watch(ctx, path)
	if err != nil {
		return 0, err
	}
	wc, err := h.connect(ctx, writerNode, id)
	if err != nil {
		return 0, err
	}
	writer := wc.(*havenClient)
	if _, err := writer.c.Push(ctx, path, string(value)); err != nil {
		return 0, err
	}
	if err := awaitKind(ctx, watch, hc.KindPush); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := writer.c.Close(ctx); err != nil {
		return 0, err
	}
	if err := awaitKind(ctx, watch, hc.KindDelete); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func (h *haven) writeNotify(ctx context.Context, writerNode, watcherNode, n int, value []byte) ([]time.Duration, error) {
	w, err := h.connect(ctx, watcherNode, 2001)
	if err != nil {
		return nil, err
	}
	watcher := w.(*havenClient)
	defer watcher.close(context.Background())
	wc, err := h.connect(ctx, writerNode, 2000)
	if err != nil {
		return nil, err
	}
	writer := wc.(*havenClient)
	defer writer.close(context.Background())
	if err := writer.prepare(ctx, value); err != nil {
		return nil, err
	}
	watch, err := watcher.c.Watch(ctx, writer.path)
	if err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := writer.write(ctx, value); err != nil {
			return nil, err
		}
		if err := awaitKind(ctx, watch, hc.KindUpdate); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

func awaitKind(ctx context.Context, w *hc.Watch, kind hc.Kind) error {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				return fmt.Errorf("the watch ended: %v", w.Err())
			}
			if ev.Kind == kind {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("no %s event within 10 s", kind)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type havenClient struct {
	c    *hc.Client
	path string
	item uint64
}

func (c *havenClient) prepare(ctx context.Context, value []byte) error {
	w, err := c.c.Push(ctx, c.path, string(value))
	c.item = w.Item.Version
	return err
}

func (c *havenClient) write(ctx context.Context, value []byte) error {
	_, err := c.c.Update(ctx, c.path, c.item, string(value))
	return err
}

func (c *havenClient) read(ctx context.Context, stale bool) error {
	var err error
	if stale {
		_, err = c.c.Get(ctx, c.path, hc.Stale())
	} else {
		_, err = c.c.Get(ctx, c.path)
	}
	return err
}

func (c *havenClient) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.c.Close(ctx)
}
