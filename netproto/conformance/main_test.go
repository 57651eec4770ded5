// Package conformance holds black-box tests of PROTOCOL.md: it builds
// havend, starts a real three-node cluster on free ports, and speaks raw
// MessagePack over TCP and raw JSON over WebSocket and HTTP, never the
// project's own clients, so that it tests the wire as an outside test would.
package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

type M = map[string]any

var (
	havendBin  string
	base       int // n1's Haven port; nN is base+N-1, HTTP +80
	procs      []*exec.Cmd
	clusterDir string
)

func havenAddr(i int) string { return fmt.Sprintf("127.0.0.1:%d", base+i-1) }
func httpAddr(i int) string  { return fmt.Sprintf("127.0.0.1:%d", base+i-1+80) }

func freeBase() int {
	for try := 0; try < 100; try++ {
		// Below 32768, where Linux's ephemeral range starts: no outgoing
		// connection or port-0 listener can take a node's port. 21000-23999
		// is this package's own range among the repository's harnesses,
		// which go test runs in parallel.
		b := 21000 + rand.IntN(3000-103)
		free := true
		for _, off := range []int{0, 1, 2, 80, 81, 82, 100, 101, 102} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", b+off))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return b
		}
	}
	panic("no free ports")
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "haven-conformance")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	havendBin = filepath.Join(tmp, "havend")
	if out, err := exec.Command("go", "build", "-o", havendBin, "github.com/havenproject/haven/cmd/havend").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build havend: %v\n%s", err, out)
		return 1
	}
	base = freeBase()
	dir := filepath.Join(tmp, "cluster")
	clusterDir = dir
	if out, err := exec.Command(havendBin, "init", "-nodes", "3", "-dir", dir, "-base-port", fmt.Sprint(base)).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "havend init: %v\n%s", err, out)
		return 1
	}
	for i := 1; i <= 3; i++ {
		cmd := exec.Command(havendBin, "-config", filepath.Join(dir, fmt.Sprintf("n%d.yaml", i)), "-no-fsync", "-log-level", "info", "-election-ticks", "30")
		logf, _ := os.Create(filepath.Join(dir, fmt.Sprintf("n%d.log", i)))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		procs = append(procs, cmd)
	}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_, _ = p.Process.Wait()
		}
	}()
	if !waitLeader(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "no leader within 30 s")
		for i := 1; i <= 3; i++ {
			b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("n%d.log", i)))
			fmt.Fprintf(os.Stderr, "n%d:\n%s\n", i, b)
		}
		return 1
	}
	return m.Run()
}

type status struct {
	Node          string `json:"node"`
	Role          string `json:"role"`
	Leader        string `json:"leader"`
	LeaderAddress string `json:"leader_address"`
	HavenAddress  string `json:"haven_address"`
	HTTPAddress   string `json:"http_address"`
}

func getStatus(i int) (status, M, error) {
	var st status
	var raw M
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + httpAddr(i) + "/v1/status")
	if err != nil {
		return st, nil, err
	}
	defer resp.Body.Close()
	var b json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return st, nil, err
	}
	_ = json.Unmarshal(b, &raw)
	return st, raw, json.Unmarshal(b, &st)
}

func waitLeader(d time.Duration) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		n := 0
		for i := 1; i <= 3; i++ {
			if st, _, err := getStatus(i); err == nil && st.Leader != "" {
				n++
			}
		}
		if n == 3 {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// conn is a raw Haven connection.
type conn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
	d  *msgpack.Decoder
}

func dial(t *testing.T, node int) *conn {
	nc, err := net.Dial("tcp", havenAddr(node))
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	r := bufio.NewReader(nc)
	d := msgpack.NewDecoder(r)
	d.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeMap() })
	return &conn{t: t, nc: nc, r: r, d: d}
}

func (c *conn) send(m M) {
	b, err := msgpack.Marshal(m)
	require.NoError(c.t, err)
	_, err = c.nc.Write(b)
	require.NoError(c.t, err)
}

func (c *conn) recv() (M, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	v, err := c.d.DecodeInterface()
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("answer is not a map: %T %v", v, v)
	}
	return m, nil
}

func (c *conn) call(m M) M {
	c.send(m)
	a, err := c.recv()
	require.NoError(c.t, err, "answer to %v", m)
	return a
}

// connect dials node and opens (or resumes) a session.
func connect(t *testing.T, node int, extra M) (*conn, M) {
	c := dial(t, node)
	req := M{"action": "connect", "version": "1"}
	for k, v := range extra {
		req[k] = v
	}
	a := c.call(req)
	require.Equal(t, true, a["result"], "connect: %v", a)
	return c, a
}

func code(a M) string {
	e, _ := a["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// requireFail checks the contract's failure shape: result false, error {code, message}.
func requireFail(t *testing.T, a M, want string, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, false, a["result"], msgAndArgs...)
	e, ok := a["error"].(map[string]any)
	require.True(t, ok, "error is a map: %v", a)
	require.Equal(t, want, e["code"], msgAndArgs...)
	_, ok = e["message"].(string)
	require.True(t, ok, "error has a message: %v", a)
}

func requireOK(t *testing.T, a M, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, true, a["result"], append(msgAndArgs, a)...)
}

// u converts any MessagePack integer to uint64.
func u(v any) uint64 {
	switch x := v.(type) {
	case int8:
		return uint64(x)
	case int16:
		return uint64(x)
	case int32:
		return uint64(x)
	case int64:
		return uint64(x)
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case uint64:
		return x
	case int:
		return uint64(x)
	case float64:
		return uint64(x)
	}
	panic(fmt.Sprintf("not an integer: %T %v", v, v))
}

func isInt(v any) bool {
	switch v.(type) {
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return true
	}
	return false
}

var uniq = time.Now().UnixNano()

// path returns a fresh list path for one test.
func path(name string) string {
	uniq++
	return fmt.Sprintf("/data/conf/%s-%d", name, uniq)
}
