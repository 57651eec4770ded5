package explore

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/havenproject/haven/raft"
)

// actionKind is one thing that can happen next.
type actionKind uint8

const (
	deliver actionKind = iota + 1
	duplicate
	drop
	timeout
	heartbeat
	propose
	crash
)

// action is one step of a path. msg indexes the network of the state it
// is taken in (for deliver, duplicate, drop); node indexes the nodes.
type action struct {
	kind actionKind
	msg  int
	node int
}

// Report says what a search did and, if it found one, the shortest path to
// a violated property.
type Report struct {
	Bounds   Bounds
	Explored int // states expanded, over all passes
	Distinct int // distinct states seen in the last pass
	Depth    int // the deepest pass searched to the end (or that found the violation)
	Steps    int // the counterexample's length
	Elapsed  time.Duration
	// Violation is empty when every state within the bounds is safe.
	Violation string
	// Timeline is the counterexample, one line per step, shortest first
	// found (the search deepens one step at a time).
	Timeline []string
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "explored %d states (%d distinct in the pass of depth %d) in %v; bounds: %d nodes, depth %d, %d timeouts, %d heartbeats, %d proposals, %d crashes, %d duplicates, %d drops",
		r.Explored, r.Distinct, r.Depth, r.Elapsed.Round(time.Millisecond), r.Bounds.Nodes, r.Bounds.Depth,
		r.Bounds.Timeouts, r.Bounds.Heartbeats, r.Bounds.Proposals, r.Bounds.Crashes, r.Bounds.Duplicates, r.Bounds.Drops)
	if r.Violation == "" {
		if r.Depth < r.Bounds.Depth {
			// Time ran out before the last pass: the bounds were not
			// covered, only the passes that finished.
			fmt.Fprintf(&b, "\nno violation up to depth %d; depth %d was not reached", r.Depth, r.Bounds.Depth)
			return b.String()
		}
		b.WriteString("\nno violation within the bounds")
		return b.String()
	}
	fmt.Fprintf(&b, "\nVIOLATION after %d steps: %s\n", r.Steps, r.Violation)
	for _, l := range r.Timeline {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Explore searches every path within the bounds, deepening one step at a
// time (iterative deepening), so that the first violation found is a
// shortest one. States are hashed whole (every field of every core, the
// network as a multiset, the budgets spent and what the checks remember);
// a state reached again with no more steps left than before is not
// expanded again, which keeps each pass complete for its depth. Depth
// first rather than breadth first: memory stays one path deep, and a
// violation is usually found long before a level is exhausted.
func Explore(b Bounds, deadline time.Time) (Report, error) {
	start := time.Now()
	rep := Report{Bounds: b}
	root, err := newWorld(b)
	if err != nil {
		return rep, err
	}
	for depth := 1; depth <= b.Depth; depth++ {
		s := searcher{bounds: b, limit: depth, seen: map[uint64]int{}, deadline: deadline}
		path, v := s.dfs(root, 0, nil)
		rep.Explored += s.expanded
		rep.Distinct = len(s.seen)
		if v != nil {
			rep.Violation, rep.Steps, rep.Depth = v.String(), len(path), depth
			rep.Timeline = timeline(root, path, b)
			break
		}
		if s.timedOut {
			rep.Elapsed = time.Since(start)
			return rep, fmt.Errorf("explore: time ran out at depth %d after %d states", depth, rep.Explored)
		}
		rep.Depth = depth
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

type searcher struct {
	bounds   Bounds
	limit    int
	seen     map[uint64]int // state hash → most steps left when it was expanded
	expanded int
	deadline time.Time
	timedOut bool
}

func (s *searcher) dfs(w *world, depth int, path []action) ([]action, *violation) {
	left := s.limit - depth
	if left == 0 {
		return nil, nil
	}
	h := w.hash()
	if prev, ok := s.seen[h]; ok && prev >= left {
		return nil, nil
	}
	s.seen[h] = left
	s.expanded++
	if s.expanded%4096 == 0 && !s.deadline.IsZero() && time.Now().After(s.deadline) {
		s.timedOut = true
	}
	if s.timedOut {
		return nil, nil
	}
	for _, a := range w.actions(s.bounds) {
		next := w.branch()
		v, err := next.apply(a, s.bounds)
		p := append(path[:len(path):len(path)], a)
		if err != nil {
			return p, &violation{"restart from disk", err.Error()}
		}
		if v != nil {
			return p, v
		}
		if found, v := s.dfs(next, depth+1, p); v != nil {
			return found, v
		}
	}
	return nil, nil
}

// actions lists what may happen next. Identical messages in flight give
// identical successors, so each distinct message is offered once.
func (w *world) actions(b Bounds) []action {
	var out []action
	distinct := map[uint64]bool{}
	for i, f := range w.network {
		if distinct[f.h] {
			continue
		}
		distinct[f.h] = true
		out = append(out, action{kind: deliver, msg: i})
		if w.used.Duplicates < b.Duplicates {
			out = append(out, action{kind: duplicate, msg: i})
		}
		if w.used.Drops < b.Drops {
			out = append(out, action{kind: drop, msg: i})
		}
	}
	for i, n := range w.nodes {
		leader := n.r.SoftState().State == raft.StateLeader
		if !leader && w.used.Timeouts < b.Timeouts {
			out = append(out, action{kind: timeout, node: i})
		}
		if leader && w.used.Heartbeats < b.Heartbeats {
			out = append(out, action{kind: heartbeat, node: i})
		}
		if leader && w.used.Proposals < b.Proposals {
			out = append(out, action{kind: propose, node: i})
		}
		if w.used.Crashes < b.Crashes {
			out = append(out, action{kind: crash, node: i})
		}
	}
	return out
}

// branch returns a copy of w to take one action in. Nodes are shared with
// w until apply copies the one the action touches (copy on write): every
// action changes one node's core, and the others' Readys are empty.
func (w *world) branch() *world {
	return &world{
		nodes:     slices.Clone(w.nodes),
		nodeHash:  slices.Clone(w.nodeHash),
		network:   slices.Clip(w.network), // appends must not write into w's array
		used:      w.used,
		leaders:   maps.Clone(w.leaders),
		committed: maps.Clone(w.committed),
	}
}

// touches says which node an action changes.
func (w *world) touches(a action) int {
	switch a.kind {
	case deliver, duplicate:
		return int(w.network[a.msg].m.To) - 1
	case drop:
		return -1
	}
	return a.node
}

// apply takes one action and settles the cluster. The error is a failure
// to restart from disk, itself a violation (what was synced must load).
func (w *world) apply(a action, b Bounds) (*violation, error) {
	t := w.touches(a)
	if t >= 0 {
		w.nodes[t] = deepCopy(w.nodes[t])
		w.nodeHash[t] = 0
	}
	switch a.kind {
	case deliver, duplicate:
		m := w.network[a.msg].m
		if a.kind == deliver {
			w.network = append(w.network[:a.msg:a.msg], w.network[a.msg+1:]...)
		} else {
			w.used.Duplicates++
		}
		// Errors are refusals of malformed or stale messages: not a state change.
		_ = w.nodes[int(m.To)-1].r.Step(m)
	case drop:
		w.network = append(w.network[:a.msg:a.msg], w.network[a.msg+1:]...)
		w.used.Drops++
	case timeout:
		w.used.Timeouts++
		r := w.nodes[a.node].r
		// Tick until the election starts: the timer ran out.
		for i := 0; i < 4*electionTicks && !campaigning(r); i++ {
			r.Tick()
		}
	case heartbeat:
		w.used.Heartbeats++
		for range heartbeatTicks {
			w.nodes[a.node].r.Tick()
		}
	case propose:
		w.used.Proposals++
		_, _, _ = w.nodes[a.node].r.Propose([]byte{byte('a' + w.used.Proposals - 1)})
	case crash:
		w.used.Crashes++
		if err := w.crash(a.node, b); err != nil {
			return nil, err
		}
	}
	return w.settle(t), nil
}

func campaigning(r *raft.Raft) bool {
	s := r.SoftState().State
	return s == raft.StateCandidate || s == raft.StatePreCandidate || r.HasReady()
}

// describe says what an action did, in the state it was taken in.
func (a action) describe(w *world) string {
	switch a.kind {
	case deliver, duplicate, drop:
		m := w.network[a.msg].m
		what := map[actionKind]string{deliver: "deliver", duplicate: "duplicate", drop: "drop"}[a.kind]
		s := fmt.Sprintf("%s %v n%d→n%d t%d", what, m.Type, m.From, m.To, m.Term)
		switch m.Type {
		case raft.MsgApp:
			s += fmt.Sprintf(" prev=%d/%d entries=%d commit=%d", m.Index, m.LogTerm, len(m.Entries), m.Commit)
		case raft.MsgAppResp:
			s += fmt.Sprintf(" index=%d reject=%v", m.Index, m.Reject)
		case raft.MsgVote, raft.MsgPreVote:
			s += fmt.Sprintf(" last=%d/%d", m.Index, m.LogTerm)
		case raft.MsgVoteResp, raft.MsgPreVoteResp:
			s += fmt.Sprintf(" granted=%v", !m.Reject)
		}
		return s
	case timeout:
		return fmt.Sprintf("election timeout on n%d", a.node+1)
	case heartbeat:
		return fmt.Sprintf("heartbeat from n%d", a.node+1)
	case propose:
		return fmt.Sprintf("client proposal on n%d", a.node+1)
	case crash:
		return fmt.Sprintf("crash and restart n%d (unsynced writes lost)", a.node+1)
	}
	return "?"
}

// timeline replays a path from the root and writes one line per step:
// the action, then each node as role, term and log terms ("|" after the
// committed prefix).
func timeline(root *world, path []action, b Bounds) []string {
	w := root.branch()
	header := fmt.Sprintf("%-4s %-58s", "step", "action")
	for _, n := range w.nodes {
		header += fmt.Sprintf(" %-16s", fmt.Sprintf("n%d", n.id))
	}
	lines := []string{header, row(0, "start", w)}
	for i, a := range path {
		d := a.describe(w)
		v, err := w.apply(a, b)
		lines = append(lines, row(i+1, d, w))
		if err != nil {
			lines = append(lines, "     → "+err.Error())
		} else if v != nil {
			lines = append(lines, "     → "+v.String())
		}
	}
	return lines
}

func row(step int, what string, w *world) string {
	s := fmt.Sprintf("%-4d %-58s", step, what)
	for _, d := range w.describe() {
		s += fmt.Sprintf(" %-16s", d)
	}
	return s
}
