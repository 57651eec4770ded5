package nemesis

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mutant is a bug planted in a copy of the tree: old is replaced by new in
// file (relative to the module root).
type mutant struct {
	name, file, old, new string
	// faults and powerLoss force the run's swarm (options), when set.
	faults, powerLoss string
}

var mutants = []mutant{
	{
		name:   "linearizable-read-served-locally",
		file:   "session/reads.go",
		old:    "\tif req.Stale {\n\t\tif cn := c.conns[req.Conn]",
		new:    "\tif true {\n\t\tif cn := c.conns[req.Conn]",
		faults: "kill,pause,halves,isolate,one-way,bridge",
	},
	{
		name:   "ping-ok-without-confirmation",
		file:   "session/liveness.go",
		old:    "func (l *liveness) ping(c *Core, req *Request) {\n",
		new:    "func (l *liveness) ping(c *Core, req *Request) {\n\tif true {\n\t\tc.reply(Reply{Conn: req.Conn, ID: req.ID, Op: req.Op})\n\t\treturn\n\t}\n",
		faults: "kill,pause,halves,isolate,one-way,bridge",
	},
	{
		// A skipped fsync is invisible to a kill -9 alone (the kernel's
		// page cache survives the process): power-loss mode (havend's
		// HAVEN_TEST_POWER_LOSS) makes the kill lose what was not synced.
		name:      "wal-save-never-syncs",
		file:      "raft/wal/wal.go",
		old:       "if err := w.appendRecord(&rec, sync); err != nil {",
		new:       "if err := w.appendRecord(&rec, sync && false); err != nil {",
		faults:    "kill,pause,isolate",
		powerLoss: "1",
	},
}

// TestMutantsAreCaught plants each bug in a copy of the module, builds
// havend there and runs the suite against it. It takes minutes per
// mutant, so it runs only with HAVEN_NEMESIS_MUTANTS=1 (or =name).
func TestMutantsAreCaught(t *testing.T) {
	which := os.Getenv("HAVEN_NEMESIS_MUTANTS")
	if which == "" {
		t.Skip("set HAVEN_NEMESIS_MUTANTS=1 (or a mutant's name) to run the mutants (minutes each)")
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	modRoot := filepath.Dir(strings.TrimSpace(string(root)))
	files, err := exec.Command("git", "-C", modRoot, "ls-files").Output()
	require.NoError(t, err)
	for _, m := range mutants {
		if which != "1" && which != m.name {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			copyDir := t.TempDir()
			for _, f := range strings.Split(strings.TrimSpace(string(files)), "\n") {
				data, err := os.ReadFile(filepath.Join(modRoot, f))
				if err != nil {
					continue // deleted in the worktree
				}
				dst := filepath.Join(copyDir, f)
				require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
				require.NoError(t, os.WriteFile(dst, data, 0o644))
			}
			target := filepath.Join(copyDir, m.file)
			src, err := os.ReadFile(target)
			require.NoError(t, err)
			require.Equal(t, 1, strings.Count(string(src), m.old), "the mutant's text must occur once in %s", m.file)
			require.NoError(t, os.WriteFile(target, []byte(strings.Replace(string(src), m.old, m.new, 1)), 0o644))
			bin := filepath.Join(copyDir, "havend-mutant")
			build := exec.Command("go", "build", "-o", bin, "./cmd/havend")
			build.Dir = copyDir
			out, err := build.CombinedOutput()
			require.NoError(t, err, "%s", out)

			o := suiteOptions(t, bin)
			if m.faults != "" {
				o.faults = m.faults
			}
			if m.powerLoss != "" {
				o.powerLoss = m.powerLoss
			}
			if os.Getenv("HAVEN_NEMESIS_DURATION") == "" {
				o.duration = 60 * time.Second
				o.deadline = o.duration + 4*time.Minute
			}
			// A fault must meet the bug: a stale read needs a client on the
			// lagging node at the right moment. Up to three seeds, as a
			// Jepsen campaign runs several times.
			caught := false
			for attempt := 0; attempt < 3 && !caught; attempt++ {
				t.Logf("mutant %s: seed %d, %v (attempt %d)", m.name, o.seed, o.duration, attempt+1)
				res, err := run(o)
				require.NoError(t, err)
				report(t, o, res)
				caught = res.failed()
				o.seed++
			}
			require.True(t, caught, "the suite did not catch mutant %s in three runs", m.name)
		})
	}
}
