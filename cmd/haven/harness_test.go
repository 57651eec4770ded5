package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/havenproject/haven/netproto/client"
	"github.com/stretchr/testify/require"
)

// The binaries under test, built once by TestMain.
var bin struct{ haven, havend string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "haven-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.haven = filepath.Join(dir, "haven")
	bin.havend = filepath.Join(dir, "havend")
	for _, b := range [][2]string{{bin.haven, "."}, {bin.havend, "../havend"}} {
		out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b[1], err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testNode is one havend process of a test cluster.
type testNode struct {
	id, haven, http string
	config          string
	cmd             *exec.Cmd
	exited          chan struct{}
	log             *syncBuffer
}

// testCluster is havend processes on free loopback ports (not the
// defaults), in the default port layout (HTTP = Haven + 80, peer + 100) so
// that haven finds HTTP addresses as it would in production.
type testCluster struct {
	t     *testing.T
	nodes []*testNode
}

// freeBase finds a port P with P..P+n-1, and the same +80 and +100, free.
// P is below 32768, where Linux's ephemeral range starts, so that no
// outgoing connection or port-0 listener takes a node's port while it is
// down between a stop and a restart.
func freeBase(t *testing.T, n ...int) int {
	count := 1
	if len(n) > 0 {
		count = n[0]
	}
	for range 200 {
		// 15000-17999: a range of this harness's own, so that another
		// package's test cluster (go test runs packages in parallel)
		// cannot take a node's port either.
		p := 15000 + rand.IntN(3000-100-count)
		ok := true
		var lns []net.Listener
		for i := range count {
			for _, q := range []int{p + i, p + i + 80, p + i + 100} {
				ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", q))
				if err != nil {
					ok = false
					break
				}
				lns = append(lns, ln)
			}
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free ports")
	return 0
}

// startCluster writes an n-node cluster with `havend init` (keys,
// certificates, one config file per node) and starts each node as its own
// process.
func startCluster(t *testing.T, n int) *testCluster { return startClusterOf(t, n, n) }

// startClusterOf writes n nodes of which the first initial form the
// cluster and start; the others are spares for `become learner`.
func startClusterOf(t *testing.T, n, initial int) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	base := freeBase(t, n)
	dir := t.TempDir()
	out, err := exec.Command(bin.havend, "init", "-nodes", fmt.Sprint(n), "-initial", fmt.Sprint(initial), "-dir", dir, "-base-port", fmt.Sprint(base)).CombinedOutput()
	require.NoError(t, err, "havend init: %s", out)
	for i := range n {
		nd := &testNode{id: fmt.Sprintf("n%d", i+1), haven: fmt.Sprintf("127.0.0.1:%d", base+i), http: fmt.Sprintf("127.0.0.1:%d", base+i+80),
			config: filepath.Join(dir, fmt.Sprintf("n%d.yaml", i+1))}
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes[:initial] {
		c.start(nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			c.kill(nd)
		}
	})
	c.waitReady()
	return c
}

func (c *testCluster) start(nd *testNode) {
	c.t.Helper()
	nd.log = &syncBuffer{}
	nd.cmd = exec.Command(bin.havend, "-config", nd.config, "-log-level", "warn")
	nd.cmd.Stdout, nd.cmd.Stderr = nd.log, nd.log
	require.NoError(c.t, nd.cmd.Start())
	nd.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(nd.cmd, nd.exited)
}

// kill ends a node at once (SIGKILL), as a crash would.
func (c *testCluster) kill(nd *testNode) {
	if nd.cmd == nil || nd.cmd.Process == nil {
		return
	}
	_ = nd.cmd.Process.Kill()
	<-nd.exited
	nd.cmd = nil
}

// restart starts a killed node again from its data dir.
func (c *testCluster) restart(nd *testNode) {
	c.start(nd)
	c.waitReady()
}

// leader is the node every running node names as leader, once they agree.
func (c *testCluster) leader() *testNode {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		lead := ""
		agree := true
		for _, nd := range c.nodes {
			if nd.cmd == nil {
				continue
			}
			st, err := fetchStatus(nd.http)
			if err != nil || st.Leader == "" || (lead != "" && st.Leader != lead) {
				agree = false
				break
			}
			lead = st.Leader
		}
		if agree {
			for _, nd := range c.nodes {
				if nd.id == lead && nd.cmd != nil {
					return nd
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatal("the nodes agree on no leader")
	return nil
}

func fetchStatus(httpAddr string) (client.NodeStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return client.FetchStatus(ctx, httpAddr)
}

// waitReady waits until every node's /healthz is OK (it knows a leader).
func (c *testCluster) waitReady() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, nd := range c.nodes {
		if nd.cmd == nil {
			continue
		}
		for {
			resp, err := http.Get("http://" + nd.http + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node %s not ready: %v\n%s", nd.id, err, nd.log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (c *testCluster) endpoints() string {
	var e []string
	for _, nd := range c.nodes {
		e = append(e, nd.haven)
	}
	return strings.Join(e, ",")
}

// result is one finished haven run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// haven runs the CLI against the cluster and waits for it.
func (c *testCluster) haven(args ...string) result {
	c.t.Helper()
	return runHaven(c.t, append([]string{"--endpoints", c.endpoints()}, args...)...)
}

func runHaven(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.haven, args...)
	cmd.Env = append(os.Environ(), "HAVEN_ENDPOINTS=", "HAVEN_SESSION=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running haven %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// proc is a haven left running: its stdout lines arrive on lines.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	code   int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (c *testCluster) background(args ...string) *proc {
	c.t.Helper()
	cmd := exec.Command(bin.haven, append([]string{"--endpoints", c.endpoints()}, args...)...)
	cmd.Env = append(os.Environ(), "HAVEN_ENDPOINTS=", "HAVEN_SESSION=")
	p := &proc{t: c.t, cmd: cmd, lines: make(chan string, 1024), stderr: &syncBuffer{}, done: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	require.NoError(c.t, err)
	cmd.Stderr = p.stderr
	require.NoError(c.t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	c.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// next waits for the next stdout line.
func (p *proc) next(timeout time.Duration) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			p.t.Fatalf("haven exited (%d) before the expected line; stderr:\n%s", p.code, p.stderr.String())
		}
		return l
	case <-time.After(timeout):
		p.t.Fatalf("no line within %s; stderr:\n%s", timeout, p.stderr.String())
	}
	return ""
}

// nextJSON decodes the next stdout line.
func (p *proc) nextJSON(timeout time.Duration) map[string]any {
	p.t.Helper()
	l := p.next(timeout)
	var m map[string]any
	require.NoError(p.t, json.Unmarshal([]byte(l), &m), "line %q", l)
	return m
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// wait waits for the process to exit and gives its status.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	go func() {
		for range p.lines { // drain
		}
	}()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("haven did not exit; stderr:\n%s", p.stderr.String())
	}
	return -1
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(s)), &m), "output %q", s)
	return m
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return out
		} else {
			require.NoError(t, err, "output %q", s)
		}
		out = append(out, m)
	}
}

func num(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

func runHaven2(t *testing.T, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", name, err)
	}
	return result{out.String(), errb.String(), code}
}
