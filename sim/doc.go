// Package sim is Haven's deterministic simulator: the virtual-time host of
// the same Raft core that cmd/havend runs on real sockets, timers and disks.
// It runs the cores of N nodes, a simulated network, simulated disks and
// clocks, and simulated clients, all from one seeded random generator, and
// checks after every event that nothing Raft promises has been broken.
//
// # The event loop
//
// A run is a World: one event queue ordered by (virtual time, sequence
// number), one Rand, and a loop that pops the next event, advances the
// virtual clock to it, handles it, and runs the checks. Events are a node's
// clock ticking, a message arriving, an fsync completing, a client request
// or reply arriving, a client's timer, a fault starting or moving on, a node
// restarting or resuming, and the phase changes below. Nothing runs
// concurrently and nothing reads the real clock, so a seed names a run: the
// same seed gives the same run, byte for byte (TestSameSeedSameRun compares
// traces and a hash of every event). Campaigns run many seeds on a worker
// pool, one goroutine per seed.
//
// The node host (node.go) drives raft exactly as the Ready contract says
// (raft/ready.go): persist the Ready's state, fsync if MustSync and only then
// send its messages, apply the committed entries, serve read states, and
// Advance. Between a Ready and its fsync the node keeps ticking and stepping
// messages, as a real host does. The raft core has no idea it is simulated:
// there is no "if simulated" anywhere in it. Time is measured in ticks: one
// tick is 10 ms of virtual time (TickInterval), an election timeout is 10 to
// 19 ticks (ElectionTicks), a heartbeat goes out every tick (HeartbeatTicks);
// every node runs with PreVote and CheckQuorum on.
//
// What runs above raft plugs in through two interfaces (service.go): a
// Service is a node's replicated state machine and its handling of client
// requests; a Workload makes the Services and drives the clients. Today's
// workload is a small key-value store (kv.go, clients.go): Puts are log
// entries proposed on the node the client talks to (clients follow the
// leader hints of ErrNotLeader), Gets are served by ReadIndex on leaders and
// followers alike, and a few reader clients stay with one node each. Clients
// give up after a timeout and record the outcome as unknown; once the run is
// over, unknown writes are resolved from the committed log. Hosts compact
// their logs every CompactEvery applied entries, so snapshots and
// InstallSnapshot happen under faults too. The Haven service core will plug
// in the same way (the "sessions" workload, not available yet).
//
// # The fault model
//
// Network: every message may be lost, duplicated, delayed (a minimum plus an
// exponential, or with some probability a Pareto heavy tail of up to
// seconds) or held back to arrive out of order. Partitions of every shape
// come and go: two halves, one-way, a bridge node between two sides, the
// leader isolated, one node isolated; a partition drops what crosses it, in
// flight included. Swizzle-clogging clogs links one by one and unclogs them
// in another random order; a clogged link holds what crosses it until it
// clears. Clients reach their node whatever the partitions, so a cut-off
// leader keeps serving the clients that can still reach it.
//
// Disks (disk.go): a Ready's writes are pending until an fsync completes
// after a simulated latency. A crash loses, tears or keeps what was written
// since the last fsync — always a prefix of the records in write order,
// never anything already synced — as a write-ahead log that checksums its
// records and truncates a torn tail would recover it. Snapshot files are
// written atomically. Crash points crash a node right after it sent a
// Ready's messages while writes are still unsynced, the moment random crash
// times almost never hit.
//
// Nodes: crash and restart (from what the disk kept), process pauses (no
// ticks, nothing handled; on resume the host first makes up the missed ticks,
// then handles what queued up in an arbitrary order), and clock drift (each
// node ticks at its own rate).
//
// Each seed draws its own fault intensities (Params) from its profile;
// "swarm" switches each kind of fault on or off by a coin and draws its
// intensity from a range, so that different seeds stress different corners
// (swarm testing). The faults then follow as a Schedule drawn from the seed,
// or given by the caller: the property test draws schedules with rapid,
// which shrinks a failing one to a small one.
//
// # The checks
//
// After every event: raft.CheckInvariants on the node that handled it
// (applied ≤ committed, terms in order, …); the node's commit index never
// moves back. As Readys reveal state (checks.go): Election Safety, Log
// Matching (through a hash chain over every log), Leader Completeness (every
// new leader holds the whole committed log), State Machine Safety (committed
// and applied entries and snapshots agree across nodes), the commit rule of
// §5.4.2, one vote per node per term across crashes, votes and
// acknowledgments sent only once durable, and every acknowledged write in
// the committed log. Every Get must be served at a read index covering
// everything committed before it began (§6.4).
//
// After the fault phase (Config.Duration) everything heals: crashed nodes
// restart, paused ones resume, partitions and clogs clear, and loss,
// duplication, reordering and slow tails stop. Within LivenessBound (ten
// election timeouts) a leader must be elected and a write begun after the
// heal acknowledged, or the seed fails with "no convergence". The clients
// then stop, every node must apply the whole log within another bound, and
// the end checks run: replicas that applied the same log hold the same
// state, every acknowledged write is in every node's final state, and the
// clients' history is linearizable (porcupine, through package
// linearizability).
//
// # Replaying a failure
//
// A failure reports its seed and the havensim command that reruns it:
//
//	go run ./cmd/havensim -seed 17 -nodes 5 -duration 1m0s -faults swarm -workload kv -trace seed-17.trace -viz seed-17.html
//
// The trace has one line per event and notes for elections, crashes, faults
// and the failure; the HTML shows the history with the faults drawn under
// it. CI runs TestSwarm (HAVEN_SIM_SEEDS seeds, default 200, of
// HAVEN_SIM_DURATION, default 60s; HAVEN_SIM_LEASE picks the lease-read
// mode) and TestMutantsAreCaught, which plants known bugs in copies of raft
// and requires the simulator to catch each.
//
// # Why by hand
//
// A simulator written for these cores is small, and everything in it can be
// read and trusted. Frameworks that run real processes on a network
// (Jepsen, Maelstrom) are slow and cannot replay a failure; goroutines on a
// fake clock cannot either, because Go's scheduler is not deterministic.
// Because raft is sans-IO — time, randomness, messages and storage come in
// as arguments and effects go out as values — a loop of a few hundred lines
// can own all of them, model exactly the disk and network semantics the
// design depends on, and run about a thousand virtual seconds per second.
package sim
