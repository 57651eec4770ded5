package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// chromiumPath finds Debian's chromium (or another Chrome). Under CI=true a
// missing browser fails the test: CI installs it (.ci/run).
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); CI must run the browser tests")
	}
	t.Skip("chromium is not installed: skipping the browser tests (apt-get install -y chromium to run them; under CI=true they fail instead)")
	return ""
}

var (
	shotsOnce sync.Once
	shotsDir  string
)

// screenshotDir is where the screenshots go: $HAVEN_ARTIFACTS/browser-screenshots
// if set, else haven-browser-screenshots in the temporary directory (so
// the place is known even when `go test` hides a passing test's output),
// emptied at the start of each run. The test prints it.
func screenshotDir(t *testing.T) string {
	shotsOnce.Do(func() {
		if dir := os.Getenv("HAVEN_ARTIFACTS"); dir != "" {
			shotsDir = filepath.Join(dir, "browser-screenshots")
		} else {
			shotsDir = filepath.Join(os.TempDir(), "haven-browser-screenshots")
		}
		_ = os.RemoveAll(shotsDir)
		if err := os.MkdirAll(shotsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("browser test screenshots: %s\n", shotsDir)
	})
	t.Logf("screenshots in %s", shotsDir)
	return shotsDir
}

// browser is one headless Chromium for a test.
type browser struct {
	t     *testing.T
	alloc context.Context
	root  context.Context
}

func newBrowser(t *testing.T) *browser {
	exe := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1100),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	require.NoError(t, chromedp.Do(root), "starting chromium")
	t.Cleanup(func() {
		cancelRoot()
		cancelAlloc()
	})
	return &browser{t: t, alloc: alloc, root: root}
}

// tab opens a page in a browser context of its own: its own cookie jar,
// so its own Haven session, as another browser would have.
func (b *browser) tab() (context.Context, context.CancelFunc) {
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	// The first Run opens the tab, which lives as long as that call's
	// context: this one, without a timeout (later calls may have one).
	require.NoError(b.t, chromedp.Do(ctx), "opening a tab")
	return ctx, cancel
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...))
}

// waitFor polls a JavaScript expression until it is truthy, and returns
// its value.
func waitFor[T any](t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	require.NoError(t, err, "waiting for %s (%s)", what, expr)
	return v
}

// evaluate runs a script (awaiting its promise) and returns its value.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "evaluating %s", expr)
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(screenshotDir(t), name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot %s", path)
}

// TestBrowser runs the browser scenarios on one three-process cluster; the
// leader is killed last.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	c := startCluster(t, 3)
	n1, n2 := c.procs[0], c.procs[1]

	t.Run("push in one page, watch in another, gone when the session ends", func(t *testing.T) {
		path := "/data/browser/seen"
		watcher, _ := b.tab()
		run(t, watcher, chromedp.Navigate(n2.url()+"/?path="+path))
		_ = waitFor[bool](t, watcher, "the dashboard's watch", `document.querySelector('#list-version').textContent.startsWith('version')`, 20*time.Second)

		pusher, closePusher := b.tab()
		run(t, pusher, chromedp.Navigate(n1.url()+"/client.d.ts"))
		version := evaluate[float64](t, pusher, `(async () => {
			const { connect } = await import('/client.js');
			const haven = connect();
			await haven.ready;
			const { item } = await haven.push('`+path+`', { from: 'the pushing page' });
			return item.version;
		})()`)
		require.Greater(t, version, 0.0)
		v := strconv.FormatFloat(version, 'f', -1, 64)
		text := waitFor[string](t, watcher, "the item in the watching page", `document.querySelector('#items li[data-version="`+v+`"]')?.textContent`, 20*time.Second)
		require.Contains(t, text, "the pushing page")
		screenshot(t, watcher, "1-watch-sees-push.png")

		// Closing the page drops its socket; the session expires after
		// its ttl (5 s) and takes the item with it.
		closePusher()
		_ = waitFor[bool](t, watcher, "the item gone", `!document.querySelector('#items li[data-version="`+v+`"]') && document.querySelector('#events li.delete') !== null`, 30*time.Second)
		screenshot(t, watcher, "2-item-gone-with-session.png")
	})

	t.Run("cookie resumes the session on another node", func(t *testing.T) {
		tab, _ := b.tab()
		run(t, tab, chromedp.Navigate(n1.url()+"/client.d.ts"))
		first := evaluate[map[string]any](t, tab, `(async () => {
			const { connect } = await import('/client.js');
			const haven = connect();
			const hello = await haven.ready;
			const { item } = await haven.push('/data/browser/resume', 'from n1');
			return { session: hello.session, resumed: hello.resumed, node: hello.node, item: item.version };
		})()`)
		require.Equal(t, false, first["resumed"])
		require.Equal(t, "n1", first["node"])

		// Another node of the same host: the browser sends the cookie.
		run(t, tab, chromedp.Navigate(n2.url()+"/client.d.ts"))
		second := evaluate[map[string]any](t, tab, `(async () => {
			const { connect } = await import('/client.js');
			const haven = connect();
			const hello = await haven.ready;
			const { item } = await haven.update('/data/browser/resume', `+fmt.Sprint(first["item"])+`, 'from n2');
			return { session: hello.session, resumed: hello.resumed, node: hello.node, owner: item.owner };
		})()`)
		require.Equal(t, true, second["resumed"])
		require.Equal(t, "n2", second["node"])
		require.Equal(t, first["session"], second["session"])
		require.Equal(t, first["session"], second["owner"], "the item is still the session's")
	})

	t.Run("leader election between two pages", func(t *testing.T) {
		page := "/examples/election.html?path=/data/browser/election"
		a, closeA := b.tab()
		run(t, a, chromedp.Navigate(n1.url()+page))
		_ = waitFor[bool](t, a, "the first page leads", `document.querySelector('#state').dataset.leader === 'yes'`, 20*time.Second)
		bTab, _ := b.tab()
		run(t, bTab, chromedp.Navigate(n2.url()+page))
		_ = waitFor[bool](t, bTab, "the second page follows", `document.querySelector('#state').dataset.leader === 'no' && document.querySelectorAll('#candidates li').length === 2`, 20*time.Second)
		screenshot(t, a, "3-election-leader.png")
		screenshot(t, bTab, "4-election-follower.png")
		closeA()
		_ = waitFor[bool](t, bTab, "the second page takes over", `document.querySelector('#state').dataset.leader === 'yes' && document.querySelectorAll('#candidates li').length === 1`, 30*time.Second)
		screenshot(t, bTab, "5-election-new-leader.png")
	})

	t.Run("dashboard shows three nodes, one leader, and the next leader", func(t *testing.T) {
		tab, _ := b.tab()
		run(t, tab, chromedp.Navigate(n1.url()+"/"))
		leader := waitFor[string](t, tab, "three nodes and one leader", `(() => {
			const rows = document.querySelectorAll('#nodes tbody tr');
			const leaders = document.querySelectorAll('#nodes tbody tr[data-role="leader"]');
			const members = document.querySelectorAll('#members tbody tr');
			if (rows.length !== 3 || leaders.length !== 1 || members.length !== 3) return false;
			const name = document.querySelector('#leader').textContent;
			return leaders[0].dataset.node === name ? name : false;
		})()`, 20*time.Second)
		time.Sleep(3 * time.Second) // a few samples on the charts
		screenshot(t, tab, "6-dashboard.png")

		c.kill(c.byID(leader))
		next := waitFor[string](t, tab, "a new leader", `(() => {
			const name = document.querySelector('#leader').textContent;
			const dead = document.querySelector('#nodes tbody tr[data-node="`+leader+`"]');
			return name !== 'none' && name !== '`+leader+`' && dead && dead.dataset.role === 'unreachable' ? name : false;
		})()`, 30*time.Second)
		require.NotEqual(t, leader, next)
		// The page's WebSocket is up again: to its own node, or (if that
		// was the one killed) to another member, resuming its session.
		_ = waitFor[bool](t, tab, "the WebSocket back", `document.querySelector('#conn').className === 'ok'`, 30*time.Second)
		time.Sleep(2 * time.Second)
		screenshot(t, tab, "7-dashboard-new-leader.png")
	})
}
