package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Property tests: random runs of 3–5 servers over the in-memory network —
// ticks, deliveries in any order, drops, duplicates, partitions, crashes and
// restarts from exactly what was persisted, proposals, compactions,
// membership changes and leadership transfers — with the safety properties
// of Figure 3 checked after every step. The harness checks on top, after
// every Ready, that state is durable before messages depend on it, that no
// server votes twice in a term, that every server applies the same entry at
// each index, and CheckInvariants.

// safetyModel remembers what the run has shown so far.
type safetyModel struct {
	// leaders maps each term to the one server that led it, over the whole
	// run (Election Safety).
	leaders map[uint64]NodeID
	// committed maps each index seen committed on some server to its entry
	// and to the lowest term a server that saw it committed was at.
	committed map[uint64]committedEntry
	// maxCommitted is the highest index seen committed anywhere, and
	// readFloor, for each read asked (by server and context), maxCommitted
	// when it was asked: §6.4 promises a read index at least that high
	// ("linearizable reads must not return stale data").
	maxCommitted uint64
	readFloor    map[readKey]uint64
}

type readKey struct {
	node NodeID
	ctx  string
}

type committedEntry struct {
	term     uint64 // the entry's term
	data     string
	known    bool   // false if first seen only as a snapshot's last index
	seenTerm uint64 // the committing side's term, or later
}

func newSafetyModel() *safetyModel {
	return &safetyModel{leaders: map[uint64]NodeID{}, committed: map[uint64]committedEntry{}, readFloor: map[readKey]uint64{}}
}

// check runs every property on the cluster's current state.
func (m *safetyModel) check(t testingT, c *cluster) {
	t.Helper()
	for _, id := range c.ids {
		n := c.nodes[id]
		if !n.down {
			if err := n.raft.CheckInvariants(); err != nil {
				t.Fatalf("%v", err)
			}
		}
	}
	m.electionSafety(t, c)
	m.recordCommitted(t, c)
	m.logMatching(t, c)
	m.leaderCompleteness(t, c)
}

// electionSafety: "at most one leader can be elected in a given term"
// (Figure 3, §5.2) — over the whole run, not just at one instant.
func (m *safetyModel) electionSafety(t testingT, c *cluster) {
	for _, id := range c.ids {
		r := c.node(id)
		if r.state != StateLeader {
			continue
		}
		if prev, ok := m.leaders[r.term]; ok && prev != id {
			t.Fatalf("Election Safety: %d and %d both led term %d", prev, id, r.term)
		}
		m.leaders[r.term] = id
	}
}

// recordCommitted notes every committed entry of every server, and checks
// that no two servers ever consider different entries committed at one
// index (the log side of State Machine Safety, §5.4.3).
func (m *safetyModel) recordCommitted(t testingT, c *cluster) {
	for _, id := range c.ids {
		r := c.node(id)
		for idx := r.log.snapIndex; idx <= r.log.committed; idx++ {
			if idx == 0 {
				continue
			}
			term, _ := r.log.term(idx)
			ce := committedEntry{term: term, seenTerm: r.term}
			if idx > r.log.snapIndex {
				ce.data, ce.known = string(r.log.entry(idx).Data), true
			}
			m.maxCommitted = max(m.maxCommitted, idx)
			prev, ok := m.committed[idx]
			if !ok {
				m.committed[idx] = ce
				continue
			}
			if prev.term != ce.term || (prev.known && ce.known && prev.data != ce.data) {
				t.Fatalf("State Machine Safety: index %d committed as %d/%q and as %d/%q (node %d)", idx, prev.term, prev.data, ce.term, ce.data, id)
			}
			if !prev.known && ce.known {
				prev.data, prev.known = ce.data, true
			}
			prev.seenTerm = min(prev.seenTerm, ce.seenTerm)
			m.committed[idx] = prev
		}
	}
}

// checkReads: every read answered on a server got a read index at least as
// high as everything committed before it was asked (§6.4).
func (m *safetyModel) checkReads(t testingT, id NodeID, states []ReadState) {
	for _, rs := range states {
		floor, ok := m.readFloor[readKey{id, string(rs.Context)}]
		if !ok {
			t.Fatalf("node %d got a read state for %q it never asked", id, rs.Context)
		}
		if rs.Index < floor {
			t.Fatalf("stale read: node %d's read %q got index %d, but %d was committed before it was asked", id, rs.Context, rs.Index, floor)
		}
	}
}

// logMatching: "if two logs contain an entry with the same index and term,
// then the logs are identical in all entries up through the given index"
// (Figure 3, §5.3).
func (m *safetyModel) logMatching(t testingT, c *cluster) {
	for i, a := range c.ids {
		for _, b := range c.ids[i+1:] {
			ra, rb := c.node(a).log, c.node(b).log
			lo := max(ra.firstIndex(), rb.firstIndex())
			hi := min(ra.lastIndex(), rb.lastIndex())
			// The highest index where both hold the same term...
			top := uint64(0)
			for idx := hi; idx >= lo && idx > 0; idx-- {
				if ra.entry(idx).Term == rb.entry(idx).Term {
					top = idx
					break
				}
			}
			// ...and everything before it must be identical.
			for idx := lo; idx <= top; idx++ {
				ea, eb := ra.entry(idx), rb.entry(idx)
				if ea.Term != eb.Term || ea.Type != eb.Type || string(ea.Data) != string(eb.Data) {
					t.Fatalf("Log Matching: nodes %d and %d agree at %d but differ at %d", a, b, top, idx)
				}
			}
		}
	}
}

// leaderCompleteness: "if a log entry is committed in a given term, then
// that entry will be present in the logs of the leaders for all
// higher-numbered terms" (Figure 3, §5.4). Every entry seen committed by a
// server at term T must be in the log of every leader of a term ≥ T (the
// leader of the committing term itself has it too).
func (m *safetyModel) leaderCompleteness(t testingT, c *cluster) {
	for _, id := range c.ids {
		r := c.node(id)
		if r.state != StateLeader {
			continue
		}
		for idx, ce := range m.committed {
			if r.term < ce.seenTerm || idx < r.log.snapIndex {
				continue // compacted entries are covered by the snapshot
			}
			term, ok := r.log.term(idx)
			if !ok || term != ce.term {
				t.Fatalf("Leader Completeness: leader %d of term %d lacks committed index %d (term %d)", id, r.term, idx, ce.term)
			}
			if ce.known && idx > r.log.snapIndex && string(r.log.entry(idx).Data) != ce.data {
				t.Fatalf("Leader Completeness: leader %d of term %d holds other data at %d", id, r.term, idx)
			}
		}
	}
}

// faults are the rates of one random run, drawn by rapid so that a failing
// run shrinks towards fewer kinds of trouble; the run's individual choices
// come from a generator seeded by rapid as well, so every run replays.
type faults struct {
	drop, duplicate, partition, crash, compact, confChange, transfer int // per mille
	reorder                                                          bool
}

func drawFaults(t *rapid.T) faults {
	// Each rate is one of four levels: rapid's small-value bias would
	// otherwise make most runs nearly fault-free.
	rate := func(label string, levels ...int) int { return levels[rapid.IntRange(0, 3).Draw(t, label)] }
	return faults{
		drop:       rate("drop", 0, 20, 100, 300),
		duplicate:  rate("duplicate", 0, 10, 50, 150),
		partition:  rate("partition", 0, 10, 30, 80),
		crash:      rate("crash", 0, 10, 30, 80),
		compact:    rate("compact", 0, 10, 40, 100),
		confChange: rate("confChange", 0, 5, 15, 40),
		transfer:   rate("transfer", 0, 5, 15, 40),
		reorder:    rapid.Bool().Draw(t, "reorder"),
	}
}

// runRandomCluster plays one random run and checks the model after every
// step; at the end it heals everything and checks that the cluster makes
// progress again.
func runRandomCluster(t *rapid.T) {
	size := rapid.IntRange(3, 5).Draw(t, "size")
	preVote := rapid.Bool().Draw(t, "preVote")
	checkQuorum := rapid.Bool().Draw(t, "checkQuorum")
	smallMsgs := rapid.Bool().Draw(t, "smallMsgs")
	f := drawFaults(t)
	seed := rapid.Uint64().Draw(t, "seed")
	steps := rapid.IntRange(1000, 3000).Draw(t, "steps")
	c := newCluster(t, size, func(cfg *Config) {
		cfg.PreVote, cfg.CheckQuorum = preVote, checkQuorum
		cfg.ElectionTicks, cfg.HeartbeatTicks = 6, 1
		cfg.Rand = newRand(seed ^ uint64(cfg.ID)*0x9e3779b97f4a7c15)
		cfg.MaxInflightMsgs = 4
		if smallMsgs {
			cfg.MaxMsgBytes = 1
		}
	})
	rng := rand.New(rand.NewPCG(seed, 7))
	chance := func(perMille int) bool { return rng.IntN(1000) < perMille }
	pick := func() NodeID { return c.ids[rng.IntN(len(c.ids))] }
	live := func(id NodeID) bool { return !c.nodes[id].down }
	model := newSafetyModel()
	proposals := 0
	// Each server numbers its reads on its own, across restarts, as a host
	// does: contexts collide between servers, never on one.
	readSeq := map[NodeID]int{}
	c.onReady = func(id NodeID, rd Ready) { model.checkReads(t, id, rd.ReadStates) }

	for range steps {
		switch {
		case chance(f.partition):
			c.heal()
			var side []NodeID
			for _, id := range c.ids {
				if rng.IntN(2) == 0 {
					side = append(side, id)
				}
			}
			if len(side) > 0 && len(side) < len(c.ids) && rng.IntN(3) > 0 {
				c.partition(side, c.others(side...))
			}
		case chance(f.crash):
			if id := pick(); live(id) {
				c.crash(id)
			} else {
				c.restart(id) // from exactly what it persisted
			}
		case chance(f.compact):
			if id := pick(); live(id) && c.node(id).log.applied > c.node(id).log.snapIndex {
				c.compact(id)
			}
		case chance(f.confChange):
			if id := pick(); live(id) {
				target := pick()
				cc := ConfChange{Type: RemoveNode, Node: target}
				switch {
				case c.node(id).conf.isLearner(target):
					cc.Type = AddVoter
				case !c.node(id).conf.isVoter(target):
					cc.Type = []ConfChangeType{AddLearner, AddVoter}[rng.IntN(2)]
				}
				_, _, _ = c.node(id).ProposeConfChange(cc)
			}
		case chance(f.transfer):
			if id := pick(); live(id) {
				_ = c.node(id).TransferLeadership(pick())
			}
		}
		switch action := rng.IntN(100); {
		case action < 30: // time passes everywhere
			for _, id := range c.ids {
				if live(id) {
					c.node(id).Tick()
				}
			}
		case action < 35: // one clock runs ahead
			if id := pick(); live(id) {
				c.node(id).Tick()
			}
		case action < 80: // the network delivers a burst
			for range 1 + rng.IntN(16) {
				if len(c.queue) == 0 {
					break
				}
				i := 0
				if f.reorder {
					i = rng.IntN(len(c.queue))
				}
				m := c.queue[i]
				switch {
				case chance(f.drop):
					c.queue = slices.Delete(c.queue, i, i+1)
				case chance(f.duplicate):
					c.deliver(m) // the original stays queued
				default:
					c.queue = slices.Delete(c.queue, i, i+1)
					c.deliver(m)
				}
			}
		case action < 95: // a client writes wherever it finds a leader
			for _, id := range c.ids {
				if live(id) && c.node(id).state == StateLeader {
					if _, _, err := c.node(id).Propose([]byte(fmt.Sprintf("p%d", proposals))); err == nil {
						proposals++
					}
				}
			}
		default: // a client reads anywhere
			if id := pick(); live(id) {
				readSeq[id]++
				ctx := fmt.Sprintf("r%d", readSeq[id])
				model.readFloor[readKey{id, ctx}] = model.maxCommitted
				_ = c.node(id).ReadIndex([]byte(ctx))
			}
		}
		c.process()
		model.check(t, c)
	}
	propStats.add(steps, model, proposals, c)

	// Liveness after the storm: heal, restart everyone, and a leader must
	// commit a new entry on every voter of its configuration.
	c.heal()
	for _, id := range c.ids {
		if c.nodes[id].down {
			c.restart(id)
		}
	}
	c.deliverAll()
	model.check(t, c)
	var index, term uint64
	var lead NodeID
	for range 300 {
		if lead == None || c.node(lead).state != StateLeader || c.node(lead).term != term {
			lead = c.leader()
			if lead != None {
				var err error
				index, term, err = c.node(lead).Propose([]byte("final"))
				if err != nil {
					lead = None
				}
			}
		}
		c.tick(1)
		model.check(t, c)
		if lead != None && c.node(lead).term == term && c.node(lead).log.committed >= index && allApplied(c, lead, index) {
			return
		}
	}
	t.Fatalf("no progress after healing: leader %d, %+v", lead, statuses(c))
}

// propStats counts what the random runs exercised, so a test can insist
// they did something.
var propStats runStats

type runStats struct{ runs, steps, terms, committed, proposals, snapshots int }

func (s *runStats) add(steps int, m *safetyModel, proposals int, c *cluster) {
	s.runs++
	s.steps += steps
	s.terms += len(m.leaders)
	s.committed += len(m.committed)
	s.proposals += proposals
	for _, id := range c.ids {
		if c.node(id).log.snapIndex > 0 {
			s.snapshots++
		}
	}
}

func allApplied(c *cluster, lead NodeID, index uint64) bool {
	for _, id := range c.node(lead).conf.voters {
		if c.nodes[id].lastApp < index {
			return false
		}
	}
	return true
}

func statuses(c *cluster) []Status {
	var out []Status
	for _, id := range c.ids {
		out = append(out, c.node(id).Status())
	}
	return out
}

// TestPropertyRaftSafety checks Election Safety, Log Matching, Leader
// Completeness and State Machine Safety (Figure 3) on random runs.
// Reference: §5.2, §5.3, §5.4 (Figure 3)
func TestPropertyRaftSafety(t *testing.T) {
	propStats = runStats{}
	rapid.Check(t, runRandomCluster)
	t.Logf("%+v", propStats)
	// The runs must have exercised elections, commits and snapshots.
	require.Greater(t, propStats.terms, propStats.runs)
	require.Greater(t, propStats.committed, 10*propStats.runs)
	require.Positive(t, propStats.snapshots)
}

// TestSafetyModelCatchesViolations checks that the model's checks can fail:
// each is fed a state that breaks its property.
func TestSafetyModelCatchesViolations(t *testing.T) {
	t.Run("two leaders in a term", func(t *testing.T) {
		c := newCluster(t, 3, nil)
		c.waitLeader()
		m := newSafetyModel()
		m.check(t, c)
		l := c.leader()
		other := c.others(l)[0]
		c.node(other).state, c.node(other).lead, c.node(other).term = StateLeader, other, c.node(l).term
		rec := &recordingT{}
		m.electionSafety(rec, c)
		require.NotEmpty(t, rec.failures)
	})
	t.Run("logs that agree late but not early", func(t *testing.T) {
		c := newCluster(t, 3, nil)
		c.propose("a")
		c.propose("b")
		c.tick(1)
		c.node(2).log.entries[len(c.node(2).log.entries)-2].Data = []byte("forged")
		rec := &recordingT{}
		newSafetyModel().logMatching(rec, c)
		require.NotEmpty(t, rec.failures)
	})
	t.Run("committed entry missing at a later leader", func(t *testing.T) {
		c := newCluster(t, 3, nil)
		c.propose("a")
		c.tick(1)
		m := newSafetyModel()
		m.check(t, c)
		l := c.leader()
		last := c.node(l).log.lastIndex()
		c.node(l).log.entries[last-c.node(l).log.snapIndex-1].Term = c.node(l).term + 1
		rec := &recordingT{}
		m.leaderCompleteness(rec, c)
		require.NotEmpty(t, rec.failures)
	})
	t.Run("two entries committed at one index", func(t *testing.T) {
		c := newCluster(t, 3, nil)
		c.propose("a")
		c.tick(1)
		m := newSafetyModel()
		m.check(t, c)
		r := c.node(2)
		r.log.entries[r.log.committed-r.log.snapIndex-1].Data = []byte("other")
		rec := &recordingT{}
		m.recordCommitted(rec, c)
		require.NotEmpty(t, rec.failures)
	})
}
