// Package explore is a bounded exhaustive search over the real raft core:
// where the simulator draws one order of events per seed, explore tries
// every order within a bound, as a model checker (TLC, stateright) would,
// and checks Raft's safety properties in every state it reaches.
//
// A state is a whole cluster: each node's *raft.Raft (the production core,
// unchanged), its disk (the synced hard state and log, and a hard state
// written without fsync that a crash loses), the messages in flight (a
// multiset), the budgets the path has spent, and what the checks remember
// (who led each term, which index was committed with which term, in which
// term). From each state the search tries:
//
//   - delivering each distinct message in flight;
//   - duplicating one (it is delivered and stays in flight) and dropping one,
//     up to their budgets (Bounds.Duplicates, Bounds.Drops);
//   - an election timeout on any node that does not lead (Bounds.Timeouts);
//   - a heartbeat round from a leader (Bounds.Heartbeats);
//   - a client proposal on a leader (Bounds.Proposals);
//   - a crash and restart of any node from its disk (Bounds.Crashes).
//
// After each action every node carries out its Ready as a host does
// (persist, synced when MustSync; send; advance), and the state is checked:
// Election Safety, Log Matching, Leader Completeness and State Machine
// Safety (Figure 3), the commit rule of §5.4.2 at the point a leader
// commits, raft.CheckInvariants on every node, and, for every message as it
// leaves, that it promises nothing that is not on disk (a granted vote, an
// acknowledged entry, a term).
//
// The search deepens one step at a time (iterative deepening, depth first
// within a pass), so the first violation found is a shortest one; it is
// printed as a timeline, one line per step, each node as its role, term and
// the terms of its log with "|" after the committed prefix. A state reached
// again with no more steps left than before is not expanded again, which
// keeps each pass complete for its depth while visiting far fewer paths.
//
// What the bound leaves out, so that the space stays small: timeouts are
// always the shortest (a timeout is an action that can fire at any point,
// so the random spread adds nothing to safety); one entry per
// AppendEntries (so that followers can hold any prefix of a leader's log,
// which Figure 8 needs); no compaction or snapshots, no membership changes,
// no ReadIndex or leases — the simulator drives those.
//
// The copies this needs are deep copies of the cores' memory, made by a
// per-type plan over their fields, unexported ones included (clone.go):
// a test instrument, possible because the cores are plain data with no
// goroutines, clocks or I/O. Nodes are copied on write: an action changes
// one node, and the others are shared with the parent state.
//
// `havensim -explore` runs it from the command line; TestMutantsAreCaught in
// package sim plants the Figure 8 commit bug, a vote without the log check
// and a vote not persisted before its reply, and requires the search (with
// CI's bound, DefaultBounds) to find each.
package explore
