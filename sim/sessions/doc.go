// Package sessions is the simulator's sessions workload: the Haven service
// core (package session) on every node of a sim run, and clients that use
// it as Haven's clients do. It registers itself with package sim as
// "sessions" (Config.Workload); cmd/havensim -workload sessions runs it.
//
// Every node runs session.Core (sim hosts it: sim.CoreWorkload), configured
// as havend configures it (ttl bounds, request timeouts and the rest at
// their defaults) except that it snapshots itself every CompactEvery applied
// entries, keeps 2, 16 or 256 events per list for watches (drawn per
// seed, so that resumes hit `reset`), and its default ttl is 2 s.
//
// Clients (sessions*.go) talk to a node over a connection that, like TCP,
// keeps the order of what it carries both ways and dies with the node's
// process. Half of them ask for a ttl of 500 ms (the smallest), the others
// for 1 to 3 s (those whose ttl is the default ask for none, and the
// answer must grant the default). Each opens a session, pings at a third
// of its ttl, and pushes, updates and deletes items, reads lists
// (linearizable, or stale), watches and unwatches lists, and now and then
// moves to another node and resumes its session with its token
// (re-registering its watches with `since`), closes its session, or
// crashes without closing (half the time its connection closes, half the
// time the node never learns). A client
// names on every connect the highest version it has seen (`seen`, kept
// across its sessions until its process crashes, as netproto/client keeps
// it), and now and then pipelines a stale read right behind a connect or
// resume, before its answer. With the watch-elsewhere knob, a client now
// and then starts a new watch with `since` = the latest version of that
// list another client was shown, as if one process handed it to another
// out of band: its own node may not have applied that far yet. A ping not
// answered OK within a third of the ttl sends it to another node. Once
// faults heal and the run is live again, the clients stop — pings too — so
// every session must then expire, and the run settles only once they all
// have.
//
// The checks of the sessions workload, besides raft's. The watch checker,
// the no-false-expiry and dead-session checkers and the lists history
// builder live in package linearizability/history, where a real cluster's
// recorded history goes through the same code: the workload records the
// run in that package's format and feeds them as it goes (the watch
// checker each event as it arrives, the no-false-expiry check each expiry
// and OK ping, the dead-session check each step of the settling, the
// builder the records at the end). The checks of node behaviour (no
// answer or event of an unapplied entry, stale reads, SessionExpired
// borne out, no double commit) stay here.
//
//   - Linearizability of the lists (linearizability.ListsModel, partitioned
//     by path), with every session end in the history at the index that
//     ended it: a client's close as its own operation, an expiry from when
//     its leader proposed it to when it was committed. Every write whose
//     client never learned the outcome (or was told Unavailable or
//     InternalError) is resolved from the committed log — each write
//     carries a unique value, and a client never deletes an item twice —
//     and every acknowledged write and every answer that only applying an
//     entry can give must match its entry in the log.
//   - Watches: each event a watcher receives must be the next change to its
//     list in the committed log after the last one it saw — no gap, no
//     duplicate, no reordering — where it starts after the registration's
//     version, or after `since` when a resume was served from history, or
//     after the answered version when the answer says reset. A watch with
//     `since` must be answered with the list no older than it was at
//     `since` (the node must first apply that far), reset or not. Once the
//     run settles, every open watch must have had every change before its
//     session ended.
//   - Changes are what the protocol says of items (history.EventShape):
//     each change the state machine makes at index i is at i; a pushed item
//     has version = modified = i, an updated one version < modified = i, a
//     deleted one version ≤ modified < i. The watch checker's changes come
//     from the state machine, so this is what sees one that gets them wrong.
//   - A connect without ttl_ms is granted the default ttl.
//   - No node answers with a list version it has not applied, or sends an
//     event of an entry it has not applied; a stale read never shows a list
//     older than its connection already showed, nor older than the client
//     had seen of that list before it opened the connection (it named
//     `seen` on connect: a node behind, or restarted with a lower commit,
//     must first apply that far).
//   - No false expiry: a session expired by an entry a leader proposed at
//     virtual time T is a false expiry if its client got an OK answer to a
//     ping it sent in (T − ttl + slack, T], slack = ttl·Drift + 2 ticks (the
//     leader's clock may run Drift fast; it notes times and checks silence
//     at tick granularity).
//   - Dead sessions end in time: once the clients stop, every session must
//     end within ttl·(1+Drift) plus 3 ticks, an election timeout and the
//     run's longest message delay, counted from the latest of: the last
//     time a node took one of its requests (or finished connecting it), its
//     opening, the run becoming live again after healing, and the current
//     leader's renewal. The nodes then hold no session and no item, and
//     their state machines equal the committed log's.
//   - A client told SessionExpired must have had its session ended by the
//     log by then.
package sessions
