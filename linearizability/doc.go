// Package linearizability checks that histories of client operations,
// recorded from the simulator or from a real cluster, are linearizable, with
// porcupine (github.com/anishathalye/porcupine) as the search engine.
//
// A history is linearizable if every operation can be given one instant
// between its call and its return such that, taken in the order of those
// instants, the operations and their answers are a run of the sequential
// specification: the model. The package has two models, a History recorder
// and a Check that draws porcupine's HTML visualization when a history is
// illegal. It imports nothing of this project: the simulator and the
// real-cluster tests translate their requests and answers into its types.
//
// # Recording
//
// Call [History.Begin] when a client sends a request and [History.End] when
// the answer arrives, with the times of one clock (virtual or real, any
// unit). When the client gives up without an answer (timeout, lost
// connection, Unavailable after the request may have reached the leader),
// call [History.Unknown]: the operation then returns "at the end of time"
// (math.MaxInt64) with a nil output. If the outcome can be found out
// afterwards (the simulator reads the committed log: the entry's index, or
// that it never committed), call [History.Resolve] with it. [History.Operations]
// gives the history to [Check], with the model.
//
// # Unknown outcomes
//
// This is porcupine's convention, and the models implement its other half.
// A write whose answer is nil, or has Unknown set, is applied by the model
// wherever porcupine tries it, as long as it could succeed there, and never
// refused. Because it returns after everything else, porcupine may also try
// it last, where nothing observes it: the same as never having taken effect.
// So it may or may not have happened, at any instant after its call. A read
// with an unknown answer constrains nothing and is dropped. Each unknown
// write roughly doubles the search of its partition, which is why Resolve
// exists: a known outcome pins the operation down. A resolved operation
// keeps its infinite return time (its client saw no answer), unless
// ResolveBy also bounds when it had certainly taken effect.
//
// # The KV model
//
// [KVModel] specifies a key-value store, partitioned by key, whose state per
// key is its value ("" if never written): KVGet returns it; KVPut replaces
// it; KVAppend appends to it; KVCompareAndSwap replaces it if it equals
// Expected and answers whether it did. An output with Failed set had no
// effect and is dropped.
//
// # The Lists model
//
// [ListsModel] specifies Haven's data model (PROTOCOL.md): every path is a
// list of items {version, owner, data}, ordered by version, with a list
// version, the log index of its last change (0 for a list never written).
// Versions are Raft log indexes, assigned by the system, so the model does
// not predict them: it learns them from the answers and checks that they
// are consistent with one log, in which entries apply in index order. Hence
// every write linearized after a list's last change must carry a larger
// index. Exactly these rules are checked, per list:
//
//   - ReadList answered OK: the items are exactly the model's, in the same
//     order, equal in version, owner and data (data compared byte for byte);
//     their versions ascend; none exceeds the list version; and the list
//     version is exactly the model's.
//   - PushItem answered OK with index v: the session has not ended; if
//     IfVersion is set it equals the list version; v is greater than the
//     list version, and so than every version this list has shown; the item
//     {v, session, data} is appended and the list version becomes v.
//   - UpdateItem / DeleteItem answered OK with index v: the session has not
//     ended; IfVersion, if set, equals the list version; an item with version
//     Item exists and the session owns it; v is greater than the list
//     version; the item's data is replaced (its version stays) or the item is
//     removed; the list version becomes v.
//   - EndSession answered OK with index v, for a session not yet ended: v is
//     greater than the list version; the session's items are removed, and if
//     there were any the list version becomes v; the session's later writes
//     must fail with SessionExpired. For a session already ended (a close
//     racing an expiry), OK or SessionExpired change nothing.
//   - Conflict is legal only if IfVersion is set and differs from the list
//     version; NotFound only if no item has version Item; Forbidden only if
//     that item is owned by another session; SessionExpired only if the
//     session has ended. When several apply, any of their codes is accepted:
//     the contract fixes no precedence. A write answered with a failure code
//     changes nothing.
//   - Unavailable, InternalError, InvalidParameter, TooLarge and Unsupported
//     mean the request certainly had no effect; they are legal anywhere and
//     dropped. Record Unavailable or InternalError this way only when the
//     write cannot commit later; otherwise its outcome is unknown.
//   - A write whose answer carries the list (ListsOutput.HasItems) must show
//     the list right after the write, as a read would.
//
// Not modelled: the item's `modified` field (history.EventShape holds every
// change to it), stale reads (do not record
// them), watches (package linearizability/history checks them), and
// Forbidden for bad credentials. Every session end,
// close or expiry, must be in the history: otherwise items vanish with no
// operation to explain it and the history is illegal. The simulator records
// an expiry from the log (call when the leader proposed it, return when it
// was applied); a real-cluster test can learn the index from watch events,
// whose deletions by one end share its index, or avoid expiries.
//
// An unknown push leaves an item whose version is unknown: the model keeps
// bounds on it (above the list version when pushed, below any index later
// written to the list) and learns it from the next read, which must show the
// item in the place the order of pushes gives it. An update or delete may
// name such an item by a version the client learned outside the history; if
// several of the session's items could have that version, each choice is a
// separate possible state. That is why ListsModel is built from a
// nondeterministic model: its state is a set of possible list states,
// almost always of one.
//
// # Partitions
//
// Linearizability is local (Herlihy & Wing): a history of operations that
// each touch one object is linearizable if and only if the history of each
// object is. Both models partition, so porcupine searches each key or path
// on its own, in parallel; that is what keeps 10,000-operation histories
// fast. Partitions come in the order of their key or path.
//
// A session end touches every list, so it is copied into the partition of
// every path whose history mentions its session: as the Session of a write,
// or as the owner of an item in an answer. There it removes items, makes the
// session's later writes fail, and its index is checked against the list's
// versions. Elsewhere it could change nothing that is checked, so it is left
// out. Version checks stay exact per partition: list versions are per list,
// and every comparison is between versions of one list, or between one
// list's version and an index of the one log, which orders all entries.
// What a per-path check cannot see is the atomicity of one end across
// lists: each partition may place the end at its own instant within the
// end's interval, so a reader who saw the end's effect in one list and then
// not in another, both within that interval, goes unnoticed.
//
// # The history format and the other checkers
//
// Package linearizability/history is the one history format of a run,
// simulated or recorded from real processes (JSON lines: committed log,
// operations, watch registrations and deliveries, pings, sessions, expiry
// decisions), and holds the checkers of what this package does not model:
// the watch checker (CheckWatches), the session checkers (no false expiry:
// CheckNoFalseExpiry; dead sessions end in time: CheckDeadSessions), and
// ListsHistory, which builds the History that ListsModel checks from the
// recorded operations and committed log, unknown outcomes resolved and
// expiries added. The simulator and the real-cluster fault suite call
// those; this package stays free of the project's other packages.
//
// # Reading the visualization
//
// Open the HTML file in a browser. Each client (History.Begin's client) is
// a row; time runs to the right, but only the order of timestamps is kept,
// not their spacing. A bar is an operation from call to return, labelled as
// the model describes it, e.g. `push(/data/a, s1, "x", if v3) -> OK @7` or
// `read(/data/a) -> v7 [#5 s1 "x", #7 s2 "y"]`; `-> ?` is an unknown outcome,
// and such bars reach the right edge. Annotations (Check's WithAnnotations,
// e.g. injected faults) are rows below the clients, one per tag, "faults" by
// default; hover one for its details.
//
// Hover an operation to show only its partition (its path or key) and the
// longest partial linearization that contains it: the linearization points
// are marked on the bars, and the tooltip gives the state before and after
// the operation. Click to pin that view, click the background to release
// it. In an illegal history, red marks ("Invalid LP") sit on the operations
// that cannot come next after the longest partial linearization: the first
// violation is there, and "jump to first error" scrolls to it. Hovering a
// marked operation shows the last good state, which usually makes the bug
// plain: the state holds a version the read did not show, or an item it
// lost.
//
// A Lists state reads `v>=13 [#5 s1 "a", #? (13..15) s2 "b"] ended: s3`:
// the list version is at least 13 (it reads `v12` when known exactly; only
// a bound is known after a write with an unknown outcome), s1 holds an item
// at version 5, s2 one from an unknown push whose version lies in 13..15,
// and session s3 has ended. Porcupine wraps a
// nondeterministic model's state in braces: `{...}`, and several states
// inside mean the history so far can be explained in several ways.
package linearizability
