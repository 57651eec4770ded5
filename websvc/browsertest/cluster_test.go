// Package browsertest drives the dashboard, the browser client and the
// example pages in headless Chromium (chromedp) against a real cluster:
// three havend processes built from this tree, so that a node can be
// killed. Chromium is Debian's `chromium`; without it the tests fail under
// CI=true and skip elsewhere.
package browsertest

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/netproto/peer"
	"github.com/havenproject/haven/raft"
)

// havendBin is built once by TestMain.
var havendBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "haven-browsertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	havendBin = filepath.Join(dir, "havend")
	build := exec.Command("go", "build", "-o", havendBin, "github.com/havenproject/haven/cmd/havend")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building havend:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one havend process of a test cluster.
type proc struct {
	id        string
	haven     string
	http      string
	peer      string
	dir       string
	cmd       *exec.Cmd
	exited    chan struct{}
	logPath   string
	cfgPath   string
	keysDir   string
	credsDir  string
	caCert    string
	killedNow bool
}

func (p *proc) url() string { return "http://" + p.http }

type cluster struct {
	t     *testing.T
	procs []*proc
}

func freePorts(t *testing.T, n int) []string {
	var addrs []string
	var lns []net.Listener
	for tries := 0; len(addrs) < n; tries++ {
		require.Less(t, tries, 50*n, "no free ports in 24000-26999")
		// Below 32768, where Linux's ephemeral range starts: no outgoing
		// connection or port-0 listener can take a node's port. 24000-26999
		// is this package's own range among the repository's harnesses,
		// which go test runs in parallel.
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 24000+rand.IntN(3000)))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// startCluster runs n havend processes on free loopback ports, with a
// development CA, certificates and signing keys written to files as an
// operator would have them.
func startCluster(t *testing.T, n int) *cluster {
	root := t.TempDir()
	ports := freePorts(t, 3*n)
	var ids []raft.NodeID
	for i := 1; i <= n; i++ {
		ids = append(ids, raft.NodeID(i))
	}
	ca, creds, err := peer.DevCluster(ids...)
	require.NoError(t, err)
	require.NoError(t, ca.Save(filepath.Join(root, "ca")))
	keysDir := filepath.Join(root, "keys")
	require.NoError(t, os.MkdirAll(keysDir, 0o700))

	c := &cluster{t: t}
	var peers strings.Builder
	for i, id := range ids {
		p := &proc{id: fmt.Sprintf("n%d", id), haven: ports[3*i], http: ports[3*i+1], peer: ports[3*i+2]}
		p.dir = filepath.Join(root, p.id)
		p.credsDir = filepath.Join(root, "creds-"+p.id)
		require.NoError(t, creds[id].Save(p.credsDir))
		require.NoError(t, peer.SavePublicKey(filepath.Join(keysDir, p.id+".pub"), creds[id].Public()))
		fmt.Fprintf(&peers, "  - {id: %s, haven: %q, http: %q, peer: %q}\n", p.id, p.haven, p.http, p.peer)
		c.procs = append(c.procs, p)
	}
	for _, p := range c.procs {
		p.logPath = filepath.Join(root, p.id+".log")
		p.cfgPath = filepath.Join(root, p.id+".yaml")
		cfg := fmt.Sprintf(`id: %s
data_dir: %q
haven: %q
http: %q
peer: %q
initial_cluster_state: new
ca_cert: %q
cert: %q
cert_key: %q
key: %q
keys_dir: %q
no_fsync: true
peers:
%s`, p.id, p.dir, p.haven, p.http, p.peer,
			filepath.Join(root, "ca", peer.CACertFile), filepath.Join(p.credsDir, peer.NodeCertFile),
			filepath.Join(p.credsDir, peer.NodeKeyFile), filepath.Join(p.credsDir, peer.SignKeyFile), keysDir, peers.String())
		require.NoError(t, os.WriteFile(p.cfgPath, []byte(cfg), 0o600))
		c.start(p)
	}
	t.Cleanup(c.stop)
	for _, p := range c.procs {
		c.waitHealthy(p)
	}
	return c
}

func (c *cluster) start(p *proc) {
	logFile, err := os.Create(p.logPath)
	require.NoError(c.t, err)
	p.cmd = exec.Command(havendBin, "-config", p.cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	require.NoError(c.t, p.cmd.Start())
	p.exited = make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
}

func (c *cluster) stop() {
	for _, p := range c.procs {
		if p.cmd != nil && p.cmd.Process != nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range c.procs {
		if p.cmd == nil {
			continue
		}
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if c.t.Failed() {
		for _, p := range c.procs {
			c.t.Logf("--- %s log (%s):\n%s", p.id, p.logPath, tail(p.logPath, 30))
		}
	}
}

// kill ends a node's process at once, as a crash would.
func (c *cluster) kill(p *proc) {
	require.NoError(c.t, p.cmd.Process.Kill())
	<-p.exited
	p.killedNow = true
}

func (c *cluster) waitHealthy(p *proc) {
	require.Eventually(c.t, func() bool {
		resp, err := http.Get(p.url() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "%s never became healthy:\n%s", p.id, tail(p.logPath, 20))
}

func (c *cluster) byID(id string) *proc {
	for _, p := range c.procs {
		if p.id == id {
			return p
		}
	}
	c.t.Fatalf("no node %s", id)
	return nil
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
