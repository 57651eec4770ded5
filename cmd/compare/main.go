// Command compare runs Haven, etcd and ZooKeeper side by side on this
// machine and drives all three with one load generator, so that one table
// says where Haven stands against what a user would pick instead.
//
// Each system runs as a three-node cluster of separate processes on
// loopback, with its defaults and fsync on (etcd and ZooKeeper always
// sync; havend syncs unless told -no-fsync). The workloads are the same
// for all three, with the same value size and session ttl, and clients
// spread over followers and leader alike:
//
//   - write: small writes owned by a session (Haven: update of the client's
//     own item; etcd: put of the client's own key under its lease;
//     ZooKeeper: setData on the client's own ephemeral node), at 1 and 64
//     clients;
//   - read: linearizable reads at 64 clients (Haven: get; etcd: get;
//     ZooKeeper: sync then getData, its closest to a linearizable read);
//   - read-stale: local reads at 64 clients (Haven: consistency stale;
//     etcd: serializable get; ZooKeeper: getData, labelled as not
//     linearizable);
//   - write-notify: a session's write to its item, until a watcher on
//     another node is told of it (Haven: update, watch event; etcd: put,
//     watch put event; ZooKeeper: setData, NodeDataChanged on a data watch
//     set again before each write);
//   - close-notify: a session with an item closes, and a watcher on
//     another node is told the item is gone (etcd: lease revoke, watch
//     delete event; ZooKeeper: close, NodeDeleted);
//   - failover: kill -9 of the leader to the first successful write.
//
// The systems run in turn (Haven, etcd, ZooKeeper, Haven, …), each in a
// fresh cluster, repeated -reps times, because this machine's speed drifts;
// the table gives medians over the repetitions and the CPU seconds the
// cluster's processes used per operation.
//
// It installs nothing unless asked: -install runs apt-get for Debian's
// etcd-server and zookeeper. It is never part of `go test ./...` (this
// is a module of its own):
//
//	cd cmd/compare && go run . -install
//	cd cmd/compare && go run . -reps 3 -duration 10s -markdown ../../docs/compare.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	systems   []string
	reps      int
	duration  time.Duration
	warmup    time.Duration
	valueSize int
	ttl       time.Duration
	workloads []string
	closes    int
	notifies  int
	markdown  string
	havend    string
	keep      bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	systems := fs.String("systems", "haven,etcd,zookeeper", "systems to run, in turn")
	workloads := fs.String("workloads", "write1,write64,read64,stale64,write-notify,close-notify,failover", "workloads, in order")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of the whole round of systems")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each throughput workload")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each throughput workload")
	fs.IntVar(&o.valueSize, "value-size", 64, "bytes per written value")
	fs.DurationVar(&o.ttl, "ttl", 5*time.Second, "session ttl (etcd lease ttl, ZooKeeper session timeout)")
	fs.IntVar(&o.closes, "closes", 50, "samples of close-notify per repetition")
	fs.IntVar(&o.notifies, "notifies", 300, "samples of write-notify per repetition")
	fs.StringVar(&o.markdown, "markdown", "", "also write the table, with the machine and versions, to this file")
	fs.StringVar(&o.havend, "havend", "", "the havend binary (default: built from this tree)")
	fs.BoolVar(&o.keep, "keep", false, "keep the clusters' data and logs (their directory is printed)")
	install := fs.Bool("install", false, "install Debian's etcd-server and zookeeper with apt-get, then exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *install {
		if err := installSystems(stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "compare:", err)
			return 1
		}
		return 0
	}
	o.systems = strings.Split(*systems, ",")
	o.workloads = strings.Split(*workloads, ",")
	if err := o.check(); err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 2
	}
	work, err := os.MkdirTemp("", "haven-compare-")
	if err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 1
	}
	if o.keep {
		fmt.Fprintln(stderr, "compare: clusters in", work)
	} else {
		defer os.RemoveAll(work)
	}
	if o.havend == "" {
		o.havend = filepath.Join(work, "havend")
		if err := buildHavend(o.havend); err != nil {
			fmt.Fprintln(stderr, "compare:", err)
			return 1
		}
	}
	results := map[key][]sample{}
	for rep := 1; rep <= o.reps; rep++ {
		for _, name := range o.systems {
			fmt.Fprintf(stderr, "== rep %d/%d: %s\n", rep, o.reps, name)
			dir := filepath.Join(work, fmt.Sprintf("%s-%d", name, rep))
			if err := o.round(name, dir, results, stderr); err != nil {
				fmt.Fprintf(stderr, "compare: %s, rep %d: %v\n", name, rep, err)
				return 1
			}
		}
	}
	table := render(&o, results)
	fmt.Fprint(stdout, table)
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, []byte(describeMachine(&o)+table), 0o644); err != nil {
			fmt.Fprintln(stderr, "compare:", err)
			return 1
		}
	}
	return 0
}

func (o *options) check() error {
	for _, s := range o.systems {
		if _, ok := drivers[s]; !ok {
			return fmt.Errorf("unknown system %q (haven, etcd, zookeeper)", s)
		}
	}
	for _, w := range o.workloads {
		if !slices.Contains([]string{"write1", "write64", "read64", "stale64", "write-notify", "close-notify", "failover"}, w) {
			return fmt.Errorf("unknown workload %q", w)
		}
	}
	if o.reps < 1 || o.duration <= 0 || o.valueSize < 1 {
		return errors.New("-reps, -duration and -value-size must be positive")
	}
	return nil
}

// key names one cell of the table.
type key struct{ system, workload string }

// sample is one repetition's figures for a cell.
type sample struct {
	opsPerSec  float64
	p50, p99   time.Duration
	cpuPerOp   time.Duration // the cluster's CPU time per operation
	cpuSeconds float64
	ops        int
}

// round starts a fresh cluster of one system, runs every workload on it,
// and stops it.
func (o *options) round(name, dir string, results map[key][]sample, log io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := drivers[name](o, dir)
	if err != nil {
		return err
	}
	defer c.stop()
	if err := c.start(ctx); err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	for _, w := range o.workloads {
		var s sample
		switch w {
		case "write1":
			s, err = o.throughput(ctx, c, 1, opWrite)
		case "write64":
			s, err = o.throughput(ctx, c, 64, opWrite)
		case "read64":
			s, err = o.throughput(ctx, c, 64, opRead)
		case "stale64":
			s, err = o.throughput(ctx, c, 64, opStale)
		case "close-notify":
			s, err = o.closeNotify(ctx, c)
		case "write-notify":
			s, err = o.writeNotify(ctx, c)
		case "failover":
			s, err = o.failover(ctx, c)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
		fmt.Fprintf(log, "   %-13s %9.0f ops/s  p50 %-10v p99 %-10v cpu/op %v\n", w, s.opsPerSec, s.p50.Round(time.Microsecond), s.p99.Round(time.Microsecond), s.cpuPerOp.Round(time.Microsecond))
		results[key{name, w}] = append(results[key{name, w}], s)
	}
	return nil
}

type opKind int

const (
	opWrite opKind = iota
	opRead
	opStale
)

// throughput runs n clients in a closed loop, each placed on node i mod 3,
// for the warm-up and then the measured duration.
func (o *options) throughput(ctx context.Context, c cluster, n int, kind opKind) (sample, error) {
	clients := make([]client, n)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.close(context.Background())
			}
		}
	}()
	for i := range clients {
		cl, err := c.connect(ctx, i%3, i)
		if err != nil {
			return sample{}, err
		}
		if err := cl.prepare(ctx, o.value(i)); err != nil {
			return sample{}, err
		}
		clients[i] = cl
	}
	var measuring atomic.Bool
	var mu sync.Mutex
	var lat []time.Duration
	var failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			value := o.value(i)
			var mine []time.Duration
			for {
				select {
				case <-stop:
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
					return
				default:
				}
				opCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
				start := time.Now()
				var err error
				switch kind {
				case opWrite:
					err = cl.write(opCtx, value)
				case opRead:
					err = cl.read(opCtx, false)
				case opStale:
					err = cl.read(opCtx, true)
				}
				d := time.Since(start)
				cancel()
				if !measuring.Load() {
					continue
				}
				if err != nil {
					failures.Add(1)
					continue
				}
				mine = append(mine, d)
			}
		}()
	}
	time.Sleep(o.warmup)
	cpu0, err := c.cpuSeconds()
	if err != nil {
		close(stop)
		wg.Wait()
		return sample{}, err
	}
	measuring.Store(true)
	start := time.Now()
	time.Sleep(o.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, err := c.cpuSeconds()
	close(stop)
	wg.Wait()
	if err != nil {
		return sample{}, err
	}
	if len(lat) == 0 {
		return sample{}, fmt.Errorf("no operation succeeded (%d failed)", failures.Load())
	}
	return summarize(lat, elapsed, cpu1-cpu0), nil
}

func (o *options) value(i int) []byte {
	v := []byte(strings.Repeat("x", o.valueSize))
	copy(v, fmt.Sprintf("client-%d:", i))
	return v
}

// closeNotify times a session's end until a watcher on another node hears
// that its item is gone.
func (o *options) closeNotify(ctx context.Context, c cluster) (sample, error) {
	cpu0, err := c.cpuSeconds()
	if err != nil {
		return sample{}, err
	}
	var lat []time.Duration
	start := time.Now()
	for i := range o.closes {
		d, err := c.closeNotify(ctx, i%3, (i+1)%3, i, o.value(i))
		if err != nil {
			return sample{}, fmt.Errorf("sample %d: %w", i, err)
		}
		lat = append(lat, d)
	}
	cpu1, err := c.cpuSeconds()
	if err != nil {
		return sample{}, err
	}
	return summarize(lat, time.Since(start), cpu1-cpu0), nil
}

// writeNotify times a write until a watcher on another node hears of it.
func (o *options) writeNotify(ctx context.Context, c cluster) (sample, error) {
	cpu0, err := c.cpuSeconds()
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	var lat []time.Duration
	// Writer and watcher on each pair of nodes in turn, so the leader is
	// the writer's node, the watcher's, or neither, a third of the time each.
	for i := range 3 {
		l, err := c.writeNotify(ctx, i, (i+1)%3, max(1, o.notifies/3), o.value(2000))
		if err != nil {
			return sample{}, fmt.Errorf("writer on node %d, watcher on node %d: %w", i, (i+1)%3, err)
		}
		lat = append(lat, l...)
	}
	cpu1, err := c.cpuSeconds()
	if err != nil {
		return sample{}, err
	}
	return summarize(lat, time.Since(start), cpu1-cpu0), nil
}

// failover kills the leader with SIGKILL and times the first write that
// succeeds afterwards, from a client that may use every node.
func (o *options) failover(ctx context.Context, c cluster) (sample, error) {
	leader, err := c.leader(ctx)
	if err != nil {
		return sample{}, err
	}
	// The writer sits on a follower, as most clients would.
	cl, err := c.connect(ctx, (leader+1)%3, 1000)
	if err != nil {
		return sample{}, err
	}
	defer cl.close(context.Background())
	value := o.value(1000)
	if err := cl.prepare(ctx, value); err != nil {
		return sample{}, err
	}
	if err := c.kill(leader); err != nil {
		return sample{}, err
	}
	killed := time.Now()
	deadline := killed.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		opCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := cl.write(opCtx, value)
		cancel()
		if err == nil {
			d := time.Since(killed)
			return sample{opsPerSec: 0, p50: d, p99: d, ops: 1}, nil
		}
	}
	return sample{}, errors.New("no write succeeded within 30 s of killing the leader")
}

func summarize(lat []time.Duration, elapsed time.Duration, cpu float64) sample {
	slices.Sort(lat)
	pick := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	s := sample{
		opsPerSec: float64(len(lat)) / elapsed.Seconds(), p50: pick(0.50), p99: pick(0.99),
		cpuSeconds: cpu, ops: len(lat),
	}
	s.cpuPerOp = time.Duration(cpu / float64(len(lat)) * float64(time.Second))
	return s
}

func buildHavend(out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/havend")
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building havend: %v\n%s", err, b)
	}
	return nil
}

func installSystems(stdout, stderr io.Writer) error {
	for _, args := range [][]string{{"update"}, {"install", "-y", "etcd-server", "etcd-client", "zookeeper"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}
