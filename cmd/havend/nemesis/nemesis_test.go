package nemesis

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// havend is the binary built from this tree by TestMain.
var havend string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "haven-nemesis-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	havend = filepath.Join(dir, "havend")
	if out, err := exec.Command("go", "build", "-o", havend, "github.com/havenproject/haven/cmd/havend").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building havend: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// envInt reads a positive integer setting, or def.
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, name)
	return n
}

// suiteOptions reads the run's settings: HAVEN_NEMESIS_SEED (default: drawn
// from the clock and logged), HAVEN_NEMESIS_DURATION (default 40s),
// HAVEN_NEMESIS_NODES (default 5; 3 for a lighter run), HAVEN_NEMESIS_FAULTS
// (default: the swarm draws the kinds) and HAVEN_NEMESIS_POWER_LOSS (1 or
// 0; default: drawn).
func suiteOptions(t *testing.T, bin string) options {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HAVEN_NEMESIS_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	duration := 40 * time.Second
	if s := os.Getenv("HAVEN_NEMESIS_DURATION"); s != "" {
		var err error
		duration, err = time.ParseDuration(s)
		require.NoError(t, err)
	}
	return options{
		bin: bin, seed: seed, nodes: envInt(t, "HAVEN_NEMESIS_NODES", 5), workers: 4,
		duration: duration, recovery: 30 * time.Second,
		deadline:  duration + 4*time.Minute,
		faults:    os.Getenv("HAVEN_NEMESIS_FAULTS"),
		powerLoss: os.Getenv("HAVEN_NEMESIS_POWER_LOSS"),
		logf:      t.Logf,
	}
}

// report logs the verdicts and leaves the run's directory only if it failed.
func report(t *testing.T, o options, res *result) {
	t.Logf("seed %d: %d operations, %d faults (%s)", o.seed, res.ops, res.faults, res.swarm)
	for _, n := range res.verdicts.notes {
		t.Logf("note: %s", n)
	}
	for _, f := range res.verdicts.failures {
		t.Logf("FAIL: %s", f)
	}
	if res.failed() || os.Getenv("HAVEN_NEMESIS_KEEP") != "" {
		t.Logf("run directory (history, porcupine HTML, faults, node logs): %s", res.dir)
	} else {
		os.RemoveAll(res.dir)
	}
}

// TestNemesis runs the cluster under faults and requires every verdict to
// pass. Repeat a failing run with HAVEN_NEMESIS_SEED.
func TestNemesis(t *testing.T) {
	o := suiteOptions(t, havend)
	t.Logf("seed %d, %d nodes, %v of faults", o.seed, o.nodes, o.duration)
	res, err := run(o)
	if res != nil {
		report(t, o, res)
	}
	require.NoError(t, err)
	require.Empty(t, res.verdicts.failures, "run directory: %s", res.dir)
}
