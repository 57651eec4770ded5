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
//   - Until a connect has gone to the node, every other message is
//     answered InvalidParameter (a connect refused here, for its version
//     or a field, does not count). Bytes that are not MessagePack, a
//     message that is not a map and a message over max_message_bytes
//     (TooLarge) are answered, then the connection is closed: the stream
//     cannot be trusted past them. Every other refusal keeps it open: a
//     field of the wrong type, a missing action, query type or discover
//     type, a create or update without data (nil is data) and a second
//     connect are InvalidParameter; an unknown action, query type,
//     heartbeat type or discover type is Unsupported.
//   - A message answered here (a refusal, a discover) still keeps the
//     session alive, as every message does: the connection tells the node
//     with session.OpHeard.
//   - ttl_ms 0 asks for less than the minimum and gets the minimum; nil,
//     as for every optional number, is as if absent (the default).
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
