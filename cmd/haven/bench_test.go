package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fields `haven bench -o json` documents, in every mode.
var benchFields = []string{"mode", "clients", "placement", "value_size", "rate", "duration_s", "ops", "errors",
	"throughput", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms", "cpu_seconds", "cpu_ms_per_op", "cpu_cores", "endpoints"}

func checkBench(t *testing.T, r result, mode string) map[string]any {
	t.Helper()
	require.Equal(t, 0, r.code, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 1, "one JSON line")
	m := decodeJSON(t, lines[0])
	for _, f := range benchFields {
		require.Contains(t, m, f, "%s: field %s", mode, f)
	}
	require.Equal(t, mode, m["mode"])
	require.Greater(t, m["ops"].(float64), 0.0, mode)
	require.Greater(t, m["throughput"].(float64), 0.0, mode)
	p50, p99, mx := m["p50_ms"].(float64), m["p99_ms"].(float64), m["max_ms"].(float64)
	require.Greater(t, p50, 0.0)
	require.LessOrEqual(t, p50, p99)
	require.LessOrEqual(t, p99, mx)
	if mode != "failover" { // the killed node's CPU may not be readable
		require.NotNil(t, m["cpu_seconds"], "the node's /metrics gave its CPU")
	}
	return m
}

func TestBenchModes(t *testing.T) {
	c := startCluster(t, 3)
	common := []string{"--duration", "1s", "--warmup", "200ms", "--quiet", "-o", "json"}
	for _, mode := range [][]string{{"push", "--clients", "4"}, {"read"}, {"read", "--stale", "--clients", "4"}, {"watch", "--clients", "2"}, {"close-notify"}, {"push", "--placement", "given", "--clients", "2"}} {
		r := c.haven(append(append([]string{"bench"}, mode...), common...)...)
		m := checkBench(t, r, mode[0])
		if len(mode) > 1 && mode[1] == "--stale" {
			require.Equal(t, true, m["stale"])
		}
		if len(mode) > 2 && mode[1] == "--placement" {
			require.Equal(t, "given", m["placement"])
		} else {
			require.Equal(t, "followers-first", m["placement"])
		}
	}

	// Open loop at a fixed rate: about rate × duration operations.
	hist := filepath.Join(t.TempDir(), "push.hgrm")
	r := c.haven(append([]string{"bench", "push", "--rate", "200", "--clients", "2", "--histogram", hist}, common...)...)
	m := checkBench(t, r, "push")
	require.Equal(t, 200.0, m["rate"])
	require.InDelta(t, 200, m["ops"].(float64)+m["errors"].(float64), 6, "every operation due in the window was sent")
	b, err := os.ReadFile(hist)
	require.NoError(t, err)
	require.Contains(t, string(b), "Percentile")

	// Text: the table, and live progress on stderr.
	r = c.haven("bench", "push", "--duration", "1500ms", "--warmup", "0s")
	require.Equal(t, 0, r.code, r)
	for _, row := range []string{"mode", "measured", "throughput", "latency", "cluster CPU"} {
		require.Regexp(t, "(?m)^"+row+`\s`, r.stdout)
	}
	require.Regexp(t, `p50 [\d.]+ms\s+p90 [\d.]+ms\s+p99 [\d.]+ms\s+p99.9 [\d.]+ms\s+max`, r.stdout)
	require.Contains(t, r.stderr, "measuring]")

	r = c.haven("bench", "fly")
	require.Equal(t, 2, r.code, r)
	r = c.haven("bench", "failover")
	require.Equal(t, 2, r.code, r)
	require.Contains(t, r.stderr, "--kill")
}

// failover: the kill command ends the leader of three separate processes;
// writes resume once the others have elected a new one.
func TestBenchFailover(t *testing.T) {
	c := startCluster(t, 3)
	lead := c.leader()
	r := c.haven("bench", "failover", "--clients", "4", "--duration", "1s", "--warmup", "200ms", "--quiet", "-o", "json",
		"--pids", c.pids(), "--kill", "kill -9 {pid}")
	m := checkBench(t, r, "failover")
	require.Equal(t, lead.id, m["killed"])
	require.NotNil(t, m["failover_ms"], r.stdout)
	require.Greater(t, m["failover_ms"].(float64), 0.0)
	select {
	case <-lead.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the leader was not killed")
	}
	lead.cmd = nil
}
