package websvc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/session"
)

// serveData answers GET and HEAD /data/... : a read (PROTOCOL.md, "Vera
// protocol"), or with ?watch=1 a stream of server-sent events.
//
// A read needs no session (docs/decisions.md): each request gets its own
// connection on the node for the time of the read.
func (s *server) serveData(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeHTTPError(w, http.StatusMethodNotAllowed, fsm.Unsupported, "GET or HEAD; writes go over the WebSocket (GET /ws)")
		return
	}
	// The escaped path is the one to check: /data/a%2Fb is not a path of
	// PROTOCOL.md's alphabet, and must not be read as /data/a/b.
	path := r.URL.EscapedPath()
	if err := fsm.ValidatePath(path); err != nil {
		writeHTTPError(w, http.StatusBadRequest, fsm.InvalidParameter, err.Error())
		return
	}
	q := r.URL.Query()
	stale, err := parseConsistency(q.Get("consistency"))
	if err != nil {
		writeHTTPError(w, http.StatusBadRequest, fsm.InvalidParameter, err.Error())
		return
	}
	// HEAD of a watch is the read's headers: there is no stream to open.
	if watch := q.Get("watch"); r.Method == http.MethodGet && watch != "" && watch != "0" && watch != "false" {
		s.serveEvents(w, r, path)
		return
	}

	l := newLink(s.backend, 4, 1<<62)
	defer l.detach()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	reply, err := l.call(ctx, session.Request{Op: session.OpRead, Path: path, Stale: stale})
	if err != nil {
		writeHTTPError(w, http.StatusServiceUnavailable, fsm.Unavailable, "the read did not finish in time")
		return
	}
	if reply.Code != fsm.OK {
		writeHTTPError(w, httpStatus(reply.Code), reply.Code, reply.Message)
		return
	}
	etag := `"` + strconv.FormatUint(reply.Version, 10) + `"`
	h := w.Header()
	if origin := r.Header.Get("Origin"); origin != "" && s.originAllowed(r) {
		// Pages of the allowed origins (the other members' dashboards)
		// may read too; reads need no session, so no credentials ride.
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "ETag")
		h.Add("Vary", "Origin")
	}
	h.Set("ETag", etag)
	// Revalidate every time: the list may change at any moment, and the
	// revalidation is the cheap 304.
	h.Set("Cache-Control", "no-cache")
	if etagMatches(r.Header.Get("If-None-Match"), reply.Version) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body, _ := json.Marshal(struct {
		Items   []itemJSON `json:"items"`
		Version uint64     `json:"version"`
	}{toItemsJSON(reply.Items), reply.Version})
	body = append(body, '\n')
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// etagMatches reads If-None-Match: a list of entity tags (weak or strong,
// compared weakly as RFC 9110 says for If-None-Match), or "*". A bare
// number is taken too, for scripts that send the version itself.
func etagMatches(header string, version uint64) bool {
	if header == "" {
		return false
	}
	want := strconv.FormatUint(version, 10)
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		tag = strings.TrimPrefix(tag, "W/")
		tag = strings.Trim(tag, `"`)
		if tag == want {
			return true
		}
	}
	return false
}

// serveEvents streams a watch as server-sent events (text/event-stream),
// for curl and EventSource. The stream has a session of its own, opened
// for it and closed when it ends (docs/decisions.md): a watch belongs to a
// session, and an SSE client has no way to hold one across requests.
//
// Each event's id is the list version it brings the client to, so a
// reconnecting EventSource sends Last-Event-ID and gets exactly the events
// after it (or, if the node no longer has them, the list again with
// "reset": true). ?since= does the same for a first request.
func (s *server) serveEvents(w http.ResponseWriter, r *http.Request, path string) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeHTTPError(w, http.StatusInternalServerError, fsm.InternalError, "this server cannot stream")
		return
	}
	var since *uint64
	sinceText := r.Header.Get("Last-Event-ID")
	if sinceText == "" {
		sinceText = r.URL.Query().Get("since")
	}
	if sinceText != "" {
		v, err := strconv.ParseUint(sinceText, 10, 64)
		if err != nil {
			writeHTTPError(w, http.StatusBadRequest, fsm.InvalidParameter, "Last-Event-ID (or since) must be a version")
			return
		}
		since = &v
	}
	if !s.acquire() {
		writeHTTPError(w, http.StatusServiceUnavailable, fsm.Unavailable,
			fmt.Sprintf("this node serves its maximum of %d connections", s.cfg.MaxConnections))
		return
	}
	defer s.release()

	l := newLink(s.backend, s.cfg.MaxQueuedMessages, s.cfg.MaxQueuedBytes)
	defer l.detach()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	hello, err := l.call(ctx, session.Request{Op: session.OpConnect, TTLms: s.cfg.TTLms})
	var watch session.Reply
	if err == nil && hello.Code == fsm.OK {
		// From here on the session exists: close it when the stream ends,
		// whatever the reason, so it does not linger for its ttl.
		defer l.submit(session.Request{Op: session.OpClose}, nil, true)
		watch, err = l.call(ctx, session.Request{Op: session.OpWatch, Path: path, Since: since})
	}
	cancel()
	switch {
	case err != nil:
		writeHTTPError(w, http.StatusServiceUnavailable, fsm.Unavailable, "the watch could not be set up in time")
		return
	case hello.Code != fsm.OK:
		writeHTTPError(w, httpStatus(hello.Code), hello.Code, hello.Message)
		return
	case watch.Code != fsm.OK:
		writeHTTPError(w, httpStatus(watch.Code), watch.Code, watch.Message)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	// The retry hint keeps EventSource's reconnect well inside the watch
	// history's reach.
	buf.WriteString("retry: 1000\n")
	if since == nil || watch.Reset {
		state, _ := json.Marshal(struct {
			Action  string     `json:"action"`
			Path    string     `json:"path"`
			Items   []itemJSON `json:"items"`
			Version uint64     `json:"version"`
			Reset   bool       `json:"reset,omitempty"`
		}{"state", path, toItemsJSON(watch.Items), watch.Version, watch.Reset})
		writeEvent(&buf, watch.Version, state)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return
	}
	flusher.Flush()

	ttl := time.Duration(hello.TTLms) * time.Millisecond
	keepalive := time.NewTicker(max(ttl/3, 100*time.Millisecond))
	defer keepalive.Stop()
	rc := http.NewResponseController(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			// The stream's session lives while the stream does; the comment
			// line also finds a client that went away.
			l.submit(session.Request{Op: session.OpPing}, nil, true)
			buf.Reset()
			buf.WriteString(": keepalive\n\n")
		case <-l.wake:
			msgs, closing, overflow := l.take()
			if overflow {
				return // the client reconnects with Last-Event-ID
			}
			buf.Reset()
			for _, m := range msgs {
				switch {
				case m.delivery != nil:
					writeEvent(&buf, m.delivery.Event.Version, encodeNotify(&m.delivery.Event))
				case m.reply != nil:
					if _, ok := l.answered(m.reply.ID); ok && m.reply.Code == fsm.SessionExpired {
						closing = true
					}
				}
			}
			if closing {
				_, _ = w.Write(buf.Bytes())
				return
			}
		}
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		flusher.Flush()
	}
}

func writeEvent(buf *bytes.Buffer, id uint64, data []byte) {
	fmt.Fprintf(buf, "id: %d\ndata: %s\n\n", id, data)
}
