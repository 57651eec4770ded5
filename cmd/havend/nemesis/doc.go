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
//     emptied, started to join, added back as a learner and promoted to
//     voter, through the Go client, under load. (A learner's peer address
//     is derived from its Haven address, so links to it bypass the proxies
//     afterwards; the timeline says so.)
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
//     dump reads), no client write committed twice, the dumps make a whole
//     log from index 1.
//   - linearizable: porcupine with linearizability.ListsModel. A write whose
//     answer was lost is resolved from the committed log (every write's
//     data is unique: its entry gives the index and result; none means it
//     never committed), falling back to the observer's stream; a session's
//     end is the entry that ended it, called when its leader decided the
//     expiry (from the leader's log) or when the client sent its close.
//   - no acknowledged write lost: every acknowledged write is in the
//     committed log at the index it was answered with (writes past the last
//     recorded commit are counted, not judged); and a read after healing
//     holds every acknowledged push of a session still live then (unless it
//     deleted it) and no acknowledged delete.
//   - watch streams exact: the observer's stream applies cleanly, ends in
//     the final read, and is the committed log's changes to its path after
//     its registration, exactly; every acknowledged write has its event at
//     its index; every worker's watch was registered with the list the
//     observer had at that version, and its events are exactly the
//     observer's after it.
//   - dead sessions: 5 s plus 15 s after the last sessions ended, no item
//     of any ended session is left, and the committed log ends every one of
//     them; also reported: the slowest expiry, and closes answered OK for
//     sessions that had expired unnoticed.
//   - no false expiry: linearizability/history's CheckNoFalseExpiry on the
//     pings of every worker's client (client.Config.OnPing: send and answer
//     times, outcome) and the expiries of the committed log, each with the
//     time its leader logged deciding it ("session expiry decided"); slack
//     2% of the ttl plus two 10 ms ticks. An expiry no leader logged fails.
//
// A failing run leaves, in the directory it prints: history.jsonl (the
// linearizability/history format: the committed log, the operations, the
// sessions, pings and expiries, the watches and their deliveries),
// history.html (porcupine), faults.txt (the swarm, then the timeline),
// sessions.txt, watches.txt, verdicts.txt, every node's log (nN.log) and
// data dir (cluster/). HAVEN_NEMESIS_KEEP=1 keeps it when the run passes.
// Porcupine gets 90 s plus the run's duration: the default 40 s run's
// history (about 1,500 operations) is decided in seconds; a 10-minute
// run's (about 18,000) was not decided in 11.5 minutes, which is a note
// (linearizability undecided), not a failure.
//
//	go test -count=1 -timeout 10m -run TestNemesis ./cmd/havend/nemesis/
//	HAVEN_NEMESIS_DURATION=10m go test -count=1 -timeout 45m -run TestNemesis ./cmd/havend/nemesis/
//	HAVEN_NEMESIS_MUTANTS=1 go test -count=1 -timeout 30m -run TestMutantsAreCaught ./cmd/havend/nemesis/
package nemesis
