// Package client is the Go client of the Haven protocol (PROTOCOL.md,
// "Haven protocol"): MessagePack maps over TCP to any node of a cluster.
//
// A Client holds one session. It connects to one of its endpoints (passing
// over one that answers it was removed from the cluster, and failing at
// once if every one does), sends
// `connect` with the ttl it wants and the highest version it has seen, and
// then keeps the session alive with long-poll heartbeats at about ttl/3 that
// also carry the events of its watches. Requests are pipelined on the one
// connection, each with its own rid, and answers are matched to them in
// whatever order they come.
//
// When its node fails (the connection breaks, or a heartbeat is not answered
// OK in time) the client moves to another endpoint, resumes the session with
// its token (passing over the nodes that answer they were removed, and
// ending the client with that answer if every one does), and registers
// every watch again with `since` = the last version
// that watch delivered, so a watcher sees no gap and no duplicate across the
// failover; if the node no longer has those events, the watch delivers one
// KindReset event with the list as it is now. Reads and watches that were in
// flight are sent again; a write that may have reached the failed node is
// not (it may have been applied) and fails with Unavailable.
//
// Every failure is an *Error carrying the contract's code (fsm.Code); use
// errors.As, errors.Is with the Err* sentinels, or CodeOf.
//
// Election and Mutex are the contract's leader election recipe: candidates
// push an item, the lowest version leads, and that version is a fencing
// token that only grows from one leader to the next.
//
// The protocol has no status request; FetchStatus reads a node's GET
// /v1/status from its HTTP address.
package client
