// Package session is Haven's service core: the sessions, requests and
// watches of PROTOCOL.md, on top of the Raft core (package raft) and the
// ephemeral list store (package fsm). Like both of them it is sans-IO: no
// goroutines, clocks, randomness or I/O. Its host — cmd/havend with real
// sockets and disks, or the simulator with virtual ones — drives it:
//
//	core, _ := session.New(cfg, restoredFromDisk)
//	every tick:          core.Tick(nowMs)
//	a peer's message:    core.Step(msg)
//	a client's request:  core.Submit(req)     (answers come out of Ready)
//	a closed connection: core.ConnClosed(conn)
//	then, while core.HasReady():
//	    rd := core.Ready()
//	    persist rd.Snapshot, rd.HardState, rd.Entries (fsync if rd.MustSync)
//	    persist rd.SavedSnapshot (a local compaction)
//	    send rd.Messages to peers
//	    send rd.Replies and rd.Deliveries to connections, then close the
//	      connections of replies with CloseConn and of rd.Disconnect
//	    core.Advance()
//
// # What happens where
//
//   - requests.go: Submit — validation before anything reaches the log,
//     connect (new session through the log, or resume by token after a
//     linearizable read), become.
//   - writes.go: proposals on the leader, forwarding from followers, and
//     answering each write once its entry is applied on the answering node.
//     An entry found at the proposal's index with another term was lost to a
//     leader change: the client is told Unavailable. A write that times out
//     after it was proposed is answered Unavailable too and may still
//     commit: like ZooKeeper's connection loss, its outcome is unknown, and
//     a client that must know reads the list (item versions make that easy).
//   - reads.go: linearizable reads share one ReadIndex round per batch and
//     are answered once applied through the read index; stale reads answer
//     from local state, which only moves forward.
//   - watches.go: per connection watches, delivered in log order with no
//     gaps or duplicates (each watcher remembers the last version it was
//     given), and the per-list history of recent events that serves
//     `since`, or answers `reset` when it no longer covers it.
//   - liveness.go: the leader decides expiry from when it last heard from
//     each session (directly or through followers' keepalives, sent every
//     tick); a new leader proposes RenewAll and only after applying it starts
//     every session's ttl afresh; pings on followers are answered once the
//     leader acknowledged the keepalive that carried them, so an OK ping
//     means the leader heard it. The leader answers a ping, or acknowledges
//     a keepalive, only after a ReadIndex round confirmed it still leads,
//     and never for a session it is ending: an OK ping then promises a ttl
//     from when it was sent that no later leader takes back.
//
// # Decisions where PROTOCOL.md is silent
//
//   - A resume with a token no live session has answers SessionExpired; the
//     client then connects afresh (Vera does this for the browser).
//   - Watches belong to the connection they were registered on; after a
//     reconnect the client registers them again with `since` (PROTOCOL.md
//     says client libraries do this), so a closed connection's watches are
//     dropped at once instead of queueing events nobody will fetch.
//   - A watch registers at this node's applied state (it is not a
//     linearizable read); its events then follow in log order from there.
//   - Reads need no session (plain HTTP GET); writes and watches do.
package session
