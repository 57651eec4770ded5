// Package fsm is Haven's state machine: sessions and the ephemeral lists
// they own, as a pure, deterministic function of the Raft log.
//
// The session layer hands every committed log entry's Data to
// Machine.Apply, in log order, on every node. Apply returns a Result (for the
// node that answers the client who proposed the entry) and the Events the
// entry caused (for watchers). The package imports nothing of this project
// and nothing that reads a clock, draws a random number, starts a goroutine
// or does I/O.
//
// # Data model
//
// This is PROTOCOL.md's "Data model", which the package implements word for
// word:
//
//   - A path is "/data" followed by one or more "/segment"; a segment is
//     1–128 bytes of [A-Za-z0-9._~-], not "." or ".."; a path is at most 1024
//     bytes (ValidatePath).
//   - Every path names a list of items ordered by version, ascending. A path
//     never written is an empty list with version 0.
//   - A list's version is the index of the last entry that changed it (push,
//     update, delete, or removal by session end): its etag. A list emptied
//     keeps its version, so the machine remembers every path ever written
//     (about a hundred bytes plus the path each; see Stats.Lists).
//   - An Item is {Version, Modified, Owner, Data}. Version is the index of
//     the entry that created it: unique in the cluster, never reused, only
//     growing. Modified is the index of its last update. Owner is the public
//     id of its session. Data is one MessagePack value that JSON can also
//     carry, at most Options.MaxItemBytes (ValidateData).
//   - Every item is ephemeral: when its owner's session ends, by close or by
//     expiry, all of the session's items are removed in that one entry. Only
//     the owner may update or delete an item.
//
// # Commands
//
// A log entry's Data is one Command, rendered by Encode and read by Decode:
//
//   - OpenSession{ID, TokenHash, TTLms}: a session, with the SHA-256 of its
//     secret token (the machine never sees the token itself).
//   - CloseSession{ID, Expired}: the session ends; each item it owned is
//     removed, with a delete event whose version is this entry's index.
//   - Push{Session, Path, Data, IfVersion}: a new item at the end of the list.
//   - Update{Session, Path, Item, Data, IfVersion}: new data for an item.
//   - Delete{Session, Path, Item, IfVersion}: the item is removed.
//   - RenewAll{Term}: the leader of Term has granted every session a fresh
//     ttl. Liveness is the session layer's (it has the clocks); the machine
//     records the index and term of the latest renewal so all nodes agree.
//   - Noop: a barrier. An entry with empty Data is a Noop too.
//
// IfVersion is the etag test-and-set: the write happens only if the list's
// version still equals it, else Conflict.
//
// The machine keeps no record of ended sessions: a write or close naming a
// session that has ended and one naming a session that never existed both
// get SessionExpired (for the client they are the same: its session is
// gone). The session layer draws ids at random, so an id is never reused.
//
// A command that is refused changes nothing (only the applied index moves)
// and its Result carries the code: InvalidParameter (undecodable command,
// bad path or session id, malformed data), TooLarge (data over the limit),
// Unsupported (a command format or kind this version does not know),
// SessionExpired (the writing or closing session has ended or never
// existed), NotFound (no such item), Forbidden (not the item's owner),
// Conflict (if_version mismatch, a session id or token already in use, a
// renewal older than the last). The checks run in that fixed order:
// decode, parameters, session, item, owner, if_version.
//
// # Determinism
//
// Every node must reach the same state from the same log, byte for byte, or
// the replicas silently diverge. So:
//
//   - Apply depends only on the machine's state, the index and the entry's
//     bytes: no clock, randomness, or environment. Options must be the same
//     on every node (a different MaxItemBytes would accept what others
//     refuse).
//   - Wherever a map's contents can be seen (events, Sessions, Paths,
//     Snapshot, even CheckInvariants' messages), they are visited in sorted
//     order. The events of one entry are sorted by path, then item version.
//   - Snapshot writes a canonical form: the same state gives the same bytes,
//     and Restore(Snapshot()) then Snapshot() gives them again.
//   - Nothing the machine hands out shares mutable memory with it: Items are
//     values (Data is an immutable string of MessagePack bytes), and slices
//     are fresh copies. Callers cannot corrupt the state through them.
//
// # Recipe: leader election
//
// Lists and sessions make leader election a few lines for a client, and the
// winner gets a fencing token for free:
//
//  1. Each candidate opens a session and pushes an item (for instance its
//     address) to an agreed list, say /data/election/scheduler.
//  2. The item with the lowest version is the leader. Every candidate reads
//     the list (the push's answer already holds it) and knows at once
//     whether it leads.
//  3. The others watch the list. When the leader's session ends (it closed,
//     or crashed and its ttl ran out), its item is deleted in one entry,
//     watchers get a delete event, and the candidate whose item now has the
//     lowest version leads.
//  4. The leader's item version is its fencing token. Versions are log
//     indexes, so a later leader always holds a larger token; a resource
//     that remembers the largest token it has seen can refuse a deposed
//     leader that still believes it leads.
//
// For example, three candidates in one log:
//
//	index 1  OpenSession{ID: "a"}          index 2  OpenSession{ID: "b"}
//	index 3  OpenSession{ID: "c"}
//	index 4  Push{Session: "b", Path: "/data/election/scheduler"}  -> item 4: b leads, token 4
//	index 5  Push{Session: "a", Path: "/data/election/scheduler"}  -> item 5: a waits
//	index 6  Push{Session: "c", Path: "/data/election/scheduler"}  -> item 6: c waits
//	index 7  CloseSession{ID: "b", Expired: true}                  -> delete event for item 4
//	                                                                  a leads, token 5 > 4
//
// ExampleMachine_leaderElection runs exactly this.
package fsm
