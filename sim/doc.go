// Package sim is Haven's deterministic simulator: the virtual-time host of
// the same cores — raft, and the service core of package session — that
// cmd/havend runs on real sockets, timers and disks. It runs the cores of N
// nodes, a simulated network, simulated disks and clocks, and simulated
// clients, all from one seeded random generator, and checks after every
// event that nothing Raft or the service promises has been broken.
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
// The node host (node.go) runs a replica (replica.go) and drives it exactly
// as the Ready contract says (raft/ready.go, session.Ready), and as havend
// does: write the Ready's state, send a leader's early messages (its
// appends and heartbeats, which then race its own fsync, §10.2.1), fsync if
// MustSync and only then send its other messages, apply
// the committed entries (or, for the service core, which applies them
// itself, check them) and answer, and Advance. Between a Ready and its fsync
// the node keeps ticking and stepping messages, as a real host does. A
// replica is either raft with a Service above it (raftReplica), or the Haven
// service core, session.Core, which owns its raft (coreReplica, core.go);
// the persistence, the network, crashes, pauses and every raft check are
// the host's and shared by both. The cores have no idea they are simulated:
// there is no "if simulated" anywhere in them. Time is measured in ticks: one
// tick is 10 ms of virtual time (TickInterval), an election timeout is 10 to
// 19 ticks (ElectionTicks), a heartbeat goes out every other tick
// (HeartbeatTicks), havend's defaults; nodes run with PreVote and
// CheckQuorum on unless the seed draws either off
// (Params.NoPreVote, NoCheckQuorum). The service core also reads a clock, in
// milliseconds: the node's own, which drifts with it.
//
// # Workloads
//
// What runs above the cores and the clients that use them is a workload,
// chosen by name (Config.Workload) from those registered with
// RegisterWorkload: the engine imports none of them. Two exist, each in its
// own package, which registers it from its init function: "kv" (package
// sim/kv, a small key-value store above raft) and "sessions" (package
// sim/sessions, the Haven service core and clients that use it as Haven's
// clients do); cmd/havensim links both. A workload above raft plugs in
// through two interfaces (service.go): a Service is a node's replicated
// state machine and its handling of client requests; a Workload makes the
// Services and drives the clients. A workload whose nodes run the service
// core is a CoreWorkload (core.go): the host runs session.Core itself and
// the workload's clients talk to it over connections (ConnRequest). Either
// may check each committed entry (CommittedObserver), answer requests sent
// to a removed node (Refuser) and add records to the run's history
// (HistoryRecorder). Hosts compact their logs every CompactEvery applied
// entries, so snapshots and InstallSnapshot happen under faults too.
//
// # The service core
//
// With a CoreWorkload every node runs session.Core, with the settings the
// workload gives it (CoreWorkload.CoreConfig). The host ticks it with the node's drifting clock, steps the peers' raft
// and service messages (forwarded writes, keepalives) into it, persists its
// Readys and its own snapshots (SavedSnapshot) to the simulated disk, and
// restarts it from that disk after a crash (session.New with what the disk
// kept). Service messages are lost, delayed, duplicated, reordered and
// partitioned like raft's; the leader answers a repeated forward from
// memory rather than proposing it twice.
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
// Disks (disk_host.go, sim/simfs): every node runs the real raft/wal on a
// simulated file system of its own. A write is durable once an fsync that
// followed it completes, after a simulated latency; a create, rename or
// remove once its directory is synced. A crash loses, tears or keeps what
// was not durable — in each file a prefix of the writes in order, the next
// one cut short — and never anything already synced. Rarely, a bit flips in
// synced data or a write lands at a wrong offset: the WAL must refuse such
// a disk on restart (the node then stays down for the rest of the run, its
// disk failed), never return wrong data, which the host's checks of what it
// recovers would catch: the durable term, vote and commit index, and every
// entry the host saw made durable (unless an overwrite or a newer snapshot
// that the crash kept replaced it), each in the chain of an entry some node
// wrote. Such damage reaches one disk per run, and only while
// every configuration a node holds (or held just before) has three voters
// or more, so that a quorum stays. Crash points crash a node right after it
// sent a Ready's messages while writes are still unsynced (a leader's early
// appends before its fsync among them), the moment random crash times
// almost never hit. With the "snapshot-crash" knob, half the nodes that
// install a leader's snapshot crash during the fsync of its marker, the last
// thing the WAL writes for it (only the knob does it, so that the other
// seeds keep their runs).
//
// Nodes: crash and restart (from what the disk kept), process pauses (no
// ticks, nothing handled; on resume the host first makes up the missed ticks,
// then handles what queued up in an arbitrary order), and clock drift (each
// node ticks at its own rate; with adversarial drift, whichever node leads
// ticks slowest and every other fastest, within what the lease margin
// tolerates). A disk wipe (FaultWipe, only with the "wipe" knob) crashes a
// founding member and empties its disk; its host restarts it under the
// same id but no longer says the cluster is new (no Config.Bootstrap), so
// raft must refuse to start it — it forgot its votes — and it stays down,
// lost to the run like a failed disk, while the others go on.
//
// Membership and leadership (membership.go): while faults run, whoever leads
// is asked now and then to add a learner, promote it, remove a follower, a
// learner or itself, add a removed node back under a new id with an empty
// disk, or hand leadership to a random voter, caught up or lagging. A
// removed node shuts down once it has committed its own removal, or a while
// after a member told it it is no member (raft's MsgRemoved, answered to its
// vote requests and to its forwarded reads, writes and keepalives, a
// learner's only way to hear of it), quiet meanwhile; each owed notice must
// leave in the next Ready of the member that owes it, and the run settles
// only once every removed node that can ask is told. A leader that proposes
// its own removal is sometimes deafened, then cut off, before the
// acknowledgements return. The cluster may shrink to one voter.
//
// Divergence and late replays: a divergence fault cuts the leader and a
// minority with it off from the rest (back to back, several terms of entries
// only a minority holds, which the next leader overwrites); a hold-back fault
// holds a share of every message — raft's and the service's — for seconds,
// across leader changes, then delivers it. A restart-replay fault is a late
// replay across a restart: it restarts a node, holds a share of every
// message addressed to it (appends, heartbeats, read index answers,
// forward and keepalive answers), crashes it again, and delivers what it
// held to the next incarnation, each message as long after that one starts
// as it was held after the previous one started — the answers to one
// incarnation's first requests meet the next one's first requests —
// while holding that incarnation's own messages in turn. When it picks the
// leader, half the time it takes a follower instead, and half the time it
// copies a share of what reaches the leader in its last 20–150 ms,
// crashes it for less than an election timeout, and delivers the copies
// to its next incarnation, which still follows the term it led: forwards
// it proposed and never answered come back to it (only the restart-replay
// knob turns it on; the swarm does not draw it, so that the seeds keep
// their fault mix). Config.Knobs (havensim -knobs) forces any of
// these corners on; "backpressure" runs every node with small bounds on its
// own work (see Configuration and bounds, below).
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
// Direct checks (checks_direct.go), so that a bug that is wrong but lucky
// fails at once: each leader's match index for a follower lies in the log
// they share; a follower's answer to an append acknowledges entries only
// through the last one that append showed it, or through its commit index
// (an answer naming its last index may vouch for a deposed leader's
// entries, however rarely the leader is then misled); a heartbeat vouches only for what the follower acknowledged,
// and a follower commits only what was vouched for; a committed entry is
// held durably by a quorum of the leader's voters (a wiped voter, down for
// good, with the log it held when wiped), and a new leader had a
// quorum of its voters' votes; at every lease read a quorum of voters is
// still bound not to vote for another (each heard from the leader within
// its promise, counted in its own ticks, and voted in no later term); no
// read is answered by a leader of an older term for a request that arrived
// after a newer leader committed; in runs that read by ReadIndex only (the
// host cannot tell which reads a lease answered), a read a leader answers
// had answers from a quorum of its voters, each sent to it
// in its term after the read arrived (§6.4: a later leader needs the vote
// of one of them, cast after the read arrived, so none can have committed
// before; reads forwarded by followers count from when the leader stepped
// their request; the service core's own reads on the leader are left out,
// their contexts being the core's); with CheckQuorum, a voter grants no vote
// to another candidate, a transfer's aside, before it has ticked an election
// timeout since it last heard from a leader (§4.2.3: the promise the lease
// counts on, whatever happened to its term since), nor, with lease reads,
// in its first election timeout after a start; a read index answer for a
// context the node's incarnation asked and had no answer to covers what
// was committed when it asked (an answer meant for an earlier incarnation
// that used the same context would not); every linearizable read
// shows a state holding every entry any node knew committed when the client
// invoked it (kv: its read index; sessions: the state it was served from),
// which sees a stale read even when the data read did not change; a node's
// term rises only through a real message or its own campaign, never a
// pre-vote; a leader running CheckQuorum steps down within two election
// timeouts of losing its quorum; a client write is committed once;
// fsm.CheckInvariants holds after every entry applied (sessions workload).
//
// Configuration and bounds (checks_config.go): every member has an address
// (the bootstrap gives the founders theirs, AddLearner a new node its own),
// and whenever a node starts from its disk, installs a snapshot or appends
// a configuration entry, its configuration in force — raft's Status().Conf
// and the service core's Status, which discover and the answers' leader
// field come from — holds exactly its members' addresses ("address
// lost"). With the "backpressure" knob (Params.Backpressure) every node
// runs with small bounds, and no bound may be exceeded: a leader that
// proposed since its election holds at most MaxUncommittedEntries entries
// past its commit index ("unbounded log"); a Ready of several committed
// entries holds at most MaxCommittedBytesPerReady bytes of their data
// ("unbounded Ready"); a service core holds at most MaxPendingWrites writes
// and MaxPendingReads reads, watches and resumes taken and not yet answered
// on open connections ("unbounded writes", "unbounded reads"); and a Ready
// gives a connection more than MaxDeliveriesPerReady events only when they
// are all one entry's ("unbounded deliveries"). A refusal is an
// Unavailable answer or a closed connection, which the clients and the
// checks above already treat as a write the log decides and a watch to
// resume with since: nothing refused may be lost or applied twice.
//
// Host-contract and snapshot checks (checks_host.go; issue 7, items 6, 8,
// 9): while a Ready waits for its fsync, HasReady is false however the node
// is fed meanwhile; a linearizable read submitted to a leader that has
// committed in its term makes it take a Ready at once (its heartbeat round,
// lease answer or refusal), not at the next tick; the kv host compacts from
// the apply step, before Advance, and raft must accept it; a leader sends
// no follower a second snapshot in a term unless the first was
// acknowledged or an election timeout of its ticks has passed since it was
// sent (the simulator never calls ReportSnapshot); the service core
// compacts only once it has applied SnapshotTail entries past its snapshot;
// and raft refuses to start a wiped member without Config.Bootstrap.
//
// No write is orphaned (checks_told.go; issue 7, item 12): a write a
// follower forwarded, once the leader's answer told it the index and term
// of its entry, is answered in the Ready in which the node applies that
// index (Unavailable if another term's entry took it), or in the next
// Ready if the node had applied it already — even when two writes were
// told one index in two terms — and in the Ready that applies the first
// entry of a newer term if the write was told an index beyond it in an
// older term, or forwarded to an older term's leader that never answered.
// The host reads which write a Forward carries from its command (a push's
// or update's data is unique in the run) and the index from the
// ForwardReply it delivers; writes a leader proposed itself are not
// followed.
//
// No message storm (network.go): within each 100 ms window of virtual time
// (windows aligned on multiples of 100 ms, so a burst across a window's
// end may reach twice that in 100 ms) a node sends each other node at most
// 10,000 messages, plus one for each tick it made up on resuming from a
// pause. The busiest window of 20,000 healthy seeds held about 1,300 a peer
// beyond such heartbeats, an eighth of the bound; a bug that answers a
// message with more than one multiplies them until the run would never end.
//
// After the fault phase (Config.Duration) everything heals: crashed nodes
// restart, paused ones resume, partitions and clogs clear, and loss,
// duplication, reordering and slow tails stop. Within LivenessBound (ten
// election timeouts) a leader must be elected and a write begun after the
// heal acknowledged, or the seed fails with "no convergence". The clients
// then stop, and every node must apply the whole log within another bound
// (counted from the last delivery of a message the hold-back fault still
// held at the heal, if that comes later). When messages carry about one
// entry (MaxMsgBytes of 256 or less), both bounds allow one mean round trip
// for each entry a member is behind (catchUpAllowance). Then the end checks
// run: replicas that applied the same log hold the same state, every
// acknowledged write is in every node's final state, and the clients'
// history is linearizable (porcupine, through package linearizability).
//
// # Replaying a failure
//
// A failure reports its seed and the havensim command that reruns it:
//
//	go run ./cmd/havensim -seed 17 -nodes 5 -duration 1m0s -faults swarm -workload kv -trace seed-17.trace -viz seed-17.html
//
// The trace has one line per event and notes for elections, crashes, faults
// and the failure; the HTML shows the history with the faults drawn under
// it. `havensim -history FILE` writes the run's history as JSON lines in the
// format of package linearizability/history (committed log with commit
// times, operations with call and return times, sessions, pings and their
// answers, expiry decisions, watch registrations, stops and deliveries);
// its checkers are the ones the sessions workload runs, and the written
// history re-checks to the run's verdict (TestHistoryFileIsCheckedByTheSharedCheckers).
// CI runs TestSwarm (HAVEN_SIM_SEEDS seeds, default 200, of
// HAVEN_SIM_DURATION, default 60s; HAVEN_SIM_LEASE picks the lease-read
// mode), TestSessionsSwarm (the sessions workload: HAVEN_SIM_SESSIONS_SEEDS
// seeds, default 200, of HAVEN_SIM_SESSIONS_DURATION, default 60s, and
// HAVEN_SIM_LEASE) and TestMutantsAreCaught, which plants known bugs in
// copies of raft and of the service core and requires the simulator to
// catch each.
//
// # Why by hand
//
// A simulator written for these cores is small, and everything in it can be
// read and trusted. Frameworks that run real processes on a network
// (Jepsen, Maelstrom) are slow and cannot replay a failure; goroutines on a
// fake clock cannot either, because Go's scheduler is not deterministic.
// Because raft and the service core are sans-IO — time, randomness,
// messages and storage come in as arguments and effects go out as values —
// a loop of a few hundred lines can own all of them, model exactly the disk
// and network semantics the design depends on, and run about a thousand
// virtual seconds per second with the key-value store, and several hundred
// with the service core.
package sim
