// Package session is Haven's service core: the sessions, requests and
// watches of PROTOCOL.md, on top of the Raft core (package raft) and the
// ephemeral list store (package fsm). Like both of them it is sans-IO: no
// goroutines, clocks, randomness or I/O. Its host — cmd/havend with real
// sockets and disks, or the simulator with virtual ones — drives it.
//
// # The host contract
//
// This is the one place the contract is written down; Ready's fields and
// raft's own contract (raft/doc.go, "Driving a server") agree with it.
// One goroutine, the host's loop, owns the core and makes every call on
// it; no call blocks.
//
//	core, err := session.New(cfg, restoredFromDisk)
//	loop:
//	  feed it, in any order, at any time (also between Ready and Advance):
//	    core.Tick(nowMs)                 at a fixed interval
//	    core.Step(msg)                   a peer's message (an error: log it, drop the message)
//	    core.Submit(req)                 a client's request; answers come out of Ready
//	    core.ConnClosed(conn)            a client connection went away
//	    core.SnapshotDone(job, bytes)    a snapshot job's bytes (step 3b)
//	  if core.HasReady():
//	    1. rd := core.Ready()
//	       Ready applies the committed entries to the state machine (Raft
//	       hands out only entries durable on this node), answers what they
//	       complete and asks for read indexes; everything comes out in rd.
//	    2. persist rd.Snapshot (from the leader), then rd.HardState and
//	       rd.Entries (Entries replace every stored entry from their first
//	       index on), fsyncing if rd.MustSync. This may run on another
//	       goroutine; the loop goes on feeding the core meanwhile, but
//	       takes no other Ready: HasReady is false and Ready panics until
//	       Advance.
//	       Only rd.Messages[:rd.EarlyMessages] (a leader's appends and
//	       heartbeats, raft's Ready.EarlyMessages, §10.2.1) may be sent
//	       before or while this runs.
//	    3. once that is durable, in this order:
//	       a. send the other rd.Messages to peers (the transport copies
//	          or encodes them before Advance; the core reuses nothing it
//	          handed out, but Raft reuses its message buffer);
//	       b. if rd.SnapshotJob is set, have rd.SnapshotJob.Serialize() run
//	          anywhere (another goroutine), then call core.SnapshotDone(job,
//	          bytes) on the loop, now or in a later round;
//	       c. send rd.Replies and rd.Deliveries to their connections, then
//	          close the connections of Replies with CloseConn and those in
//	          rd.Disconnect, calling ConnClosed for each;
//	       d. store rd.SavedSnapshot (a local compaction) at leisure, but
//	          before deleting the log it covers.
//	    4. core.Advance()
//	       Advance may itself create work (entries now durable become
//	       appliable, a leader's new commit to broadcast, a snapshot to
//	       freeze or a compaction): check HasReady again.
//	       A Ready applies a bounded share of what is committed (raft's
//	       MaxCommittedBytesPerReady, each item a session's end removes
//	       counting RemovedItemBytes): if a tick came due meanwhile, feed
//	       the core what arrived and tick before the next Ready, so that
//	       heartbeats keep going both ways while a backlog is applied.
//
// Nothing the core tells a client is newer than what the node applied, and
// nothing goes out before the Ready it came with is durable (step 3 after
// step 2): an answer never promises what a crash could take back.
// Queued reads, resumes and pings count for HasReady once a leader is
// known, so their ReadIndex round goes out at once, not at the next tick.

// # What happens where
//
//   - requests.go: Submit — validation before anything reaches the log,
//     connect (new session through the log, or resume by token after a
//     linearizable read), become.
//   - writes.go: proposals on the leader, forwarding from followers, and
//     answering each write once its entry is applied on the answering node.
//     An entry found at the proposal's index with another term was lost to a
//     leader change: the client is told Unavailable. The first entry of a
//     newer term the node applies settles the writes of older terms still
//     waiting: one told an index beyond it was lost (nothing was applied),
//     one whose forward was never answered may have been applied; both are
//     answered Unavailable then, not at their timeout. A write that times out
//     after it was proposed is answered Unavailable too and may still
//     commit: like ZooKeeper's connection loss, its outcome is unknown, and
//     a client that must know reads the list (item versions make that easy).
//   - reads.go: linearizable reads share one ReadIndex round per batch and
//     are answered once applied through the read index; stale reads answer
//     from local state, which only moves forward, once the node has applied
//     through the `seen` the client named on connect. Read contexts, like
//     forward and keepalive ids, start at a random number per incarnation.
//   - snapshots.go: a snapshot is a frozen copy-on-write view of the state
//     machine, serialised by the host off its loop; the log keeps
//     SnapshotTail entries behind it for followers a little behind.
//   - bounds.go: backpressure — pending writes and reads are bounded and
//     refused Unavailable over the bound; a connection handed too many
//     events in one Ready is closed, and its client resumes with since.
//   - expiry.go: the leader's deadline heap, so an expiry check costs what
//     is due.
//   - watches.go: per connection watches, delivered in log order with no
//     gaps or duplicates (each watcher remembers the last version it was
//     given), and the per-list history of recent events that serves
//     `since`, or answers `reset` when it no longer covers it; it keeps
//     the lists changed most recently (HistoryPaths), so its memory follows
//     the lists in use, not every list ever written.
//   - liveness.go: the leader decides expiry from when it last heard from
//     each session (directly or through followers' keepalives, sent every
//     tick, and at once for a held ping whose connection has watch events
//     waiting, since events leave only with an OK pong); a new leader proposes RenewAll and only after applying it starts
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
//   - Reads need no session (plain HTTP GET); writes and watches do. A
//     connection that asked for a session (sent a connect) reads only with
//     it once the connect is answered: after a connect that failed, its
//     reads are refused, like its other requests, with InvalidParameter.
//   - Requests pipelined behind a connect, before its answer, wait for it
//     and then run as the new session's; behind a connect that failed they
//     are refused as requests before a connect (InvalidParameter). A
//     second connect on a connection that has a session is refused too.
//     Reads are the exception: they do not wait for the connect (its
//     `seen` holds back a stale one), so a read pipelined behind a connect
//     that then fails has been served without a session.
package session
