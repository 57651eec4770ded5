// Package websvc is Vera, Haven's edge for browsers and scripts
// (PROTOCOL.md, "Vera protocol"): JSON over WebSocket at GET /ws, plain
// reads at GET /data/... (with ETag and 304, and server-sent events with
// ?watch=1), and the browser files — the dashboard at /, the client at
// /client.js and /client.d.ts, the examples under /examples/.
//
// The host (cmd/havend) mounts New's handler on its HTTP listener and
// serves /v1/status, /metrics and /healthz itself. websvc reaches the
// node only through Backend: Attach a connection, Submit requests, take
// the replies and watch events the node's loop hands out, Detach.
//
// # What happens where
//
//   - websvc.go: Backend, Config, routing, the Origin rule, codes to HTTP
//     statuses.
//   - ws.go: the upgrade (the session is opened or resumed from the
//     haven_session cookie before it, so a new cookie rides on the 101),
//     hello, a reader that turns messages into requests under the size and
//     rate limits, a writer that sends answers and events in the node's
//     order, and the pings that keep the session alive while the socket is.
//   - http.go: GET/HEAD /data/... and the SSE stream (a session of its own
//     per stream, closed when the stream ends).
//   - link.go: one connection's tie to the node — the bounded queue the
//     node's loop fills without ever blocking, and the requests in flight.
//   - wire.go: the JSON requests and answers; data.go: item data between
//     JSON and MessagePack, exactly (integers stay integers, floats stay
//     floats, key order is kept).
//   - limits.go: the per-connection token bucket.
//   - dashboard/, webclient/: the embedded browser files (no build step,
//     no external network; charts on plain canvas).
//   - browsertest/: headless Chromium against three havend processes.
//
// The choices where PROTOCOL.md is silent are in docs/decisions.md, "Vera".
package websvc
