package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cluster is one system's three-node cluster, as the load generator sees it.
type cluster interface {
	start(ctx context.Context) error
	stop()
	// connect opens a session on node (0..2) for client number id.
	connect(ctx context.Context, node, id int) (client, error)
	// leader is the index of the node that leads now.
	leader(ctx context.Context) (int, error)
	kill(node int) error
	// cpuSeconds is the CPU time all the cluster's processes used so far.
	cpuSeconds() (float64, error)
	// closeNotify: a session on writerNode creates an item, a watcher on
	// watcherNode sees it, the session closes; the time from the close to
	// the watcher's notice of the deletion.
	closeNotify(ctx context.Context, writerNode, watcherNode, id int, value []byte) (time.Duration, error)
	// writeNotify: a session on writerNode owns an item, a watcher on
	// watcherNode watches it; n times the session changes it, each time
	// timed from the write's call to the watcher's notice of it.
	writeNotify(ctx context.Context, writerNode, watcherNode, n int, value []byte) ([]time.Duration, error)
}

// client is one session on one node.
type client interface {
	// prepare creates what the client's writes and reads then use: its own
	// item, key or ephemeral node.
	prepare(ctx context.Context, value []byte) error
	write(ctx context.Context, value []byte) error
	read(ctx context.Context, stale bool) error
	close(ctx context.Context) error
}

var drivers = map[string]func(o *options, dir string) (cluster, error){
	"haven":     newHaven,
	"etcd":      newEtcd,
	"zookeeper": newZooKeeper,
}

// procs runs a cluster's server processes, each with its log in dir.
type procs struct {
	dir  string
	cmds []*exec.Cmd
}

func (p *procs) spawn(name string, args []string, env []string) error {
	logf, err := os.Create(filepath.Join(p.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { cmd.Wait(); logf.Close() }()
	p.cmds = append(p.cmds, cmd)
	return nil
}

func (p *procs) kill(i int) error {
	return syscall.Kill(-p.cmds[i].Process.Pid, syscall.SIGKILL)
}

func (p *procs) stop() {
	for _, c := range p.cmds {
		syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range p.cmds {
		for time.Now().Before(deadline) && syscall.Kill(c.Process.Pid, 0) == nil && !exited(c) {
			time.Sleep(50 * time.Millisecond)
		}
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
}

func exited(c *exec.Cmd) bool { return c.ProcessState != nil }

// cpuSeconds adds up user and system time of every live process (and its
// reaped children) from /proc.
func (p *procs) cpuSeconds() (float64, error) {
	var total float64
	for _, c := range p.cmds {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if err != nil {
			continue // killed: its time is gone with it
		}
		// Fields after the command name (which may hold spaces) in parens.
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		// utime, stime, cutime, cstime are fields 14–17 of stat, 12–15 here.
		for _, f := range fields[11:15] {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return 0, fmt.Errorf("reading /proc/%d/stat: %w", c.Process.Pid, err)
			}
			total += v / 100 // USER_HZ is 100 on Linux
		}
	}
	return total, nil
}

// freePorts finds n distinct ports free on 127.0.0.1, drawn below Linux's
// ephemeral range (32768–60999) as freeLayout's are: a port the kernel
// handed out for :0 is released before the system binds it, and an
// outgoing connection or another :0 listener may take it in between.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 50*n {
			return nil, errors.New("no free ports in 27000-32767")
		}
		port := 27000 + rand.IntN(32768-27000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// waitFor retries check until it succeeds or ctx or the timeout runs out.
func waitFor(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: not ready after %v: %w", what, timeout, err)
}

// runQuiet runs a command and returns its output only if it fails.
func runQuiet(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
