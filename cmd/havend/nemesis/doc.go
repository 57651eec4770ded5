// Package nemesis is the real-cluster fault suite (issue 12): havend
// processes built from this tree, real sockets, data on disk, fsync on,
// driven by Go clients while a nemesis injects faults, then healed and
// checked. Nothing imports it; it is its tests.
//
// The cluster: `havend init -nodes N -base-port P` in a temp dir (P drawn
// so that every port is free), N = HAVEN_NEMESIS_NODES (default 5,
// 3 for a lighter run). Every directed peer link i→j goes through a TCP proxy
// (the yaml of node i names proxy (i,j) as node j's peer address), so the
// nemesis partitions by cutting proxies, one way or both.
//
// The faults, drawn from the run's seed (logged; HAVEN_NEMESIS_SEED
// repeats it), one at a time, held 1–4 s or 5–8 s: kill -9 and restart
// from the data dir (the leader half the time), SIGSTOP/SIGCONT, halves,
// an isolated node (often the leader), one-way (a node, often the leader,
// cannot send), and a bridge. All heal before the checks; then a leader and
// a successful write are required within 30 s.
//
// The clients (netproto/client): 4 workers run sessions one after another
// (ttl 500 ms or 5 s, endpoints shuffled; the client resumes elsewhere on
// failure), each a few dozen push/update/delete/read operations on three
// paths, half with a watch; a session ends by Close or by Abandon (a crash
// without closing). One observer per path watches it from the start: the
// reference stream of its changes. Every operation is recorded with call
// and return times and its outcome (ok, failed with a code, unknown).
//
// The verdicts:
//   - linearizable: porcupine with linearizability.ListsModel. A write whose
//     answer was lost is resolved from the observer's stream (every write's
//     data is unique: its event gives the index; none means it never
//     committed); a session's end is resolved from the deletions of its
//     items, and begins at the session's start (sound: it may have expired
//     unnoticed before the client closed it).
//   - no acknowledged write lost: after healing, a read of every path holds
//     every acknowledged push of a live session (unless it deleted it) and
//     no acknowledged delete.
//   - watch streams exact: the observer's stream applies cleanly and ends
//     in the final read; every acknowledged write has its event at its
//     index; every worker's watch was registered with the list the observer
//     had at that version, and its events are exactly the observer's after it.
//   - dead sessions: 5 s plus 15 s after the last sessions ended, no item
//     of any ended session is left (also reported: the slowest expiry).
//   - no false expiry, approximated: no session of 5 s expires whose
//     client never failed over (so had every ping answered OK within 2/3 of
//     its ttl). The ping-based checker of linearizability/history needs ping
//     send times the Go client does not expose, and expiry decisions havend
//     does not log.
//
// A failing run leaves, in the directory it prints: history.jsonl (the
// linearizability/history format), history.html (porcupine), faults.txt,
// sessions.txt, watches.txt, verdicts.txt, every node's log (nN.log) and
// data dir (cluster/). HAVEN_NEMESIS_KEEP=1 keeps it when the run passes.
// Porcupine gets 90 s plus the run's duration; a 3-minute run's history
// (about 6,000 operations) was not decided in 90 s.
//
//	go test -count=1 -timeout 10m -run TestNemesis ./cmd/havend/nemesis/
//	HAVEN_NEMESIS_DURATION=10m go test -count=1 -timeout 45m -run TestNemesis ./cmd/havend/nemesis/
//	HAVEN_NEMESIS_MUTANTS=1 go test -count=1 -timeout 30m -run TestMutantsAreCaught ./cmd/havend/nemesis/
package nemesis
