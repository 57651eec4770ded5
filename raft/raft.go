package raft

import (
	"errors"
	"fmt"
	"slices"
)

// RandomSource is where election timeouts get their randomness (§5.2). The
// host passes it in; the core never draws randomness of its own, so a
// simulator can make every run repeatable from a seed.
type RandomSource interface {
	// Intn returns a number in [0, n).
	Intn(n int) int
}

// ReadMode chooses how linearizable reads confirm leadership (§6.4).
type ReadMode uint8

const (
	// ReadSafe confirms leadership with a round of heartbeats per read
	// batch (ReadIndex, §6.4).
	ReadSafe ReadMode = iota
	// ReadLease trusts the leader's lease and answers at once (§6.4.1). It
	// is only correct while clocks drift little, and only allowed together
	// with CheckQuorum, which makes a leader step down when it loses touch
	// with a quorum.
	ReadLease
)

// Config holds a server's identity and tunables.
type Config struct {
	// ID is this server. It must not be None.
	ID NodeID
	// Bootstrap says the host knows this is a brand new cluster (it has
	// just created the server's storage, "havend init"): with an empty
	// RestoredState, the server writes Voters' configuration into its log.
	// A restored state that is not empty always wins over Bootstrap. Empty
	// storage without Bootstrap but with Voters is refused: that is a
	// server that lost its disk and forgot its vote (Figure 2: currentTerm
	// and votedFor are persistent), which must not write a configuration
	// of its own; it rejoins as a new member.
	Bootstrap bool
	// Voters is the initial configuration of a brand new cluster, and
	// Addresses its members' addresses (opaque to raft, kept in
	// ConfState.Addresses). Both are used only with Bootstrap and empty
	// storage. A server joining an existing cluster starts with none and
	// learns the configuration from the leader.
	Voters    []NodeID
	Addresses map[NodeID]string

	// ElectionTicks is the base election timeout in ticks; each term a
	// follower waits a random number in [ElectionTicks, 2*ElectionTicks)
	// (§5.2). HeartbeatTicks is the leader's heartbeat interval; it must
	// be well below ElectionTicks (§5.6: broadcastTime ≪ electionTimeout).
	ElectionTicks  int
	HeartbeatTicks int
	Rand           RandomSource

	// PreVote runs a pre-election before disrupting a term (thesis §9.6).
	PreVote bool
	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum for an election timeout, and lets followers ignore vote
	// requests while they hear from a leader (thesis §6.2, §4.2.3).
	CheckQuorum bool
	ReadMode    ReadMode
	// LeaseMarginTicks is subtracted from the election timeout to bound
	// the leader lease, allowing for clocks that tick at different rates
	// (§6.4.1: the lease holds for the election timeout "minus some bound
	// on clock drift"). The lease ends ElectionTicks−LeaseMarginTicks of the
	// leader's ticks after the tick at which the heartbeat round was sent.
	// A voter that answered withholds its vote for ElectionTicks of its own
	// ticks from receipt, but its first tick may come at once after the
	// heartbeat, so it withholds for at least ElectionTicks−1 of its tick
	// periods. The lease is therefore safe while no voter's clock runs
	// faster than the leader's by more than the factor
	// (ElectionTicks−1)/(ElectionTicks−LeaseMarginTicks): with 10 election
	// ticks and the default margin of 2, 9/8 — 12.5% drift; a margin of 1
	// tolerates none. It must be at least 1 and below ElectionTicks.
	// Default (0): max(1, ElectionTicks/4).
	LeaseMarginTicks int

	// MaxMsgBytes caps the entries of one AppendEntries (batching).
	MaxMsgBytes uint64
	// MaxInflightMsgs and MaxInflightBytes bound pipelining per follower.
	MaxInflightMsgs  int
	MaxInflightBytes uint64
	// MaxUncommittedEntries bounds the entries a leader holds that are not
	// committed yet: beyond it Propose fails with ErrTooManyUncommitted
	// (which wraps ErrProposalDropped), so a leader whose followers cannot
	// keep up pushes back instead of growing its log without bound.
	// Default 10000.
	MaxUncommittedEntries int
	// MaxCommittedBytesPerReady bounds the committed entries one Ready
	// hands out to apply (always at least one entry), so a long replay
	// after a restart is applied in steps between which the host can tick
	// and serve. Default 16 MiB.
	MaxCommittedBytesPerReady uint64
	// ApplyCost, if set, is what an entry counts for against
	// MaxCommittedBytesPerReady beyond its size, so that a state machine
	// whose entries can cost far more to apply than their bytes (one small
	// entry that removes thousands of items) bounds the work a Ready hands
	// out, not only its bytes. Raft calls it from Ready, on the committed
	// entries it is about to hand out; it must not call into raft.
	ApplyCost func(e *Entry) uint64
}

func (c *Config) validate() error {
	switch {
	case c.ID == None:
		return errors.New("raft: config has no ID")
	case c.HeartbeatTicks <= 0:
		return errors.New("raft: HeartbeatTicks must be positive")
	case c.ElectionTicks <= c.HeartbeatTicks:
		return errors.New("raft: ElectionTicks must exceed HeartbeatTicks")
	case c.Rand == nil:
		return errors.New("raft: config has no random source")
	case c.ReadMode == ReadLease && !c.CheckQuorum:
		return errors.New("raft: lease reads need CheckQuorum")
	}
	if c.LeaseMarginTicks == 0 {
		c.LeaseMarginTicks = max(1, c.ElectionTicks/4)
	}
	if c.LeaseMarginTicks < 1 || c.LeaseMarginTicks >= c.ElectionTicks {
		return fmt.Errorf("raft: LeaseMarginTicks %d must be in [1, ElectionTicks=%d)", c.LeaseMarginTicks, c.ElectionTicks)
	}
	if c.MaxMsgBytes == 0 {
		c.MaxMsgBytes = 1 << 20
	}
	if c.MaxInflightMsgs <= 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxUncommittedEntries <= 0 {
		c.MaxUncommittedEntries = 10000
	}
	if c.MaxCommittedBytesPerReady == 0 {
		c.MaxCommittedBytesPerReady = 16 << 20
	}
	return nil
}

// RestoredState is what the host read back from durable storage.
type RestoredState struct {
	HardState HardState
	Snapshot  *Snapshot
	Entries   []Entry
}

// Raft is one server's consensus state machine. It is driven by its host
// through Tick, Step and the request methods, and hands its effects out
// through Ready. It is not safe for concurrent use: one goroutine (or one
// simulator) owns it.
type Raft struct {
	id  NodeID
	cfg Config

	// Persistent state on all servers (Figure 2), updated on stable storage
	// before responding to RPCs: currentTerm, votedFor, and log[].
	term uint64
	vote NodeID
	log  *raftLog

	// Volatile state on all servers.
	state StateType
	lead  NodeID
	// conf tracks the configuration: the latest one in the log is in force,
	// committed or not (§4.1).
	conf configuration
	// removedAt is the highest commit index at which a member said this
	// server is no member (MsgRemoved); it holds while the configuration
	// in force is no later than that (toldRemoved).
	removedAt uint64

	// Volatile state on leaders (Figure 2): nextIndex[] and matchIndex[].
	progress progressTable
	// peers are the ids in progress other than this server, sorted.
	peers []NodeID
	// leaseRevoked is set once this leader sent TimeoutNow: its lease
	// no longer holds for the rest of its term (§6.4.1, §3.10).
	leaseRevoked bool
	// leadTransferee is the target of a leadership transfer in progress
	// (§3.10); proposals are refused while it is set.
	leadTransferee NodeID
	// pendingConfIndex is the index of the newest configuration entry the
	// leader appended; another change waits until it commits (§4.1).
	pendingConfIndex uint64
	// reads holds ReadIndex requests waiting for leadership confirmation or
	// for the first commit of the leader's term (§6.4).
	reads readQueue
	// readRound numbers the heartbeat rounds this server sent as leader
	// (§6.4); it only grows, across terms too.
	readRound uint64

	// Volatile state on candidates: votes received this election.
	votes map[NodeID]bool

	// Timers, in ticks (§5.2). ticks counts every tick since New: it
	// dates heartbeat rounds for the leader lease (§6.4.1) and keeps a
	// freshly (re)started server from voting within its first election
	// timeout (§4.2.3), since it cannot know whether it recently heard
	// from a leader.
	ticks uint64
	// withholdVotesUntil is the tick before which this server grants no
	// vote to a candidate that does not come from a transfer: an election
	// timeout after it last heard from a leader (§4.2.3), or after it
	// started with lease reads on (it may have answered a heartbeat just
	// before a crash). It is the promise the leader lease counts on
	// (§6.4.1), so it is kept apart from the leader id and the term, which
	// any higher-term message resets (LogCabin's withholdVotesUntil).
	withholdVotesUntil        uint64
	electionElapsed           int
	heartbeatElapsed          int
	randomizedElectionTimeout int

	// Effects waiting for the host (see Ready).
	msgs []Message
	// msgsHanded is the message buffer the last Ready handed out; Advance
	// recycles it as msgsSpare, so steady state sends allocate nothing.
	msgsHanded []Message
	msgsSpare  []Message
	msgsSpare2 []Message
	// msgsLate is scratch space for ordering a Ready's messages (early ones
	// first, see Ready.EarlyMessages).
	msgsLate    []Message
	readStates  []ReadState
	snapshot    *Snapshot // newest snapshot, kept to send to followers
	snapshotNew bool      // snapshot received from the leader, to install
	prevHard    HardState
	prevSoft    SoftState
	// handed is set from Ready to Advance; mark remembers what that Ready
	// handed out.
	handed bool
	mark   readyMark
}

// New makes a server from its configuration and the state its host
// recovered. An empty RestoredState starts a new server.
func New(cfg Config, restored RestoredState) (*Raft, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var meta *SnapshotMeta
	if restored.Snapshot != nil {
		meta = &restored.Snapshot.Meta
	}
	if err := checkRestoredEntries(meta, restored); err != nil {
		return nil, err
	}
	r := &Raft{
		id:   cfg.ID,
		cfg:  cfg,
		term: restored.HardState.Term,
		vote: restored.HardState.Vote,
		log:  newRaftLog(meta, restored.Entries),
	}
	r.log.applyCost = cfg.ApplyCost
	if restored.Snapshot != nil {
		snap := *restored.Snapshot
		r.snapshot = &snap
		r.conf = newConfiguration(snap.Meta.Conf, snap.Meta.Index)
	} else if len(restored.Entries) == 0 && restored.HardState.IsEmpty() && len(cfg.Voters) > 0 {
		if !cfg.Bootstrap {
			return nil, errors.New("raft: storage is empty but the host did not say the cluster is new (Config.Bootstrap): a server that lost its storage must rejoin as a new member")
		}
		r.bootstrap(cfg.Voters, cfg.Addresses)
	}
	// §4.1: the latest configuration in the log is in force, committed or not.
	for i := range r.log.entries {
		r.conf.observe(&r.log.entries[i])
	}
	if c := restored.HardState.Commit; c > r.log.committed {
		if c > r.log.lastIndex() {
			return nil, fmt.Errorf("raft: restored commit %d beyond last index %d", c, r.log.lastIndex())
		}
		r.log.committed = c
	}
	r.prevHard = restored.HardState
	if cfg.ReadMode == ReadLease {
		// The startup guard: act as if a leader was heard just now (§6.4.1).
		r.withholdVotesUntil = uint64(cfg.ElectionTicks)
	}
	r.becomeFollower(r.term, None)
	r.prevSoft = r.softState()
	return r, nil
}

// checkRestoredEntries refuses entries read back from storage that cannot be
// a log: storage is input from outside, and New must answer it with an
// error, not trip the log's invariants. The entries follow the snapshot (or
// start at 1) one index at a time, their terms never go back, never go
// below the snapshot's and never exceed the stored current term.
func checkRestoredEntries(meta *SnapshotMeta, restored RestoredState) error {
	prevIndex, prevTerm := uint64(0), uint64(0)
	if meta != nil {
		prevIndex, prevTerm = meta.Index, meta.Term
	}
	for i := range restored.Entries {
		e := &restored.Entries[i]
		switch {
		case e.Index != prevIndex+1:
			return fmt.Errorf("raft: restored entry %d follows index %d", e.Index, prevIndex)
		case e.Term < prevTerm:
			return fmt.Errorf("raft: restored entry %d has term %d below the previous term %d", e.Index, e.Term, prevTerm)
		case e.Term > restored.HardState.Term:
			return fmt.Errorf("raft: restored entry %d has term %d beyond the stored term %d", e.Index, e.Term, restored.HardState.Term)
		}
		prevIndex, prevTerm = e.Index, e.Term
	}
	return nil
}

// bootstrap writes the initial configuration into the log as one
// configuration entry per voter, at term 1, already committed. Every server
// of a new cluster writes the same entries, so their logs agree; and a
// server that joins later learns the whole membership history from the log
// like any other entry, instead of from a side channel.
func (r *Raft) bootstrap(voters []NodeID, addresses map[NodeID]string) {
	voters = slices.Clone(voters)
	slices.Sort(voters)
	voters = slices.Compact(voters)
	r.term = 1
	for i, id := range voters {
		cc := ConfChange{Type: AddVoter, Node: id}
		if a := addresses[id]; a != "" {
			cc.Context = []byte(a)
		}
		e := Entry{Term: 1, Index: uint64(i + 1), Type: EntryConfChange, Data: cc.Marshal()}
		r.log.entries = append(r.log.entries, e)
	}
	r.log.persisted = 0
	r.log.committed = uint64(len(voters))
}

// ID returns this server's id.
func (r *Raft) ID() NodeID { return r.id }

func (r *Raft) hardState() HardState {
	return HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

func (r *Raft) quorum() int { return len(r.conf.voters)/2 + 1 }

// send queues a message; the host sends it after persisting the Ready that
// carries it (§5.1: state is durable before any RPC that depends on it).
func (r *Raft) send(m Message) {
	m.From = r.id
	// A notice of a committed fact, and a question about one: no term.
	if m.Term == 0 && m.Type != MsgRemoved && m.Type != MsgMemberQuery {
		m.Term = r.term
	}
	if r.msgs == nil {
		if r.msgsSpare != nil {
			r.msgs, r.msgsSpare = r.msgsSpare, nil
		} else {
			r.msgs, r.msgsSpare2 = r.msgsSpare2, nil
		}
	}
	r.msgs = append(r.msgs, m)
}

// Tick advances the logical clock by one tick.
func (r *Raft) Tick() {
	r.ticks++
	if r.state == StateLeader {
		r.tickHeartbeat()
	} else {
		r.tickElection()
	}
}

// Step hands the server a message from a peer. Messages with an unknown
// sender, type or term are ignored or answered by the rules below, never
// trusted blindly.
func (r *Raft) Step(m Message) error {
	if m.To != r.id {
		return fmt.Errorf("raft: message for %d delivered to %d", m.To, r.id)
	}
	if m.From == None || m.From == r.id {
		return fmt.Errorf("raft: message from invalid sender %d", m.From)
	}
	if err := checkMessage(&m); err != nil {
		return err
	}
	// Requests forwarded from followers carry no term: they are not RPCs of
	// Figure 2 and must neither raise nor be refused by term.
	if m.Type == MsgReadIndex || m.Type == MsgTransferLeader {
		r.stepForwarded(m)
		return nil
	}
	if m.Type == MsgRemoved {
		r.noteRemoved(m)
		return nil
	}
	if m.Type == MsgMemberQuery {
		// A learner's question: answered only if it is no member, and
		// whatever term it carries, it changes nothing here.
		r.TellIfRemoved(m.From)
		return nil
	}
	if m.Type == MsgVote || m.Type == MsgPreVote {
		// Before the term rules, which ignore the request inside a
		// leader's lease: that is when a removed server asks.
		r.TellIfRemoved(m.From)
	}
	if stepped := r.stepTerm(m); !stepped {
		return nil
	}
	switch m.Type {
	case MsgVote, MsgPreVote:
		r.handleVoteRequest(m)
		return nil
	}
	switch r.state {
	case StateLeader:
		r.stepLeader(m)
	case StateCandidate, StatePreCandidate:
		r.stepCandidate(m)
	default:
		r.stepFollower(m)
	}
	return nil
}

// checkMessage refuses a message whose shape no correct server sends, so
// that a confused or corrupted peer is answered with an error instead of
// tripping an invariant's panic: entries must follow Index one by one, with
// terms that never go back and never exceed the message's term, and an
// InstallSnapshot must carry a snapshot.
func checkMessage(m *Message) error {
	switch m.Type {
	case MsgApp, MsgAppResp, MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp,
		MsgHeartbeat, MsgHeartbeatResp, MsgSnap, MsgTimeoutNow,
		MsgReadIndex, MsgReadIndexResp, MsgTransferLeader, MsgRemoved, MsgMemberQuery:
	default:
		return fmt.Errorf("raft: unknown message type %d", m.Type)
	}
	if m.Type == MsgSnap && m.Snapshot == nil {
		return fmt.Errorf("raft: %s without a snapshot", m.Type)
	}
	if len(m.Entries) > 0 && m.Type != MsgApp {
		return fmt.Errorf("raft: %s with entries", m.Type)
	}
	prevTerm := m.LogTerm
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Index != m.Index+1+uint64(i) || e.Term < prevTerm || e.Term > m.Term {
			return fmt.Errorf("raft: %s entry %d (term %d) does not follow index %d term %d in term %d",
				m.Type, e.Index, e.Term, m.Index, m.LogTerm, m.Term)
		}
		prevTerm = e.Term
	}
	return nil
}

// stepTerm applies Figure 2's "Rules for Servers" about terms before a
// message is dispatched, and reports whether the message should be handled.
func (r *Raft) stepTerm(m Message) bool {
	if (m.Type == MsgVote || m.Type == MsgPreVote) && m.Term >= r.term && r.withholdingVotes(m) {
		// §4.2.3: a server that heard from a leader within the minimum
		// election timeout ignores vote requests, so that a removed or
		// partitioned server cannot depose a working leader — whatever
		// happened to its term and leader id since (§6.4.1: the lease
		// counts on it).
		return false
	}
	switch {
	case m.Term > r.term:
		switch {
		case m.Type == MsgPreVote:
			// §9.6: a pre-vote does not change anyone's term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// A granted pre-vote echoes the term we will campaign in; we
			// move to it only when we actually become a candidate.
		case m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap:
			// "If RPC request or response contains term T > currentTerm:
			// set currentTerm = T, convert to follower" (§5.1); this one
			// comes from the leader of T.
			r.becomeFollower(m.Term, m.From)
		default:
			// Figure 2, Followers: the election timer restarts on
			// AppendEntries from the current leader or on a granted vote
			// (handleVoteRequest), not on a new term alone. A server that
			// refuses a candidate whose log is behind its own keeps
			// counting, so it can campaign in time to win. A leader that
			// steps down starts afresh.
			elapsed, timeout, wasLeader := r.electionElapsed, r.randomizedElectionTimeout, r.state == StateLeader
			r.becomeFollower(m.Term, None)
			if !wasLeader {
				r.electionElapsed, r.randomizedElectionTimeout = elapsed, timeout
			}
		}
		return true
	case m.Term < r.term:
		switch {
		case m.Type == MsgApp || m.Type == MsgHeartbeat:
			// Figure 2, AppendEntries rule 1: "Reply false if term <
			// currentTerm"; the reply carries our term "for leader to
			// update itself". A stale leader (one cut off and now back)
			// may otherwise never learn of the newer term: CheckQuorum and
			// PreVote stop the elections that would raise it, and during a
			// membership change the servers at the newer term may not even
			// count it as a voter, so their vote requests never reach it.
			r.send(Message{To: m.From, Type: MsgAppResp})
		case m.Type == MsgPreVote:
			// §9.6 with a lagging node: reject with our term, so a node
			// stuck at a higher term (which PreVote keeps from rising
			// further) learns the cluster's term instead of deadlocking.
			r.send(Message{To: m.From, Type: MsgPreVoteResp, Reject: true})
		case m.Type == MsgVote:
			// Figure 2, RequestVote rule 1: "Reply false if term <
			// currentTerm", with our term "for candidate to update
			// itself". During a membership change our own vote requests
			// may never reach this candidate (it is not in our
			// configuration), so this answer is how it learns our term.
			r.send(Message{To: m.From, Type: MsgVoteResp, Reject: true})
		}
		// "If a server receives a request with a stale term number, it
		// rejects the request" (§5.1); stale responses are just dropped.
		return false
	}
	return true
}

// withholdingVotes reports whether the vote request m is to be ignored: with
// CheckQuorum, a leader and a server within an election timeout of hearing
// from one (withholdVotesUntil) do not vote, unless the request comes from
// a leadership transfer (§3.10).
func (r *Raft) withholdingVotes(m Message) bool {
	if !r.cfg.CheckQuorum || string(m.Context) == campaignTransfer {
		return false
	}
	return r.state == StateLeader || r.ticks < r.withholdVotesUntil
}

// heardFromLeader renews the promise not to vote for an election timeout
// (§4.2.3, §6.4.1).
func (r *Raft) heardFromLeader(m Message) {
	r.electionElapsed = 0
	r.lead = m.From
	r.withholdVotesUntil = max(r.withholdVotesUntil, r.ticks+uint64(r.cfg.ElectionTicks))
}

// SoftState is volatile state the host may want to show or react to.
type SoftState struct {
	Lead  NodeID
	State StateType
}

func (r *Raft) softState() SoftState { return SoftState{Lead: r.lead, State: r.state} }

func (r *Raft) reset(term uint64) {
	if r.term != term {
		r.term = term
		r.vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.leadTransferee = None
	r.leaseRevoked = false
	r.votes = map[NodeID]bool{}
	r.pendingConfIndex = 0
	r.reads.reset()
	clear(r.progress)
	r.progress = r.progress[:0]
	r.peers = r.peers[:0]
}

func (r *Raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.cfg.ElectionTicks + r.cfg.Rand.Intn(r.cfg.ElectionTicks)
}

func (r *Raft) becomeFollower(term uint64, lead NodeID) {
	r.reset(term)
	r.state = StateFollower
	r.lead = lead
}

// becomePreCandidate starts a pre-election (thesis §9.6). It keeps the term
// and vote, but forgets the leader: it has given up on it, and remembering
// it would make it refuse other pre-candidates' requests by the lease rule.
func (r *Raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic("raft: leader cannot become pre-candidate")
	}
	r.state = StatePreCandidate
	r.lead = None
	r.votes = map[NodeID]bool{}
	r.electionElapsed = 0
	r.resetRandomizedElectionTimeout()
}

// becomeCandidate starts an election: "increment currentTerm, vote for
// self" (§5.2).
func (r *Raft) becomeCandidate() {
	if r.state == StateLeader {
		panic("raft: leader cannot become candidate")
	}
	r.reset(r.term + 1)
	r.setVote(r.id)
	r.state = StateCandidate
}

func (r *Raft) becomeLeader() {
	if r.state != StateCandidate {
		panic(fmt.Sprintf("raft: %s cannot become leader", r.state))
	}
	r.reset(r.term)
	r.state = StateLeader
	r.lead = r.id
	// §5.3: "When a leader first comes to power, it initializes all
	// nextIndex values to the index just after the last one in its log."
	for _, id := range r.conf.members() {
		r.progress.set(r.newProgress(id))
	}
	r.refreshPeers()
	if self := r.progress.get(r.id); self != nil { // nil if elected while being removed (promotable)
		self.match = r.log.persisted
	}
	// A configuration change already in our log and not yet committed must
	// commit before another one starts.
	r.pendingConfIndex = r.conf.lastIndex
	// §8: a leader appends a no-op of its own term at the start of its term,
	// so that it learns which entries are committed (§5.4.2) and can serve
	// reads (§6.4).
	r.appendEntries(Entry{Type: EntryNormal})
}

func (r *Raft) newProgress(id NodeID) *progress {
	return &progress{
		id:        id,
		next:      r.log.lastIndex() + 1,
		inflights: newInflights(r.cfg.MaxInflightMsgs, r.cfg.MaxInflightBytes),
		learner:   r.conf.isLearner(id),
		// Treat every peer as active at the start of a term, so CheckQuorum
		// gives them a full timeout to answer.
		recentActive: true,
	}
}

// setVote records votedFor. Figure 2: a server votes for at most one
// candidate in a term.
func (r *Raft) setVote(id NodeID) {
	if r.vote != None && r.vote != id {
		panic(fmt.Sprintf("raft: %d votes for %d in term %d after voting for %d", r.id, id, r.term, r.vote))
	}
	r.vote = id
}

// promotable says whether this server may become leader: it must be a voter
// in its own latest configuration (§4.2.2) — or in the committed one, while
// the latest (which removes it) is not committed yet. §4.2.2: "Before this
// point [Cnew committed], it may be the case that only a server from Cold
// can be elected leader": if it held the only copy of its own removal, its
// log would be the most up-to-date and no other server could win. It then
// campaigns in Cnew (its own vote does not count), commits the change, and
// steps down (onCommit).
func (r *Raft) promotable() bool {
	if r.toldRemoved() {
		return false
	}
	if r.conf.isVoter(r.id) {
		return true
	}
	return r.conf.lastIndex > r.log.committed && slices.Contains(r.conf.stateAt(r.log.committed).Voters, r.id)
}
