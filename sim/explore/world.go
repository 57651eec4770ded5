package explore

import (
	"fmt"
	"slices"
	"strings"

	"github.com/havenproject/haven/raft"
)

// Bounds limit the search: how deep it goes and how many of each costly
// action a path may hold. Message deliveries are bounded by depth alone.
type Bounds struct {
	Nodes      int // 3 or 5
	Depth      int // actions on one path
	Timeouts   int // election timeouts (each one starts an election)
	Heartbeats int // leader heartbeat rounds
	Proposals  int // client proposals on a leader
	Crashes    int // crash and restart of a node, losing unsynced writes
	Duplicates int // deliveries that leave the message in flight
	Drops      int // messages removed without delivery
	// PreVote and CheckQuorum configure every node's Raft.
	PreVote, CheckQuorum bool
}

// DefaultBounds is what CI explores: deep enough for the textbook bugs
// (Figure 8 needs three elections and a dozen steps), small enough for a
// minute on two cores.
func DefaultBounds() Bounds {
	return Bounds{Nodes: 3, Depth: 12, Timeouts: 3}
}

// world is one state of the whole system: every node, the messages in
// flight, what is left of each budget, and what the checks remember. It is
// plain data, copied whole at every branch.
type world struct {
	nodes []*node
	// nodeHash caches each node's hash; 0 means not computed since the
	// node last changed.
	nodeHash []uint64
	// network is the messages in flight, with each one's hash: the search
	// sees it as a multiset (order of arrival does not matter).
	network []inFlight
	used    Bounds // how much of each budget the path to here spent
	// leaders remembers who led each term (Election Safety).
	leaders map[uint64]raft.NodeID
	// committed remembers every index any node committed (State Machine
	// Safety, Leader Completeness).
	committed map[uint64]commitRecord
}

// commitRecord is what is known of one committed index: the term of its
// entry, and the term in which it was first seen committed.
type commitRecord struct {
	entryTerm, inTerm uint64
}

type inFlight struct {
	m raft.Message
	h uint64
}

// node is one server: its Raft core and its disk.
type node struct {
	id raft.NodeID
	r  *raft.Raft
	// durable is what survives a crash: the synced hard state and log.
	durable raft.HardState
	entries []raft.Entry
	// unsynced is a hard state written without fsync (MustSync false): a
	// crash loses it.
	unsynced *raft.HardState
	// commit and role as of the last check, to see them change.
	commit uint64
	role   raft.StateType
}

// fixedRand makes every election timeout the shortest one: randomness in
// the core would only multiply states that the timeout action already
// covers (a timeout can fire on any node at any point).
type fixedRand struct{}

func (fixedRand) Intn(int) int { return 0 }

const (
	electionTicks  = 2
	heartbeatTicks = 1
)

// raftConfig is node id's configuration. Only a brand new cluster
// bootstraps; a restart reads its configuration back from its log.
func (b Bounds) raftConfig(id raft.NodeID, bootstrap bool) raft.Config {
	voters := make([]raft.NodeID, b.Nodes)
	for i := range voters {
		voters[i] = raft.NodeID(i + 1)
	}
	return raft.Config{
		ID: id, Voters: voters, Bootstrap: bootstrap,
		ElectionTicks: electionTicks, HeartbeatTicks: heartbeatTicks, Rand: fixedRand{},
		PreVote: b.PreVote, CheckQuorum: b.CheckQuorum,
		// One entry per AppendEntries, so that followers can hold any
		// prefix of a leader's log (Figure 8 needs that).
		MaxMsgBytes: 1, MaxInflightMsgs: 4,
	}
}

// newWorld boots a new cluster and lets it write its first Ready.
func newWorld(b Bounds) (*world, error) {
	w := &world{leaders: map[uint64]raft.NodeID{}, committed: map[uint64]commitRecord{}}
	for i := range b.Nodes {
		id := raft.NodeID(i + 1)
		r, err := raft.New(b.raftConfig(id, true), raft.RestoredState{})
		if err != nil {
			return nil, err
		}
		w.nodes = append(w.nodes, &node{id: id, r: r})
	}
	w.nodeHash = make([]uint64, len(w.nodes))
	if v := w.settle(-1); v != nil {
		return nil, fmt.Errorf("explore: the initial state already violates %s", v)
	}
	return w, nil
}

// A violation is a safety property broken in a state.
type violation struct {
	property string
	detail   string
}

func (v *violation) String() string { return v.property + ": " + v.detail }

// settle carries out every node's Ready until none has any, as a host
// would: persist (synced or not), send, apply, advance. It checks the
// properties that concern what leaves a node as it leaves, then the state,
// as far as node touched changed it (-1: every node may have).
func (w *world) settle(touched int) *violation {
	for progress := true; progress; {
		progress = false
		for _, n := range w.nodes {
			for n.r.HasReady() {
				progress = true
				rd := n.r.Ready()
				n.persist(&rd)
				for _, m := range rd.Messages {
					if v := n.checkDurableBeforeSend(m); v != nil {
						return v
					}
					w.network = append(w.network, inFlight{m: m, h: stateHash(&m)})
				}
				n.r.Advance()
			}
		}
	}
	return w.check(touched)
}

func (n *node) persist(rd *raft.Ready) {
	if rd.Snapshot != nil {
		panic("explore: snapshots are not explored (no compaction)")
	}
	if !rd.MustSync {
		if !rd.HardState.IsEmpty() {
			hs := rd.HardState
			n.unsynced = &hs
		}
		return
	}
	// A synced write makes everything before it durable too.
	if n.unsynced != nil {
		n.durable, n.unsynced = *n.unsynced, nil
	}
	if !rd.HardState.IsEmpty() {
		n.durable = rd.HardState
	}
	if len(rd.Entries) > 0 {
		first := rd.Entries[0].Index
		keep := 0
		for keep < len(n.entries) && n.entries[keep].Index < first {
			keep++
		}
		n.entries = append(n.entries[:keep:keep], rd.Entries...)
	}
}

// checkDurableBeforeSend: Figure 2, "updated on stable storage before
// responding to RPCs". A message may only promise what is on disk.
func (n *node) checkDurableBeforeSend(m raft.Message) *violation {
	if m.Term > n.durable.Term && m.Type != raft.MsgPreVote && m.Type != raft.MsgPreVoteResp {
		return &violation{"durable before send", fmt.Sprintf("n%d sent %v of term %d with term %d on disk", n.id, m.Type, m.Term, n.durable.Term)}
	}
	switch {
	case m.Type == raft.MsgVoteResp && !m.Reject:
		if n.durable.Term != m.Term || n.durable.Vote != m.To {
			return &violation{"durable before send", fmt.Sprintf("n%d granted its vote to n%d in term %d, but its disk says term %d vote n%d",
				n.id, m.To, m.Term, n.durable.Term, n.durable.Vote)}
		}
	case m.Type == raft.MsgAppResp && !m.Reject:
		if last := n.lastDurable(); m.Index > last {
			return &violation{"durable before send", fmt.Sprintf("n%d acknowledged entries through %d with only %d on disk", n.id, m.Index, last)}
		}
	}
	return nil
}

func (n *node) lastDurable() uint64 {
	if len(n.entries) == 0 {
		return 0
	}
	return n.entries[len(n.entries)-1].Index
}

// hash identifies the state: equal states hash equal whatever the order
// in which messages arrived in flight.
func (w *world) hash() uint64 {
	acc := combine(stateHash(&w.used), stateHash(&w.leaders))
	acc = combine(acc, stateHash(&w.committed))
	for i, n := range w.nodes {
		if w.nodeHash[i] == 0 {
			w.nodeHash[i] = stateHash(n) | 1
		}
		acc = combine(acc, w.nodeHash[i])
	}
	var net uint64
	for _, f := range w.network {
		net += mix(f.h)
	}
	return combine(acc, net)
}

// crash stops a node and starts it again from its disk: whatever was not
// synced is gone, and so is every volatile field.
func (w *world) crash(i int, b Bounds) error {
	n := w.nodes[i]
	n.unsynced = nil
	restored := raft.RestoredState{HardState: n.durable, Entries: slices.Clone(n.entries)}
	r, err := raft.New(b.raftConfig(n.id, false), restored)
	if err != nil {
		return err
	}
	n.r, n.commit, n.role = r, 0, raft.StateFollower
	return nil
}

// check verifies Raft's safety properties in the current state (Figure 3),
// plus the commit rule at the point of commit. Only node touched changed
// since the last check (-1: any may have), so only it is looked at, and
// only the pairs it is in for Log Matching.
func (w *world) check(touched int) *violation {
	for i, n := range w.nodes {
		if touched >= 0 && i != touched {
			continue
		}
		if err := n.r.CheckInvariants(); err != nil {
			return &violation{"invariant", err.Error()}
		}
		st := n.r.Status()
		// Election Safety: at most one leader can be elected in a given term.
		if st.State == raft.StateLeader && n.role != raft.StateLeader {
			if other, ok := w.leaders[st.Term]; ok && other != n.id {
				return &violation{"Election Safety", fmt.Sprintf("n%d and n%d both led term %d", other, n.id, st.Term)}
			}
			w.leaders[st.Term] = n.id
			// Leader Completeness: "if a log entry is committed in a given
			// term, then that entry will be present in the logs of the
			// leaders for all higher-numbered terms" (Figure 3).
			for _, idx := range sortedKeys(w.committed) {
				c := w.committed[idx]
				if t := termAt(n.r, idx); c.inTerm < st.Term && t != c.entryTerm {
					return &violation{"Leader Completeness", fmt.Sprintf("n%d leads term %d without index %d of term %d, committed in term %d (it has term %d there)",
						n.id, st.Term, idx, c.entryTerm, c.inTerm, t)}
				}
			}
		}
		if st.Commit > n.commit {
			// §5.4.2: a leader commits by counting only entries of its own term.
			if st.State == raft.StateLeader && n.role == raft.StateLeader {
				if t := termAt(n.r, st.Commit); t != st.Term {
					return &violation{"commit rule (§5.4.2)", fmt.Sprintf("n%d, leader of term %d, committed index %d of term %d by counting", n.id, st.Term, st.Commit, t)}
				}
			}
			for idx := n.commit + 1; idx <= st.Commit; idx++ {
				t := termAt(n.r, idx)
				prev, ok := w.committed[idx]
				if ok && prev.entryTerm != t {
					return &violation{"State Machine Safety", fmt.Sprintf("index %d committed with term %d, and with term %d on n%d", idx, prev.entryTerm, t, n.id)}
				}
				if !ok {
					w.committed[idx] = commitRecord{entryTerm: t, inTerm: st.Term}
				}
			}
		}
		n.commit, n.role = st.Commit, st.State
	}
	// Log Matching: if two logs contain an entry with the same index and
	// term, the logs are identical in all entries up through that index.
	for i, a := range w.nodes {
		for j, b := range w.nodes[i+1:] {
			if touched >= 0 && i != touched && i+1+j != touched {
				continue
			}
			if v := checkLogMatching(a, b); v != nil {
				return v
			}
		}
	}
	return nil
}

func checkLogMatching(a, b *node) *violation {
	la, lb := a.r.Entries(1, a.r.Status().LastIndex+1), b.r.Entries(1, b.r.Status().LastIndex+1)
	n := min(len(la), len(lb))
	for k := n - 1; k >= 0; k-- {
		if la[k].Term == lb[k].Term {
			for j := 0; j < k; j++ {
				if la[j].Term != lb[j].Term || string(la[j].Data) != string(lb[j].Data) {
					return &violation{"Log Matching", fmt.Sprintf("n%d and n%d agree at index %d (term %d) but differ at index %d", a.id, b.id, la[k].Index, la[k].Term, la[j].Index)}
				}
			}
			return nil
		}
	}
	return nil
}

func termAt(r *raft.Raft, idx uint64) uint64 {
	e := r.Entries(idx, idx+1)
	if len(e) == 0 {
		return 0
	}
	return e[0].Term
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describe is one line per node for a counterexample's timeline: role,
// term, log terms (a bar after the committed prefix).
func (w *world) describe() []string {
	out := make([]string, len(w.nodes))
	for i, n := range w.nodes {
		st := n.r.Status()
		var log strings.Builder
		for _, e := range n.r.Entries(1, st.LastIndex+1) {
			fmt.Fprintf(&log, "%d", e.Term)
			if e.Index == st.Commit {
				log.WriteByte('|')
			}
		}
		out[i] = fmt.Sprintf("%s t%d %s", roleLetter(st.State), st.Term, log.String())
	}
	return out
}

func roleLetter(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "L"
	case raft.StateCandidate:
		return "C"
	case raft.StatePreCandidate:
		return "P"
	}
	return "F"
}
