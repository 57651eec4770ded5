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
// repeats it), one at a time, held 1–4 s or 5–8 s. Which kinds a run uses
// is drawn first, as the simulator's swarm (each kind in or out, at least
// one; HAVEN_NEMESIS_FAULTS=kill,clock,... forces them), and so is power
// loss (three runs in four; HAVEN_NEMESIS_POWER_LOSS=1 or 0 forces it):
//   - kill: kill -9 and restart from the data dir (the leader half the
//     time); with power loss (havend's HAVEN_TEST_POWER_LOSS hook) what
//     the node had not fsynced is lost with it;
//   - pause: SIGSTOP/SIGCONT;
//   - halves, isolate (often the leader), one-way (a node, often the
//     leader, cannot send), bridge: partitions by the proxies;
//   - disk-eio, disk-enospc: the node's fsyncs fail with EIO, or its writes
//     with ENOSPC (havend's HAVEN_TEST_DISK_CONTROL hook); the node must
//     stop (or serve on without harm) and recover once restarted after the
//     fault heals. A node that stops with no such fault fails the run;
//   - membership: a follower is removed (become removed), its data dir
//     emptied, started to join, added back under its id as a learner and
//     promoted to voter, through the Go client, under load. `become
//     learner` names its Haven address; every node takes the peer address
//     its own yaml names for that id (the proxy), so the links to it go
//     through the proxies as before and later partitions cut them. The
//     fault fails the run if the proxies into it carried nothing while it
//     caught up (the timeline gives the bytes and connections).
//   - clock: a node's clock (havend's HAVEN_TEST_CLOCK_CONTROL hook) runs
//     1% fast or slow, within the slack of the expiry check and the
//     lease's margin, and a follower's also jumps 0.5–5 s forward.
//
// All heal before the checks; then a leader and a successful write are
// required within 30 s.
//
// The clients (netproto/client): 4 workers run sessions one after another
// (ttl 500 ms or 5 s, endpoints shuffled; the client resumes elsewhere on
// failure), each a few dozen push/update/delete/read operations on three
// paths, half with a watch; a session ends by Close or by Abandon (a crash
// without closing). One observer per path watches it from the start: the
// reference stream of its changes. Every operation is recorded with call
// and return times and its outcome (ok, failed with a code, unknown).
//
// The truth is the committed log, read from every node's data dir with
// `havend dump` every 3 s during the run (compaction drops entries a later
// dump would miss) and once more after every node was killed -9 at the
// end; two barrier writes before that make the WALs record everything
// before them as committed. The dumps are merged by index.
//
// The verdicts:
//   - the log: Log Matching (no two dumps hold different entries at one
//     index), the WAL of every node recovers after the last kill -9 (its
//     dump reads), the dumps make a whole log from index 1.
//
// The rest are linearizability/history's checkers, the simulator's, over
// the run's history in that package's format (records.go): the committed
// log as entries, every client operation (closes included) with its call
// and return times and outcome, every watch registration and its stop,
// every event each client received in the order received, the pings, the
// sessions with their open and end times, the expiries. Times are the
// recorder's wall clock since the run's start; entries carry no commit
// time (the dumps bound it only to seconds); records.go says what else
// stands in for what a real cluster cannot give exactly.
//   - linearizable: porcupine with linearizability.ListsModel on the
//     history history.ListsHistory builds: a write whose answer was lost
//     is resolved from the committed log (every write's data is unique),
//     an expiry is an EndSession called when its leader decided it (from
//     the leader's log); both return when a client's acknowledgment of
//     their index or a later one came back (the entry had committed by
//     then), not at the end of the history. On the way it fails an
//     acknowledged write that the log lacks or has at another index, a
//     write committed twice, an answer the log contradicts.
//   - no acknowledged write lost after healing: a read then holds every
//     acknowledged push of a session still live (unless it deleted it)
//     and no acknowledged delete (the suite's own check: the history has
//     no such read).
//   - watch streams exact: history.CheckWatches: every event a worker's or
//     an observer's watch delivered is the next change to its list in the
//     committed log after its registration's version (or a reset), no
//     gap, no duplicate, and every stream still open at the end (the
//     observers, caught up through the barrier writes) got every change.
//     And, the suite's own (a watch record carries no items): every
//     registration and every reset was answered with the committed log's
//     list at the version it answered.
//   - dead sessions: history.CheckDeadSessions: every session ends within
//     (ttl + 3 ticks)·1.02 + 1 s + 1 s of the last of its opening, its
//     pings and operations, and the moment the cluster recovered after
//     healing (before, a new leader may rightly give a fresh ttl); a
//     session's end time is when an observer first heard of it (or the
//     close's answer, or its leader's decision). 5 s plus 15 s after the
//     last sessions ended the log is read, so one never ended fails.
//   - no false expiry: history.CheckNoFalseExpiry on the pings of every
//     worker's client (client.Config.OnPing: send and answer times,
//     outcome) and the expiries of the committed log, each with the time
//     its leader logged deciding it ("session expiry decided"); slack 2%
//     of the ttl plus two 10 ms ticks. An expiry no leader logged fails.
//
// When the dumps do not make a whole log (a node's dump failed), the run
// has failed already; lost writes are then judged from the dumps as they
// are (every acknowledged write must be the entry at its index on some
// node's disk), and the checkers above run on the log's prefix from
// index 1 to the first gap, so that the run reports every violation it
// can see: the expiries, registrations and deliveries within the prefix
// as in a whole log; the dead sessions the prefix ends (one it does not
// end may have ended past it); porcupine over
// history.ListsHistoryOfPrefix, which judges by the log only what the
// prefix holds and lets every session it does not end end at any time.
//
// A failing run leaves, in the directory it prints: history.jsonl (the
// records the checkers read: the committed log, the operations, the
// sessions, pings and expiries, the watches and their deliveries),
// history.html (porcupine), faults.txt (the swarm, then the timeline),
// sessions.txt, watches.txt, verdicts.txt, every node's log (nN.log) and
// data dir (cluster/). HAVEN_NEMESIS_KEEP=1 keeps it when the run passes.
// Porcupine gets 90 s plus the run's duration; a timeout is a note
// (linearizability undecided), not a failure. The default 40 s run's
// history (about 1,500 operations) is decided in seconds, and so is a
// 10-minute run's (seed 7: 24,679 operations, about 8,800 a path, each
// path in about 0.1 s). It was not while the expiries and the writes
// resolved from the log stayed pending to the end of the history (seed
// 7: about 440 expiries a path): porcupine's search ran out of memory
// (24 GB) before its time limit.
//
//	go test -count=1 -timeout 10m -run TestNemesis ./cmd/havend/nemesis/
//	HAVEN_NEMESIS_DURATION=10m go test -count=1 -timeout 45m -run TestNemesis ./cmd/havend/nemesis/
//	HAVEN_NEMESIS_MUTANTS=1 go test -count=1 -timeout 30m -run TestMutantsAreCaught ./cmd/havend/nemesis/
package nemesis
