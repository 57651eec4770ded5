package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcd runs three etcd processes with the defaults of Debian's etcd-server
// (heartbeat 100 ms, election timeout 1 s; every commit is fsynced).
type etcd struct {
	o *options
	procs
	client, peer []int
}

func newEtcd(o *options, dir string) (cluster, error) {
	return &etcd{o: o, procs: procs{dir: dir}}, nil
}

func (e *etcd) clientURL(i int) string { return "http://127.0.0.1:" + strconv.Itoa(e.client[i]) }

func (e *etcd) start(ctx context.Context) error {
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return err
	}
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	e.client, e.peer = ports[:3], ports[3:]
	var initial []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("e%d=http://127.0.0.1:%d", i+1, e.peer[i]))
	}
	for i := range 3 {
		name := "e" + strconv.Itoa(i+1)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(e.peer[i])
		args := []string{"etcd", "--name", name, "--data-dir", filepath.Join(e.dir, name),
			"--listen-client-urls", e.clientURL(i), "--advertise-client-urls", e.clientURL(i),
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "haven-compare", "--log-level", "warn"}
		if err := e.spawn(name, args, nil); err != nil {
			return err
		}
	}
	return waitFor(ctx, 30*time.Second, "etcd", func() error {
		_, err := e.leader(ctx)
		return err
	})
}

func (e *etcd) dial(urls ...string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: urls, DialTimeout: 2 * time.Second})
}

func (e *etcd) leader(ctx context.Context) (int, error) {
	for i := range 3 {
		c, err := e.dial(e.clientURL(i))
		if err != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.Status(sctx, e.clientURL(i))
		cancel()
		c.Close()
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
			return i, nil
		}
	}
	return 0, errors.New("no member says it leads")
}

// connect gives the client node first, then the others (the client moves
// on when its endpoint fails), and a lease of the session ttl that it
// keeps alive in the background, as etcd's own session recipe does.
func (e *etcd) connect(ctx context.Context, node, id int) (client, error) {
	c, err := e.dial(e.clientURL(node), e.clientURL((node+1)%3), e.clientURL((node+2)%3))
	if err != nil {
		return nil, err
	}
	lease, err := c.Grant(ctx, int64(e.o.ttl/time.Second))
	if err != nil {
		c.Close()
		return nil, err
	}
	keep, err := c.KeepAlive(context.Background(), lease.ID)
	if err != nil {
		c.Close()
		return nil, err
	}
	go func() {
		for range keep {
		}
	}()
	return &etcdClient{c: c, lease: lease.ID, key: fmt.Sprintf("/bench/c%d", id)}, nil
}

func (e *etcd) closeNotify(ctx context.Context, writerNode, watcherNode, id int, value []byte) (time.Duration, error) {
	w, err := e.dial(e.clientURL(watcherNode))
	if err != nil {
		return 0, err
	}
	defer w.Close()
	key := fmt.Sprintf("/close/c%d", id)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := w.Watch(clientv3.WithRequireLeader(wctx), key)
	wc, err := e.connect(ctx, writerNode, id)
	if err != nil {
		return 0, err
	}
	writer := wc.(*etcdClient)
	defer writer.c.Close()
	if _, err := writer.c.Put(ctx, key, string(value), clientv3.WithLease(writer.lease)); err != nil {
		return 0, err
	}
	if err := awaitEtcd(events, clientv3.EventTypePut); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := writer.c.Revoke(ctx, writer.lease); err != nil {
		return 0, err
	}
	if err := awaitEtcd(events, clientv3.EventTypeDelete); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func (e *etcd) writeNotify(ctx context.Context, writerNode, watcherNode, n int, value []byte) ([]time.Duration, error) {
	w, err := e.dial(e.clientURL(watcherNode))
	if err != nil {
		return nil, err
	}
	defer w.Close()
	wc, err := e.connect(ctx, writerNode, 2000)
	if err != nil {
		return nil, err
	}
	writer := wc.(*etcdClient)
	defer writer.close(context.Background())
	if err := writer.prepare(ctx, value); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := w.Watch(clientv3.WithRequireLeader(wctx), writer.key)
	// The watch is set up once its first change arrives.
	if err := writer.write(ctx, value); err != nil {
		return nil, err
	}
	if err := awaitEtcd(events, clientv3.EventTypePut); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := writer.write(ctx, value); err != nil {
			return nil, err
		}
		if err := awaitEtcd(events, clientv3.EventTypePut); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

func awaitEtcd(events clientv3.WatchChan, kind mvccpb.Event_EventType) error {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case resp, ok := <-events:
			if !ok {
				return errors.New("the watch ended")
			}
			if err := resp.Err(); err != nil {
				return err
			}
			for _, ev := range resp.Events {
				if ev.Type == kind {
					return nil
				}
			}
		case <-timeout:
			return fmt.Errorf("no %v event within 10 s", kind)
		}
	}
}

type etcdClient struct {
	c     *clientv3.Client
	lease clientv3.LeaseID
	key   string
}

func (c *etcdClient) prepare(ctx context.Context, value []byte) error {
	return c.write(ctx, value)
}

func (c *etcdClient) write(ctx context.Context, value []byte) error {
	_, err := c.c.Put(ctx, c.key, string(value), clientv3.WithLease(c.lease))
	return err
}

func (c *etcdClient) read(ctx context.Context, stale bool) error {
	var err error
	if stale {
		_, err = c.c.Get(ctx, c.key, clientv3.WithSerializable())
	} else {
		_, err = c.c.Get(ctx, c.key)
	}
	return err
}

func (c *etcdClient) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c.c.Revoke(ctx, c.lease)
	return c.c.Close()
}
