package websvc

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/session"
	"github.com/havenproject/haven/websvc/dashboard"
	"github.com/havenproject/haven/websvc/webclient"
)

// Backend is the node an edge serves: the host loop that owns a session.Core.
type Backend interface {
	// Attach registers a new client connection. The node calls out, from its
	// loop goroutine, with each batch of replies and deliveries for this
	// connection, and with close=true when the core asks to close it (after
	// the batch). out must never block: the edge queues, and closes the
	// connection if its bounded queue overflows. The slices are the edge's
	// to keep (the node copies them out of the core's Ready).
	Attach(out func(replies []session.Reply, deliveries []session.Delivery, close bool)) session.ConnID
	// Submit hands a request to the node's loop. false: the node's intake
	// queue is full; the edge answers Unavailable (backpressure).
	Submit(req session.Request) bool
	// Detach tells the node the client connection is gone.
	Detach(id session.ConnID)
	// Status is the node's latest status, readable from any goroutine.
	Status() session.Status
}

// Config is the edge's settings. The zero value is usable: every limit has
// a default.
type Config struct {
	// AllowedOrigins are the origins (scheme://host:port) besides the
	// server's own whose pages may open a WebSocket; "*" allows any. The
	// host lists the other members' HTTP origins here, so a page served by
	// one node may connect to another.
	AllowedOrigins []string
	// TLS says the listener serves HTTPS: the session cookie is Secure.
	TLS bool
	// TTLms is the ttl new sessions ask for (0: the node's default); a
	// WebSocket may ask for its own with ?ttl_ms=.
	TTLms uint64

	// MaxMessageBytes bounds one client message (default 1 MiB, as
	// max_message_bytes in PROTOCOL.md).
	MaxMessageBytes int
	// RequestsPerSecond and Burst bound each connection's requests (token
	// bucket; defaults 200/s and 400).
	RequestsPerSecond float64
	Burst             int
	// MaxConnections bounds the WebSockets and SSE streams open at once
	// on this node (default 10000).
	MaxConnections int
	// MaxQueuedMessages and MaxQueuedBytes bound what waits for a slow
	// client (defaults 4096 messages, 16 MiB); past them the connection is
	// closed with a reason and the client resumes with `since`.
	MaxQueuedMessages int
	MaxQueuedBytes    int
	// WriteTimeout bounds one write to a client (default 10s).
	WriteTimeout time.Duration
	// RequestTimeout bounds how long an HTTP request waits for the node
	// (default 10s; the node itself answers Unavailable after its own
	// request timeout, normally first).
	RequestTimeout time.Duration

	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.RequestsPerSecond <= 0 {
		c.RequestsPerSecond = 200
	}
	if c.Burst <= 0 {
		c.Burst = 400
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 10000
	}
	if c.MaxQueuedMessages <= 0 {
		c.MaxQueuedMessages = 4096
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = 16 << 20
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// server is the edge: one per node.
type server struct {
	backend Backend
	cfg     Config
	log     *slog.Logger
	conns   atomic.Int64
	assets  http.Handler
}

// New returns the Vera edge as one http.Handler: GET /ws (WebSocket),
// GET/HEAD /data/... (reads, and SSE with ?watch=1), and the browser files:
// the dashboard at /, /client.js, /client.d.ts and /examples/.
func New(backend Backend, cfg Config) http.Handler {
	cfg.setDefaults()
	s := &server{backend: backend, cfg: cfg, log: cfg.Logger}
	s.assets = http.FileServerFS(assetsFS())
	return s
}

// assetsFS overlays the browser client on the dashboard's files.
func assetsFS() fs.FS {
	return overlayFS{dashboard.Files(), webclient.Files()}
}

type overlayFS []fs.FS

func (o overlayFS) Open(name string) (fs.File, error) {
	var firstErr error
	for _, f := range o {
		file, err := f.Open(name)
		if err == nil {
			return file, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Routing by hand rather than with http.ServeMux: the mux cleans
	// paths and redirects /data/a/../b, and PROTOCOL.md wants 400 for it.
	if RefuseVersion(w, r) {
		return
	}
	p := r.URL.Path
	switch {
	case p == "/ws":
		s.serveWS(w, r)
	case p == "/data" || strings.HasPrefix(p, "/data/"):
		s.serveData(w, r)
	default:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeHTTPError(w, http.StatusMethodNotAllowed, fsm.Unsupported, "only GET and HEAD")
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(p, ".ts") {
			// Not video/mp2t, which a system's MIME table may say.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		s.assets.ServeHTTP(w, r)
	}
}

// RefuseVersion answers 400 Unsupported to a request whose ?version= is
// not one this server speaks, whatever its path (PROTOCOL.md: "?version=1
// on the upgrade or on HTTP requests; none means the latest"), and says
// whether it did. havend calls it for the paths it serves itself.
func RefuseVersion(w http.ResponseWriter, r *http.Request) bool {
	switch v := r.URL.Query().Get("version"); v {
	case "", "1":
		return false
	default:
		writeHTTPError(w, http.StatusBadRequest, fsm.Unsupported, "protocol version "+v+" is not supported; this server speaks version 1")
		return true
	}
}

// originAllowed: a page may open a WebSocket only from the server's own
// origin or one on the allow list (PROTOCOL.md). A request without Origin
// does not come from a web page (browsers always send it on WebSocket
// upgrades), so no page's cookie can be abused through it: it is let in.
func (s *server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, allowed := range s.cfg.AllowedOrigins {
		if allowed == "*" || strings.EqualFold(strings.TrimSuffix(allowed, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	wantScheme := "http"
	if s.cfg.TLS || r.TLS != nil {
		wantScheme = "https"
	}
	return strings.EqualFold(u.Scheme, wantScheme) && strings.EqualFold(u.Host, r.Host)
}

// acquire takes one of the node's connection slots.
func (s *server) acquire() bool {
	if s.conns.Add(1) > int64(s.cfg.MaxConnections) {
		s.conns.Add(-1)
		return false
	}
	return true
}

func (s *server) release() { s.conns.Add(-1) }

func writeHTTPError(w http.ResponseWriter, status int, code fsm.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": string(code), "message": msg})
}

// httpStatus maps a protocol code to the HTTP status that says the same.
func httpStatus(code fsm.Code) int {
	switch code {
	case fsm.OK:
		return http.StatusOK
	case fsm.InvalidParameter, fsm.Unsupported:
		return http.StatusBadRequest
	case fsm.NotFound:
		return http.StatusNotFound
	case fsm.Forbidden:
		return http.StatusForbidden
	case fsm.Conflict:
		return http.StatusConflict
	case fsm.SessionExpired:
		return http.StatusGone
	case fsm.TooLarge:
		return http.StatusRequestEntityTooLarge
	case fsm.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Origins returns the browser origins of the given HTTP addresses
// (host:port), for Config.AllowedOrigins: a page served by one member may
// then connect to any other. Loopback addresses are also listed under
// their other loopback names (127.0.0.1, localhost, [::1]), since a
// browser names the origin by the host it was given.
func Origins(httpAddresses []string, tls bool) []string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	var out []string
	for _, addr := range httpAddresses {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		hosts := []string{host}
		if host == "127.0.0.1" || host == "localhost" || host == "::1" {
			hosts = []string{"127.0.0.1", "localhost", "::1"}
		}
		for _, h := range hosts {
			out = append(out, scheme+net.JoinHostPort(h, port))
		}
	}
	return out
}
