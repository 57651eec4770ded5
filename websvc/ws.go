package websvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/session"
)

// SessionCookie holds the session's token (PROTOCOL.md, "Vera protocol").
const SessionCookie = "haven_session"

// WebSocket close codes beyond the standard ones (4000-4999 are the
// application's). The reason text says the same in words.
const (
	// CloseSessionExpired: the session ended; reconnecting starts a new one.
	CloseSessionExpired = 4001
	// CloseSlowReader: the client left too many messages unread.
	CloseSlowReader = 4002
)

// serveWS upgrades GET /ws. The session is opened (or resumed from the
// cookie) before the upgrade, so that a new session's cookie can be set on
// the 101 response itself.
func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		writeHTTPError(w, http.StatusForbidden, fsm.Forbidden, "origin "+r.Header.Get("Origin")+" may not open a WebSocket on this server")
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeHTTPError(w, http.StatusBadRequest, fsm.InvalidParameter, "GET /ws is a WebSocket upgrade")
		return
	}
	ttl := s.cfg.TTLms
	if v := r.URL.Query().Get("ttl_ms"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeHTTPError(w, http.StatusBadRequest, fsm.InvalidParameter, "ttl_ms must be a number of milliseconds")
			return
		}
		ttl = session.AskedTTL(n)
	}
	if !s.acquire() {
		writeHTTPError(w, http.StatusServiceUnavailable, fsm.Unavailable,
			fmt.Sprintf("this node serves its maximum of %d connections; try another node or later", s.cfg.MaxConnections))
		return
	}
	defer s.release()

	l := newLink(s.backend, s.cfg.MaxQueuedMessages, s.cfg.MaxQueuedBytes)
	defer l.detach()

	var token string
	if c, err := r.Cookie(SessionCookie); err == nil {
		token = c.Value
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	hello, err := l.call(ctx, session.Request{Op: session.OpConnect, Token: token, TTLms: ttl})
	if err == nil && hello.Code == fsm.SessionExpired && token != "" {
		// PROTOCOL.md: a cookie naming an expired session gets a new
		// session, and hello says "resumed": false.
		hello, err = l.call(ctx, session.Request{Op: session.OpConnect, TTLms: ttl})
	}
	cancel()
	if err != nil {
		writeHTTPError(w, http.StatusServiceUnavailable, fsm.Unavailable, "no session could be opened in time: "+err.Error())
		return
	}
	if hello.Code != fsm.OK {
		writeHTTPError(w, httpStatus(hello.Code), hello.Code, hello.Message)
		return
	}

	header := http.Header{}
	if !hello.Resumed {
		cookie := http.Cookie{
			Name: SessionCookie, Value: hello.Token, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS || r.TLS != nil,
		}
		header.Add("Set-Cookie", cookie.String())
	}
	upgrader := websocket.Upgrader{
		ReadBufferSize: 4096, WriteBufferSize: 4096,
		// The origin was checked above, with the allow list.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := upgrader.Upgrade(w, r, header)
	if err != nil {
		return // the upgrader answered the client
	}
	c := &wsConn{s: s, ws: ws, link: l, done: make(chan struct{})}
	c.run(&hello)
}

// wsConn is one open WebSocket: a reader (this goroutine) that turns
// messages into requests, and a writer that sends the node's answers and
// events in the order the node produced them.
type wsConn struct {
	s    *server
	ws   *websocket.Conn
	link *link

	pingEvery time.Duration
	// lastHeard is when the client last sent a message (unix nanoseconds).
	lastHeard atomic.Int64
	// closing is set once the writer sent a close frame: the reader then
	// only waits for the client's close.
	closing atomic.Bool
	done    chan struct{}
	once    sync.Once
}

func (c *wsConn) run(hello *session.Reply) {
	defer c.ws.Close()
	st := c.s.backend.Status()
	b, _ := json.Marshal(helloJSON{
		Action: "hello", Session: hello.Session, TTLms: hello.TTLms,
		Node: nodeName(hello.Node), Leader: st.LeaderAddress, Resumed: hello.Resumed,
	})
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return
	}
	// The edge keeps the session alive while the socket is: it pings the
	// client a third of the ttl apart, and each pong that comes back
	// pings the session if the client said nothing itself in between
	// (docs/decisions.md, "Vera").
	c.pingEvery = max(time.Duration(hello.TTLms)*time.Millisecond/3, 100*time.Millisecond)
	c.lastHeard.Store(time.Now().UnixNano())
	c.ws.SetPongHandler(func(string) error {
		c.extendRead()
		if time.Since(time.Unix(0, c.lastHeard.Load())) >= c.pingEvery && !c.closing.Load() {
			c.link.submit(session.Request{Op: session.OpPing}, nil, true)
		}
		return nil
	})
	// A client's ping frame is a message from it too. Answered as
	// gorilla's own handler does.
	c.ws.SetPingHandler(func(data string) error {
		c.extendRead()
		c.heard(time.Now())
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.s.cfg.WriteTimeout))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	c.stop()
	// The client is gone: a write blocked on its full socket gives up now
	// rather than at its timeout.
	_ = c.ws.NetConn().SetWriteDeadline(time.Now())
	<-writerDone
}

func (c *wsConn) stop() { c.once.Do(func() { close(c.done) }) }

// extendRead gives the client three ping intervals (and the write
// timeout) to show it is there, by a message or a pong.
func (c *wsConn) extendRead() {
	if c.closing.Load() {
		return
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(3*c.pingEvery + c.s.cfg.WriteTimeout))
}

func (c *wsConn) readLoop() {
	max := c.s.cfg.MaxMessageBytes
	limiter := newTokenBucket(c.s.cfg.RequestsPerSecond, c.s.cfg.Burst)
	for {
		c.extendRead()
		_, rd, err := c.ws.NextReader()
		if err != nil {
			return
		}
		// Read at most one byte over the limit: a larger message is never
		// held in memory.
		msg, err := io.ReadAll(io.LimitReader(rd, int64(max)+1))
		if err != nil {
			return
		}
		if c.closing.Load() {
			continue
		}
		if len(msg) > max {
			c.link.local(encodeError(nil, fsm.TooLarge, fmt.Sprintf("a message may have at most %d bytes", max)))
			c.link.closeWith(websocket.CloseMessageTooBig, fmt.Sprintf("message over %d bytes", max))
			continue
		}
		now := time.Now()
		req, err := decodeRequest(msg)
		if err != nil {
			re := err.(*requestError)
			c.link.local(encodeError(re.rid, re.code, re.msg))
			c.heard(now)
			continue
		}
		if !limiter.allow(now) {
			c.link.local(encodeError(req.rid, fsm.Unavailable,
				fmt.Sprintf("over %g requests per second on this connection; slow down", c.s.cfg.RequestsPerSecond)))
			c.heard(now)
			continue
		}
		if _, ok := c.link.submit(req.req, req.rid, false); !ok {
			c.link.local(encodeError(req.rid, fsm.Unavailable, "the node is overloaded; try again"))
			continue
		}
		c.lastHeard.Store(now.UnixNano())
	}
}

// heard renews the session for a message the edge answered itself, or a
// ping frame (PROTOCOL.md: "Any message from the client keeps its session
// alive"). Only a message that reached the node counts as heard there, so
// lastHeard moves only if the core took the news; and it goes at most
// once a third of a ping interval, so a client flooding the edge with
// refused messages does not flood the node.
func (c *wsConn) heard(now time.Time) {
	if now.Sub(time.Unix(0, c.lastHeard.Load())) < c.pingEvery/3 {
		return
	}
	if c.link.heard() {
		c.lastHeard.Store(now.UnixNano())
	}
}

func (c *wsConn) writeLoop() {
	ticker := time.NewTicker(c.pingEvery)
	defer ticker.Stop()
	for {
		select {
		case <-c.link.wake:
		case <-ticker.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
				c.abort()
				return
			}
			continue
		case <-c.done:
			return
		}
		msgs, closing, overflow := c.link.take()
		if overflow {
			c.sendClose(CloseSlowReader, fmt.Sprintf("slow reader: more than %d messages or %d bytes waited unread; reconnect and watch again with since",
				c.s.cfg.MaxQueuedMessages, c.s.cfg.MaxQueuedBytes))
			return
		}
		for _, m := range msgs {
			b, expired := c.render(&m)
			if b != nil {
				_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
				if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
					c.abort()
					return
				}
			}
			if expired {
				c.sendClose(CloseSessionExpired, "session expired; reconnect to start a new one")
				return
			}
		}
		if closing {
			code, reason := c.link.closeReason()
			c.sendClose(code, reason)
			return
		}
	}
}

// render turns one queued message into JSON for the client (nil: nothing
// to send), and says whether it tells of the session's end.
func (c *wsConn) render(m *outgoing) ([]byte, bool) {
	switch {
	case m.local != nil:
		return m.local, false
	case m.delivery != nil:
		return encodeNotify(&m.delivery.Event), false
	case m.reply != nil:
		p, ok := c.link.answered(m.reply.ID)
		if !ok {
			return nil, false
		}
		expired := m.reply.Code == fsm.SessionExpired
		if p.internal {
			return nil, expired
		}
		return encodeReply(p.rid, m.reply), expired
	}
	return nil, false
}

// sendClose sends a close frame with its reason and lets the reader wait
// briefly for the client's own close before the socket goes.
func (c *wsConn) sendClose(code int, reason string) {
	c.closing.Store(true)
	if len(reason) > 120 {
		reason = reason[:120] // a close frame's reason fits in 123 bytes
	}
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(2 * time.Second))
}

// abort ends a connection whose writes fail: the reader stops at once.
func (c *wsConn) abort() {
	c.closing.Store(true)
	_ = c.ws.NetConn().SetReadDeadline(time.Now())
}
