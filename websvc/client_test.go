package websvc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// wsClient is a test client on the gorilla client: it sends requests with
// their own rid and sorts what comes back into answers (by rid) and
// notifications (in arrival order).

type msg = map[string]any

type wsClient struct {
	t      testing.TB
	conn   *websocket.Conn
	resp   *http.Response
	hello  msg
	mu     sync.Mutex
	next   int
	answer map[string]chan msg
	notify chan msg
	// closed receives the error that ended the read loop.
	closed chan error
}

func newJar(t testing.TB) http.CookieJar {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return jar
}

func wsURL(srv string, query string) string {
	u := "ws" + strings.TrimPrefix(srv, "http") + "/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// dial opens a WebSocket to a test server with jar's cookies.
func dial(t testing.TB, srv string, jar http.CookieJar, header http.Header, query string) (*wsClient, error) {
	return dialWith(t, srv, jar, header, query, nil)
}

// dialWith is dial with setup run on the connection before its reader
// starts (to set its control-frame handlers, say).
func dialWith(t testing.TB, srv string, jar http.CookieJar, header http.Header, query string, setup func(*websocket.Conn)) (*wsClient, error) {
	d := websocket.Dialer{Jar: jar, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(wsURL(srv, query), header)
	if err != nil {
		return &wsClient{resp: resp}, err
	}
	c := &wsClient{t: t, conn: conn, resp: resp, answer: map[string]chan msg{},
		notify: make(chan msg, 10000), closed: make(chan error, 1)}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	require.NoError(t, conn.ReadJSON(&c.hello))
	_ = conn.SetReadDeadline(time.Time{})
	if setup != nil {
		setup(conn)
	}
	go c.readLoop()
	return c, nil
}

func mustDial(t testing.TB, srv string, jar http.CookieJar) *wsClient {
	c, err := dial(t, srv, jar, nil, "")
	require.NoError(t, err)
	require.Equal(t, "hello", c.hello["action"])
	return c
}

func (c *wsClient) readLoop() {
	for {
		var m msg
		if err := c.conn.ReadJSON(&m); err != nil {
			c.closed <- err
			return
		}
		if m["action"] == "notify" {
			c.notify <- m
			continue
		}
		rid, _ := m["rid"].(string)
		c.mu.Lock()
		ch := c.answer[rid]
		if ch == nil {
			ch = make(chan msg, 1)
			c.answer[rid] = ch
		}
		c.mu.Unlock()
		ch <- m
	}
}

// send sends a request and returns its rid.
func (c *wsClient) send(req msg) string {
	c.mu.Lock()
	c.next++
	rid := fmt.Sprintf("r%d", c.next)
	if _, ok := c.answer[rid]; !ok {
		c.answer[rid] = make(chan msg, 1)
	}
	c.mu.Unlock()
	req["rid"] = rid
	require.NoError(c.t, c.conn.WriteJSON(req))
	return rid
}

func (c *wsClient) wait(rid string) msg {
	c.mu.Lock()
	ch := c.answer[rid]
	if ch == nil {
		ch = make(chan msg, 1)
		c.answer[rid] = ch
	}
	c.mu.Unlock()
	select {
	case m := <-ch:
		return m
	case err := <-c.closed:
		c.closed <- err
		select {
		case m := <-ch: // the answer came just before the close
			return m
		default:
		}
		c.t.Fatalf("connection closed waiting for %s: %v", rid, err)
	case <-time.After(15 * time.Second):
		c.t.Fatalf("no answer to %s", rid)
	}
	return nil
}

// do sends a request and waits for its answer.
func (c *wsClient) do(req msg) msg { return c.wait(c.send(req)) }

// ok does a request that must succeed.
func (c *wsClient) ok(req msg) msg {
	a := c.do(req)
	require.Equal(c.t, "OK", a["code"], "answer %v to %v", a, req)
	return a
}

func (c *wsClient) nextNotify() msg {
	select {
	case m := <-c.notify:
		return m
	case <-time.After(10 * time.Second):
		c.t.Fatal("no notification")
	}
	return nil
}

func (c *wsClient) noNotify(d time.Duration) {
	select {
	case m := <-c.notify:
		c.t.Fatalf("unexpected notification %v", m)
	case <-time.After(d):
	}
}

// closeError waits for the server to close the connection.
func (c *wsClient) closeError() error {
	select {
	case err := <-c.closed:
		return err
	case <-time.After(20 * time.Second):
		c.t.Fatal("the server did not close the connection")
	}
	return nil
}

func num(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

func items(a msg) []msg {
	raw, _ := a["items"].([]any)
	out := make([]msg, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
