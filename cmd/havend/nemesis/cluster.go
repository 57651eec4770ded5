package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/havenproject/haven/netproto/client"
	"go.yaml.in/yaml/v3"
)

// node is one havend process of the cluster.
type node struct {
	id      string // n1, n2, ...
	haven   string // Haven (TCP) address clients use
	http    string // HTTP address (status)
	config  string // its yaml
	dataDir string // its data_dir
	log     string // stdout and stderr of every life, appended
	disk    string // its disk control file (havend's HAVEN_TEST_DISK_CONTROL)

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
	args   []string // extra flags for its starts from now on
	// clock is its clock control file (havend's HAVEN_TEST_CLOCK_CONTROL),
	// jumped how far it has jumped in all (a restart starts a new clock).
	clock  string
	jumped time.Duration
	// exits are the process's exits the nemesis did not cause (a kill
	// -9 is its own), with their status.
	exits []string
}

// cluster is N havend processes on loopback whose peer links all go
// through proxies: links[i][j] carries what node i sends to node j.
type cluster struct {
	bin string
	dir string
	// powerLoss runs every node with HAVEN_TEST_POWER_LOSS: what it did
	// not fsync is lost when it is killed.
	powerLoss bool
	// clockHook runs every node with HAVEN_TEST_CLOCK_CONTROL (when the
	// run's faults include the clock); HAVEN_TEST_DISK_CONTROL is always
	// set.
	clockHook bool
	nodes     []*node
	links     [][]*proxy
}

// freeBase finds a base port such that the Haven, HTTP (+80) and peer
// (+100) ports of n nodes are all free now. It draws below 32768, where
// Linux's ephemeral range starts: ports there are handed out only to those
// who ask for them by number, never to a listener on port 0 (the proxies
// are such listeners) or to an outgoing connection, so none of those can
// take a node's port while the node is down or not yet started. (A proxy
// did, once: seed 1796286440051923874 had n4 fail to bind for 40 s.)
func freeBase(rng *rand.Rand, n int) (int, error) {
	for try := 0; try < 200; try++ {
		// 10000-14999: each of the repository's test harnesses draws from
		// a range of its own below 32768, so that one package's cluster
		// cannot take the port of another's node while that node is down
		// (go test runs packages in parallel).
		base := 10000 + rng.IntN(5000-100-n)
		ok := true
		var held []net.Listener
		for i := 0; i < n && ok; i++ {
			for _, off := range []int{0, 80, 100} {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i+off))
				if err != nil {
					ok = false
					break
				}
				held = append(held, ln)
			}
		}
		for _, ln := range held {
			ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free port range")
}

// newCluster writes the configuration of n nodes with `havend init`, puts
// a proxy on every directed peer link, and rewrites each node's yaml so
// that it reaches the others through their proxies.
func newCluster(bin, dir string, n int, rng *rand.Rand) (*cluster, error) {
	base, err := freeBase(rng, n)
	if err != nil {
		return nil, err
	}
	cdir := filepath.Join(dir, "cluster")
	out, err := exec.Command(bin, "init", "-nodes", strconv.Itoa(n), "-dir", cdir, "-base-port", strconv.Itoa(base)).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("havend init: %v: %s", err, out)
	}
	c := &cluster{bin: bin, dir: dir}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("n%d", i+1)
		c.nodes = append(c.nodes, &node{
			id:     id,
			haven:  fmt.Sprintf("127.0.0.1:%d", base+i),
			http:   fmt.Sprintf("127.0.0.1:%d", base+i+80),
			config: filepath.Join(cdir, id+".yaml"),
			log:    filepath.Join(dir, id+".log"),
			disk:   filepath.Join(dir, id+".disk"),
			clock:  filepath.Join(dir, id+".clock"),
		})
	}
	c.links = make([][]*proxy, n)
	for i := range n {
		c.links[i] = make([]*proxy, n)
		for j := range n {
			if i == j {
				continue
			}
			p, err := newProxy(fmt.Sprintf("127.0.0.1:%d", base+j+100))
			if err != nil {
				return nil, err
			}
			c.links[i][j] = p
		}
	}
	for i, nd := range c.nodes {
		raw, err := os.ReadFile(nd.config)
		if err != nil {
			return nil, err
		}
		var cfg map[string]any
		if err := yaml.Unmarshal(raw, &cfg); err != nil {
			return nil, err
		}
		nd.dataDir, _ = cfg["data_dir"].(string)
		peers, _ := cfg["peers"].([]any)
		for j, p := range peers {
			if j == i {
				continue
			}
			pm := p.(map[string]any)
			pm["peer"] = c.links[i][j].addr()
		}
		// The machine is loaded: a longer election timeout than the
		// default keeps a slow scheduler from looking like a crash.
		cfg["election_ticks"] = 30
		out, err := yaml.Marshal(cfg)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(nd.config, out, 0o600); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, nd := range c.nodes {
		eps = append(eps, nd.haven)
	}
	return eps
}

// start starts node i's process from its data dir.
func (c *cluster) start(i int) error {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		select {
		case <-nd.exited: // it stopped by itself: start it again
		default:
			return nil
		}
	}
	f, err := os.OpenFile(nd.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "==== nemesis: start %s at %s\n", nd.id, time.Now().Format(time.RFC3339Nano))
	// A new process starts a new clock: no jump carried over.
	nd.jumped = 0
	if err := os.WriteFile(nd.clock, []byte("1 0\n"), 0o644); err != nil {
		f.Close()
		return err
	}
	// A snapshot every 10,000 entries, havend's default until it became
	// 100,000 (etcd's and ZooKeeper's): a 10-minute run, some 25,000
	// operations, still compacts its logs while it goes on (truth.go), as
	// it did before; the 1-minute run of go test does not reach it.
	args := append([]string{"-config", nd.config, "-snapshot-every", "10000"}, nd.args...)
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "HAVEN_TEST_DISK_CONTROL="+nd.disk)
	if c.clockHook {
		cmd.Env = append(cmd.Env, "HAVEN_TEST_CLOCK_CONTROL="+nd.clock)
	}
	if c.powerLoss {
		cmd.Env = append(cmd.Env, "HAVEN_TEST_POWER_LOSS=1")
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		nd.mu.Lock()
		if nd.cmd == cmd { // not killed by the nemesis
			nd.exits = append(nd.exits, fmt.Sprintf("%s exited by itself at %s: %v", nd.id, time.Now().Format(time.RFC3339Nano), err))
		}
		nd.mu.Unlock()
		f.Close()
		close(exited)
	}()
	nd.cmd, nd.exited, nd.paused = cmd, exited, false
	return nil
}

// kill sends SIGKILL to node i and waits for it to die.
func (c *cluster) kill(i int) {
	nd := c.nodes[i]
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// pause stops (SIGSTOP) or continues (SIGCONT) node i.
func (c *cluster) pause(i int, stop bool) {
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return
	}
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	_ = nd.cmd.Process.Signal(sig)
	nd.paused = stop
}

// setDisk switches node i's disk to mode (ok, eio, enospc): havend's
// fault-injecting file system reads the file every 20 ms.
func (c *cluster) setDisk(i int, mode string) error {
	return os.WriteFile(c.nodes[i].disk, []byte(mode+"\n"), 0o644)
}

// setClock sets node i's clock rate and jumps it forward by jump.
func (c *cluster) setClock(i int, rate float64, jump time.Duration) error {
	nd := c.nodes[i]
	nd.mu.Lock()
	nd.jumped += jump
	total := nd.jumped
	nd.mu.Unlock()
	return os.WriteFile(nd.clock, []byte(fmt.Sprintf("%g %d\n", rate, total.Milliseconds())), 0o644)
}

// restartExited starts again every node that stopped by itself and returns
// the exits since the last call.
func (c *cluster) restartExited(logf func(string, ...any)) []string {
	var exits []string
	for i, nd := range c.nodes {
		nd.mu.Lock()
		exits = append(exits, nd.exits...)
		nd.exits = nil
		nd.mu.Unlock()
		nd.mu.Lock()
		stopped := false
		if nd.cmd != nil {
			select {
			case <-nd.exited:
				stopped = true
			default:
			}
		}
		nd.mu.Unlock()
		if stopped {
			if err := c.start(i); err != nil {
				logf("nemesis: restart %s: %v", nd.id, err)
			}
		}
	}
	return exits
}

// trafficInto sums what the proxies of the links into node j have carried
// so far: connections, bytes.
func (c *cluster) trafficInto(j int) (conns, bytes int64) {
	for i := range c.links {
		if i != j {
			cn, b := c.links[i][j].traffic()
			conns, bytes = conns+cn, bytes+b
		}
	}
	return conns, bytes
}

// cut cuts or heals the directed link from i to j.
func (c *cluster) cut(i, j int, cut bool) { c.links[i][j].setCut(cut) }

// healAll heals every link and continues every paused node.
func (c *cluster) healAll() {
	for i := range c.links {
		for j, p := range c.links[i] {
			if i != j {
				p.setCut(false)
			}
		}
	}
	for i := range c.nodes {
		c.pause(i, false)
	}
}

// leader asks every node's status and returns the index of the node that
// says it leads, or -1.
func (c *cluster) leader(ctx context.Context) int {
	for i, nd := range c.nodes {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := client.FetchStatus(cctx, nd.http)
		cancel()
		if err == nil && st.Role == "leader" {
			return i
		}
	}
	return -1
}

// stopAll kills every process and closes the proxies.
func (c *cluster) stopAll() {
	for i := range c.nodes {
		c.pause(i, false)
		c.kill(i)
	}
	for i := range c.links {
		for j, p := range c.links[i] {
			if i != j {
				p.close()
			}
		}
	}
}
