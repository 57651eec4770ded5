// Package netproto is the Haven protocol (PROTOCOL.md, "Haven protocol"):
// MessagePack maps over TCP between programs and a node. Server is the
// node's side; the node itself is a Backend (cmd/havend's loop over a
// session.Core).
//
// # How a connection is served
//
// Each connection has two goroutines. The reader cuts the stream into
// messages (wire.go: by walking each value's MessagePack structure, so a
// message over max_message_bytes is refused as soon as a header claims
// too much, before anything is allocated for it), parses them (decode.go,
// request.go), and hands requests to the node with Backend.Submit; at most
// MaxInflight requests of one connection wait for the node, after which
// the reader stops reading and TCP slows the client down. The writer owns
// everything written: the node's answers, which its loop hands over with
// a non-blocking send into a bounded queue (a connection that lets it
// overflow is closed: the node's loop never waits for a client), answers
// made on the connection's side (errors, discover), the watch events
// waiting for a heartbeat, and long-poll heartbeats waiting for events.
//
// # Rules of the stream
//
//   - rid is echoed as the client sent it (any MessagePack value, copied
//     byte for byte); answers come as requests complete, out of order.
//   - The first message must be connect, else InvalidParameter and the
//     connection is closed. Bytes that are not MessagePack, a message that
//     is not a map, a message over max_message_bytes (TooLarge) and an
//     unknown action (Unsupported) are answered, then the connection is
//     closed. A field of the wrong type, an unknown query type, or a
//     second connect is answered InvalidParameter or Unsupported and the
//     connection stays open.
//   - Item data is passed to the node as the raw MessagePack the client
//     sent (the node checks it with fsm.ValidateData), and answered the
//     same way: a value comes back exactly as it went in.
//   - Watch events are delivered in heartbeats and only there, each
//     exactly once: an OK pong carries every event waiting (as many as fit
//     in max_message_bytes), or waits for one up to wait_ms (at most ttl/2)
//     from when the ping arrived. A pong that is not OK carries no events;
//     they stay queued for the next heartbeat.
//   - discover is answered from the membership in Backend.Status, without
//     a trip through the node's loop.
package netproto
