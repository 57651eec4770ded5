package timeline

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const sample = `   0.000000 # seed 7 nodes 3 duration 2s faults heavy
   0.100000 deliver MsgVote n1->n2 term=2 index=3 logterm=1
   0.101000 deliver MsgVoteResp n2->n1 term=2
   0.102000 # n1 leads term 2
   0.110000 deliver MsgApp n1->n2 term=2 index=3 logterm=1 commit=3 entries=1
   0.120000 deliver MsgApp n1->n3 term=2 index=3 logterm=1 commit=4 entries=1
   0.300000 # fault: crash n1 for 500ms
   0.300000 # n1 crashes (unsynced writes: lost), restarts in 500ms
   0.400000 deliver MsgPreVote n3->n2 term=3 index=4 logterm=2
   0.500000 deliver MsgVote n3->n2 term=3 index=4 logterm=2
   0.510000 # n3 leads term 3
   0.600000 request c1->n2 put k1 op=4
   0.610000 reply n2->c1 ok index=9
   0.620000 reply n2->c1 unavailable
   0.900000 deliver MsgHeartbeat n3->n1 term=3 index=0 logterm=0 commit=9
   1.000000 # n2 pauses for 250ms
   1.500000 # fault: one-way partition {n1} -/-> {n2,n3} for 2s
   1.900000 # n2 state role=Leader term=5 commit=12 applied=11
`

func TestParseInfersLanes(t *testing.T) {
	run := parseSample(t)
	require.Equal(t, []string{"n1", "n2", "n3"}, run.Nodes)
	require.Equal(t, "seed 7 nodes 3 duration 2s faults heavy", run.Title)
	require.InDelta(t, 1.9, run.Duration, 1e-9)

	byKind := map[string][]Band{}
	for _, b := range run.Bands {
		byKind[b.Kind] = append(byKind[b.Kind], b)
	}
	require.Len(t, byKind["leader"], 3)
	// n1 leads term 2 until it crashes.
	require.Equal(t, Band{Node: 1, Kind: "leader", From: 0.102, To: 0.3, Term: 2, TraceRef: 4}, byKind["leader"][0])
	// n3 leads term 3 to the end; n2's state line makes it leader of 5.
	require.Equal(t, uint64(3), byKind["leader"][1].Term)
	require.InDelta(t, 1.9, byKind["leader"][1].To, 1e-9)
	require.Equal(t, 2, byKind["leader"][2].Node)
	require.Equal(t, []Band{{Node: 1, Kind: "down", From: 0.3, To: 0.8, TraceRef: 8}}, byKind["down"])
	require.Len(t, byKind["paused"], 1)

	// Terms: a pre-vote does not change n2's term; the vote does.
	var n2terms []uint64
	for _, p := range run.Terms {
		if p.Node == 2 {
			n2terms = append(n2terms, p.Value)
		}
	}
	require.Equal(t, []uint64{2, 3, 5}, n2terms)

	// Commit: what leaders announced and followers were told.
	require.Contains(t, run.Commits, Point{Node: 3, At: 0.12, Value: 4})
	require.Contains(t, run.Commits, Point{Node: 1, At: 0.9, Value: 9})
	require.Equal(t, []Point{{Node: 2, At: 1.9, Value: 11}}, run.Applied)

	require.Len(t, run.Messages, 7)
	require.Equal(t, []string{"MsgVote", "MsgVoteResp", "MsgApp", "MsgPreVote", "MsgHeartbeat"}, run.Kinds)
	require.Len(t, run.Ops, 3)
	require.True(t, run.Ops[1].OK)
	require.False(t, run.Ops[2].OK)
	require.Len(t, run.Faults, 2)
	require.InDelta(t, 1.9, run.Faults[1].To, 1e-9, "a fault band is cut at the end of the trace")
	require.Equal(t, &Failure{At: 1.8, Text: "Election Safety violated: two leaders"}, run.Failure)
}

func parseSample(t *testing.T) *Run {
	t.Helper()
	run, err := Parse(strings.NewReader(sample))
	require.NoError(t, err)
	run.Fail(1.8, "Election Safety violated: two leaders")
	return run
}

func TestRenderIsSelfContained(t *testing.T) {
	run := parseSample(t)
	var page bytes.Buffer
	require.NoError(t, Render(&page, run))
	html := page.String()
	for _, want := range []string{"<canvas", `"nodes":["n1","n2","n3"]`, `"failure":{"a":1.8`, "Election Safety violated", `"kinds":["MsgVote"`} {
		require.Truef(t, strings.Contains(html, want), "the page lacks %s", want)
	}
	require.NotRegexp(t, regexp.MustCompile(`(src|href)="https?:`), html, "the page must not load anything from the network")
	// A trace cannot break out of the script.
	evil, err := Parse(strings.NewReader("0.1 # seed 1 nodes 1 duration 1s\n0.2 request c1->n1 </script><script>alert(1)</script>\n"))
	require.NoError(t, err)
	page.Reset()
	require.NoError(t, Render(&page, evil))
	require.Equal(t, 1, strings.Count(page.String(), "</script>"))
}

// With Chromium on the machine, the page loads headless and draws every
// lane, band and message of the run and its failure marker.
func TestTimelineDrawsInChromium(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: .ci/run must install Debian's chromium")
		}
		t.Skip("chromium not found (install Debian's chromium); this test loads the timeline headless")
	}
	run := parseSample(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "timeline.html")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, Render(f, run))
	require.NoError(t, f.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--dump-dom", "file://"+path)
	out, err := cmd.Output()
	require.NoError(t, err, string(out))
	// nodes, bands, messages drawn, failure marker
	drawn := regexp.MustCompile(`data-drawn="[^"]*"`).FindString(string(out))
	require.Equal(t, `data-drawn="3 5 7 1"`, drawn, "what the page says it drew")
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func TestExplainTellsTheStoryOfTheFailure(t *testing.T) {
	run, err := Parse(strings.NewReader(sample))
	require.NoError(t, err)
	run.Fail(1.8, "Leader Completeness violated: node 3 leads term 3 without the write at index 4 (term 2)")
	story := Explain(run)
	t.Log(story)
	for _, want := range []string{
		"node(s) n3; term(s) 2, 3; index(es) 4",
		"n1 became leader of term 2 (until 0.300000s).",
		"n3 became leader of term 3 (until the end).",
		"n1 was first seen with index 4 committed (commit index 4).",
		"The check failed: Leader Completeness violated",
	} {
		require.Contains(t, story, want)
	}
	require.NotContains(t, story, "n2 was paused", "n2 is not named by the check")
	require.Less(t, strings.Index(story, "term 2 (until"), strings.Index(story, "term 3 (until"), "told in order")

	passed, err := Parse(strings.NewReader(sample))
	require.NoError(t, err)
	require.Contains(t, Explain(passed), "nothing to explain")
}
