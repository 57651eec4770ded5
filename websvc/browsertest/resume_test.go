package browsertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// writer is a program's session on one node, over the gorilla client.
type writer struct {
	t    *testing.T
	ws   *websocket.Conn
	next int
}

func newWriter(t *testing.T, p *proc) *writer {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(p.url(), "http")+"/ws", nil)
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	var hello map[string]any
	require.NoError(t, ws.ReadJSON(&hello))
	return &writer{t: t, ws: ws}
}

// do sends a request and returns its answer (notifications are not
// expected: the writer watches nothing).
func (w *writer) do(req map[string]any) map[string]any {
	w.next++
	req["rid"] = fmt.Sprint(w.next)
	require.NoError(w.t, w.ws.WriteJSON(req))
	_ = w.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var a map[string]any
		require.NoError(w.t, w.ws.ReadJSON(&a))
		if a["rid"] == req["rid"] {
			return a
		}
	}
}

// pushRetry pushes until the cluster answers OK (it may be electing).
func (w *writer) pushRetry(path string, data any) {
	for range 50 {
		if w.do(map[string]any{"action": "push", "path": path, "data": data})["code"] == "OK" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	w.t.Fatalf("push to %s never succeeded", path)
}

// The browser client's promise: when its node dies it reconnects to
// another, the cookie resumes the session, and its watch is registered
// again with since, so the page's list ends up exactly the cluster's, with
// every event once and in order.
func TestBrowserClientResumesOnAnotherNode(t *testing.T) {
	b := newBrowser(t)
	c := startCluster(t, 3)
	n1, n2, n3 := c.procs[0], c.procs[1], c.procs[2]
	path := "/data/browser/resume-watch"

	tab, _ := b.tab()
	run(t, tab, chromedp.Navigate(n1.url()+"/client.d.ts"))
	_ = evaluate[bool](t, tab, `(async () => {
		const { connect } = await import('/client.js');
		window.haven = connect(['`+n1.url()+`', '`+n2.url()+`']);
		await haven.ready;
		window.events = [];
		window.w = haven.watch('`+path+`', { onEvent: (ev) => events.push(ev.kind === 'state' ? 'state@' + ev.version : ev.kind + '@' + ev.version) });
		await w.ready;
		window.firstSession = haven.session;
		return true;
	})()`)

	wr := newWriter(t, n3)
	for i := range 5 {
		wr.pushRetry(path, i)
	}
	_ = waitFor[bool](t, tab, "five items", `w.items.length === 5`, 20*time.Second)

	c.kill(n1)
	for i := 5; i < 10; i++ {
		wr.pushRetry(path, i)
	}
	_ = waitFor[bool](t, tab, "the page on n2 again", `haven.connected && haven.node === 'n2' && haven.resumed === true && haven.session === firstSession`, 30*time.Second)

	// The cluster's list, read linearizably on n3, and the page's.
	var want []string
	for _, it := range wr.do(map[string]any{"action": "get", "path": path})["items"].([]any) {
		want = append(want, fmt.Sprint(it.(map[string]any)["version"]))
	}
	require.GreaterOrEqual(t, len(want), 10)
	wantJS := "[" + strings.Join(want, ",") + "]"
	_ = waitFor[bool](t, tab, "the page's list equal to the cluster's", `JSON.stringify(w.items.map((it) => it.version)) === '`+wantJS+`'`, 20*time.Second)
	events := evaluate[[]string](t, tab, `events`)
	require.Equal(t, "state@0", events[0])
	var versions []string
	for _, ev := range events[1:] {
		require.True(t, strings.HasPrefix(ev, "push@"), ev)
		versions = append(versions, strings.TrimPrefix(ev, "push@"))
	}
	require.Equal(t, want, versions, "every push once, in log order, across the reconnect")
	screenshot(t, tab, "8-client-resumed-on-n2.png")
}
