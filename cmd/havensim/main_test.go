package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/sim"
)

func havensim(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestJSONSummary(t *testing.T) {
	code, out, _ := havensim("-seeds", "3", "-duration", "3s", "-nodes", "3", "-json")
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &sum))
	for _, key := range []string{"seeds", "failures", "ops", "sim_seconds", "wall_seconds"} {
		require.Contains(t, sum, key)
	}
	require.Equal(t, []any{}, sum["undecided_seeds"], "an empty list, not null")
	require.Equal(t, 3.0, sum["seeds"])
	require.Equal(t, 0.0, sum["failures"])
	require.Greater(t, sum["ops"], 0.0)
	require.Greater(t, sum["sim_seconds"], 9.0)
}

// Seeds whose linearizability check ran out of time are named, so that
// one can be replayed with a longer -check-timeout; they do not fail.
func TestUndecidedSeedsAreNamed(t *testing.T) {
	sum := sim.Summary{Seeds: 30, Verdicts: map[string]int{"ok": 27, "unknown": 3}, Undecided: []uint64{4, 17, 29}}
	var out bytes.Buffer
	printSummary(&out, &sum)
	require.Contains(t, out.String(), "undecided:        3 seed(s)")
	require.Contains(t, out.String(), "-check-timeout): 4, 17, 29\n")
	require.Contains(t, out.String(), "PASS")

	out.Reset()
	printJSON(&out, &sum)
	var got struct {
		Undecided []uint64 `json:"undecided_seeds"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	require.Equal(t, []uint64{4, 17, 29}, got.Undecided)

	require.Equal(t, "1, 2 … (1 more)", seedList([]uint64{1, 2, 3}, 2))
}

func TestSessionsWorkload(t *testing.T) {
	code, out, errOut := havensim("-seeds", "2", "-duration", "3s", "-nodes", "3", "-workload", "sessions", "-json")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &sum))
	require.Greater(t, sum["ops"], 0.0)
	require.Greater(t, sum["watch_events_checked"], 0.0)
	require.Greater(t, sum["sessions_checked"], 0.0)
	code, out, errOut = havensim("-seed", "3", "-duration", "3s", "-workload", "sessions", "-faults", "heavy")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "sessions checked")
	require.Contains(t, out, "watch events checked")
}

func TestReadableSummary(t *testing.T) {
	code, out, errOut := havensim("-seed", "7", "-duration", "3s", "-faults", "heavy")
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{"seeds:", "ops checked:", "faults injected:", "elections:", "commit latency:", "p99", "real time", "PASS"} {
		require.Contains(t, out, want)
	}
	require.Contains(t, errOut, "1/1 seeds", "progress")
}

func TestTraceAndVisualization(t *testing.T) {
	dir := t.TempDir()
	trace, viz := filepath.Join(dir, "t.trace"), filepath.Join(dir, "h.html")
	code, _, errOut := havensim("-seed", "2", "-duration", "2s", "-trace", trace, "-viz", viz)
	require.Equal(t, 0, code, errOut)
	tr, err := os.ReadFile(trace)
	require.NoError(t, err)
	require.Contains(t, string(tr), "# seed 2 nodes 5")
	require.Contains(t, string(tr), "deliver MsgApp")
	html, err := os.ReadFile(viz)
	require.NoError(t, err)
	require.Contains(t, string(html), "<html")
	// The same seed writes the same trace.
	trace2 := filepath.Join(dir, "t2.trace")
	code, _, _ = havensim("-seed", "2", "-duration", "2s", "-trace", trace2)
	require.Equal(t, 0, code)
	tr2, err := os.ReadFile(trace2)
	require.NoError(t, err)
	require.Equal(t, tr, tr2)
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-workload", "nope"}, "unknown workload"},
		{[]string{"-faults", "medium"}, "unknown fault profile"},
		{[]string{"-nodes", "0"}, "-nodes 0"},
		{[]string{"-lease", "sometimes"}, "unknown lease mode"},
		{[]string{"-seed-list", "1,x"}, "-seed-list"},
		{[]string{"-no-such-flag"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		code, _, errOut := havensim(tt.args...)
		require.Equal(t, 2, code, "%v", tt.args)
		require.Contains(t, errOut, tt.want, "%v", tt.args)
	}
}

func TestHelpDescribesEveryFlag(t *testing.T) {
	// Asked for, the help goes to stdout (so that it pipes into a pager).
	code, out, errOut := havensim("-help")
	require.Equal(t, 0, code)
	require.Empty(t, errOut)
	for _, flag := range []string{"-nodes", "-seeds", "-seed", "-duration", "-faults", "-workload", "-trace", "-viz", "-json",
		"-lease", "-rate", "-clients", "-keys", "-workers", "-stop-on-failure", "-seed-list", "-compact-every", "-check-timeout"} {
		require.Regexp(t, `(?m)^  `+flag+`( |$)`, out, "help describes %s", flag)
	}
	require.Contains(t, out, "Exit status")
	// After a mistake it goes to stderr, with the mistake.
	code, out, errOut = havensim("-no-such-flag")
	require.Equal(t, 2, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "flag provided but not defined: -no-such-flag")
	require.Contains(t, errOut, "Exit status")
}

func TestTimelineOfASeed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "timeline.html")
	code, out, errOut := havensim("-seed", "5", "-duration", "5s", "-faults", "heavy", "-timeline", path, "-explain")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, errOut, "timeline of seed 5: "+path)
	require.Contains(t, out, "nothing to explain", "a passing seed has no failure to explain")
	html, err := os.ReadFile(path)
	require.NoError(t, err)
	page := string(html)
	for _, want := range []string{"<canvas", `"nodes":["n1","n2","n3","n4","n5"]`, `"k":"leader"`, `"kinds":[`, `"failure":null`} {
		require.Truef(t, strings.Contains(page, want), "the timeline lacks %s", want)
	}
}

func TestExploreMode(t *testing.T) {
	code, out, errOut := havensim("-explore", "-depth", "5", "-json")
	require.Equal(t, 0, code, errOut)
	var sum map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &sum))
	require.Equal(t, true, sum["complete"])
	require.Equal(t, 5.0, sum["depth"])
	require.Greater(t, sum["explored"], 10.0)
	require.Equal(t, 0.0, sum["failures"])
	code, _, errOut = havensim("-explore", "-nodes", "4")
	require.Equal(t, 2, code, "4 nodes is not offered")
	require.Contains(t, errOut, "-nodes 4: want 3 or 5", "the refusal names the flag")
	code, out, errOut = havensim("-explore", "-help")
	require.Equal(t, 0, code)
	require.Empty(t, errOut)
	require.Contains(t, out, "-depth")
	require.Contains(t, out, "Exit status")
}
