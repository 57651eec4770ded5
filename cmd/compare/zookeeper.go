package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// zookeeper runs three ZooKeeper 3.8 servers from Debian's package with
// its defaults (tickTime 2 s, forceSync on: every transaction is fsynced
// before it is acknowledged).
type zookeeper struct {
	o *options
	procs
	client []int
}

func newZooKeeper(o *options, dir string) (cluster, error) {
	return &zookeeper{o: o, procs: procs{dir: dir}}, nil
}

func (z *zookeeper) addr(i int) string { return "127.0.0.1:" + strconv.Itoa(z.client[i]) }

func (z *zookeeper) start(ctx context.Context) error {
	ports, err := freePorts(9)
	if err != nil {
		return err
	}
	z.client = ports[:3]
	var servers []string
	for i := range 3 {
		servers = append(servers, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", i+1, ports[3+i], ports[6+i]))
	}
	for i := range 3 {
		name := "z" + strconv.Itoa(i+1)
		data := filepath.Join(z.dir, name)
		if err := os.MkdirAll(data, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(data, "myid"), []byte(strconv.Itoa(i+1)+"\n"), 0o644); err != nil {
			return err
		}
		cfg := strings.Join(append([]string{
			"tickTime=2000", "initLimit=10", "syncLimit=5",
			"dataDir=" + data, "clientPort=" + strconv.Itoa(z.client[i]), "clientPortAddress=127.0.0.1",
			"4lw.commands.whitelist=srvr", "admin.enableServer=false",
		}, servers...), "\n") + "\n"
		cfgPath := filepath.Join(data, "zoo.cfg")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return err
		}
		args := []string{"java", "-Dzookeeper.log.dir=" + data, "-Dzookeeper.root.logger=WARN,CONSOLE",
			"-cp", "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar",
			"org.apache.zookeeper.server.quorum.QuorumPeerMain", cfgPath}
		if err := z.spawn(name, args, nil); err != nil {
			return err
		}
	}
	return waitFor(ctx, 60*time.Second, "zookeeper", func() error {
		_, err := z.leader(ctx)
		return err
	})
}

// leader asks each server's four-letter word srvr for its mode.
func (z *zookeeper) leader(ctx context.Context) (int, error) {
	for i := range 3 {
		conn, err := net.DialTimeout("tcp", z.addr(i), time.Second)
		if err != nil {
			continue
		}
		conn.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprint(conn, "srvr")
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "Mode: leader" {
				conn.Close()
				return i, nil
			}
		}
		conn.Close()
	}
	return 0, errors.New("no server says it leads")
}

// orderedHosts tries the servers in the order given, so that a client sits
// on the node it was given and moves to the next one on failure (the
// default provider shuffles them).
type orderedHosts struct {
	mu      sync.Mutex
	servers []string
	next    int
	last    int
}

func (h *orderedHosts) Init(servers []string) error { h.servers = servers; return nil }
func (h *orderedHosts) Len() int                    { return len(h.servers) }
func (h *orderedHosts) Next() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.servers[h.next%len(h.servers)]
	h.next++
	retryStart := h.next%len(h.servers) == h.last%len(h.servers)
	return s, retryStart
}
func (h *orderedHosts) Connected() {
	h.mu.Lock()
	h.last = h.next
	h.mu.Unlock()
}

func (z *zookeeper) dial(ctx context.Context, node int) (*zk.Conn, error) {
	servers := []string{z.addr(node), z.addr((node + 1) % 3), z.addr((node + 2) % 3)}
	conn, events, err := zk.Connect(servers, z.o.ttl, zk.WithHostProvider(&orderedHosts{}), zk.WithLogInfo(false))
	if err != nil {
		return nil, err
	}
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				go func() {
					for range events {
					}
				}()
				return conn, nil
			}
		case <-time.After(15 * time.Second):
			conn.Close()
			return nil, errors.New("no zookeeper session within 15 s")
		case <-ctx.Done():
			conn.Close()
			return nil, ctx.Err()
		}
	}
}

func (z *zookeeper) connect(ctx context.Context, node, id int) (client, error) {
	conn, err := z.dial(ctx, node)
	if err != nil {
		return nil, err
	}
	return &zkClient{c: conn, path: fmt.Sprintf("/bench-c%d", id)}, nil
}

func (z *zookeeper) closeNotify(ctx context.Context, writerNode, watcherNode, id int, value []byte) (time.Duration, error) {
	writer, err := z.dial(ctx, writerNode)
	if err != nil {
		return 0, err
	}
	path := fmt.Sprintf("/close-c%d", id)
	if _, err := writer.Create(path, value, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		writer.Close()
		return 0, err
	}
	watcher, err := z.dial(ctx, watcherNode)
	if err != nil {
		writer.Close()
		return 0, err
	}
	defer watcher.Close()
	if _, err := watcher.Sync(path); err != nil {
		writer.Close()
		return 0, err
	}
	exists, _, ch, err := watcher.ExistsW(path)
	if err != nil || !exists {
		writer.Close()
		return 0, fmt.Errorf("the watcher does not see %s (exists %v): %v", path, exists, err)
	}
	start := time.Now()
	writer.Close()
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeDeleted {
			return 0, fmt.Errorf("the watcher was told %v, not that the node is gone", ev.Type)
		}
		return time.Since(start), nil
	case <-time.After(10 * time.Second):
		return 0, errors.New("no NodeDeleted within 10 s")
	}
}

// writeNotify re-arms ZooKeeper's one-shot data watch (GetW) before each
// write, as a ZooKeeper client that keeps watching must.
func (z *zookeeper) writeNotify(ctx context.Context, writerNode, watcherNode, n int, value []byte) ([]time.Duration, error) {
	wc, err := z.connect(ctx, writerNode, 2000)
	if err != nil {
		return nil, err
	}
	writer := wc.(*zkClient)
	defer writer.close(context.Background())
	if err := writer.prepare(ctx, value); err != nil {
		return nil, err
	}
	watcher, err := z.dial(ctx, watcherNode)
	if err != nil {
		return nil, err
	}
	defer watcher.Close()
	if _, err := watcher.Sync(writer.path); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		_, _, ch, err := watcher.GetW(writer.path)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if err := writer.write(ctx, value); err != nil {
			return nil, err
		}
		select {
		case ev := <-ch:
			if ev.Type != zk.EventNodeDataChanged {
				return nil, fmt.Errorf("the watcher was told %v, not that the data changed", ev.Type)
			}
		case <-time.After(10 * time.Second):
			return nil, errors.New("no NodeDataChanged within 10 s")
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

type zkClient struct {
	c    *zk.Conn
	path string
}

func (c *zkClient) prepare(ctx context.Context, value []byte) error {
	_, err := c.c.Create(c.path, value, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	return err
}

func (c *zkClient) write(ctx context.Context, value []byte) error {
	_, err := c.c.Set(c.path, value, -1)
	return err
}

// read: sync then getData is ZooKeeper's way to read what every write
// acknowledged before it wrote (its reads are otherwise local to a server,
// like Haven's stale reads).
func (c *zkClient) read(ctx context.Context, stale bool) error {
	if !stale {
		if _, err := c.c.Sync(c.path); err != nil {
			return err
		}
	}
	_, _, err := c.c.Get(c.path)
	return err
}

func (c *zkClient) close(ctx context.Context) error {
	c.c.Close()
	return nil
}
