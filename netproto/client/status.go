package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/havenproject/haven/fsm"
)

// The Haven protocol has no status request; a node's status is served on
// its HTTP address at GET /v1/status. These helpers read it.

// NodeStatus is a node's GET /v1/status answer.
type NodeStatus struct {
	Node          string `json:"node"`
	Role          string `json:"role"`
	Term          uint64 `json:"term"`
	Leader        string `json:"leader"`
	LeaderAddress string `json:"leader_address"`
	Commit        uint64 `json:"commit"`
	Applied       uint64 `json:"applied"`
	Group         uint64 `json:"group"`
	Sessions      int    `json:"sessions"`
	Watches       int    `json:"watches"`
	// RemovedAt is set on a node told by a member that it is no member
	// of the cluster as of that commit index (its role is then "removed").
	RemovedAt    uint64         `json:"removed_at,omitempty"`
	HavenAddress string         `json:"haven_address"`
	HTTPAddress  string         `json:"http_address"`
	PID          int            `json:"pid,omitempty"`
	Members      []MemberStatus `json:"members"`
}

// MemberStatus is one member as a node's status lists it.
type MemberStatus struct {
	ID          string `json:"id"`
	Role        string `json:"role"`
	Address     string `json:"address"`
	HTTPAddress string `json:"http_address"`
	Match       uint64 `json:"match"`
}

// DefaultHTTPAddress is the HTTP address of the node whose Haven address
// is addr under the default port layout (HTTP = Haven + 80).
func DefaultHTTPAddress(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(p+80))
}

// FetchStatus reads GET /v1/status from the node at httpAddr (host:port or
// a URL).
func FetchStatus(ctx context.Context, httpAddr string) (NodeStatus, error) {
	var st NodeStatus
	body, err := httpGet(ctx, httpAddr, "/v1/status")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, errorf(fsm.InternalError, "status", "%s: bad status: %v", httpAddr, err)
	}
	return st, nil
}

// ProcessCPU is what a node's /metrics says of its process.
type ProcessCPU struct {
	// Seconds is process_cpu_seconds_total.
	Seconds float64
	// Started is process_start_time_seconds (10 ms resolution: processes
	// started together share it).
	Started float64
	// Resident is process_resident_memory_bytes.
	Resident float64
}

// SameProcess says whether two samples taken at about the same time come
// from one process (havend -dev serves three nodes from one): the same
// start time, the same resident memory to the byte, and CPU time within a
// scheduler tick or two.
func (p ProcessCPU) SameProcess(q ProcessCPU) bool {
	d := p.Seconds - q.Seconds
	return p.Started == q.Started && p.Resident == q.Resident && d < 0.05 && d > -0.05
}

// FetchCPU reads the process metrics from the node's /metrics.
func FetchCPU(ctx context.Context, httpAddr string) (ProcessCPU, error) {
	var pc ProcessCPU
	body, err := httpGet(ctx, httpAddr, "/metrics")
	if err != nil {
		return pc, err
	}
	found := false
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(line, "#") {
			continue
		}
		name := f[0]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_cpu_seconds_total":
			pc.Seconds, found = v, true
		case "process_start_time_seconds":
			pc.Started = v
		case "process_resident_memory_bytes":
			pc.Resident = v
		}
	}
	if !found {
		return pc, errorf(fsm.Unsupported, "metrics", "%s: no process_cpu_seconds_total", httpAddr)
	}
	return pc, nil
}

func httpGet(ctx context.Context, addr, path string) ([]byte, error) {
	url := addr
	if !strings.Contains(url, "://") {
		url = "http://" + addr
	}
	url = strings.TrimSuffix(url, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, errorf(fsm.InvalidParameter, "status", "%v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &Error{Code: fsm.Unavailable, Op: "status", Node: addr, Message: err.Error(), cause: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, &Error{Code: fsm.Unavailable, Op: "status", Node: addr, Message: err.Error(), cause: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errorf(fsm.Unavailable, "status", "%s%s: HTTP %d", addr, path, resp.StatusCode)
	}
	return body, nil
}

// String renders the member for logs.
func (m MemberStatus) String() string { return fmt.Sprintf("%s(%s %s)", m.ID, m.Role, m.Address) }
