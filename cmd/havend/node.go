package main

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/netproto"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/raft/wal"
	"github.com/havenproject/haven/session"
)

// transport carries peer messages (netproto/peer over HTTPS, or in memory
// between the nodes of one -dev process).
type transport interface {
	// Send never blocks and is done with msgs when it returns.
	Send(msgs []session.PeerMessage)
	SetPeer(id raft.NodeID, address string)
	Close() error
}

type outFn = func([]session.Reply, []session.Delivery, bool)

// node is one Raft group's member on this host: the goroutine that owns a
// session.Core, its WAL, and the channels that feed it. It is the Backend
// of netproto (and websvc).
type node struct {
	id    raft.NodeID
	name  string
	group uint64
	cfg   *Config
	log   *slog.Logger
	m     *metrics

	dir  *dataDir
	wal  *wal.WAL
	core *session.Core
	tr   transport
	// removedAt is raft's RemovedAt as last logged (noteRemoved).
	removedAt uint64

	intake chan session.Request
	peerIn chan []session.PeerMessage
	detach chan session.ConnID
	snaps  chan snapResult
	// sent carries the transport's reports of snapshot sends.
	sent  chan snapSent
	stopC chan struct{}
	doneC chan struct{}

	outsMu   sync.Mutex
	outs     map[session.ConnID]outFn
	nextConn atomic.Uint64

	status atomic.Pointer[hostStatus]

	// Owned by the loop goroutine. gone are the members removed since
	// the address book began, at most maxGone of the latest (members.go).
	members  map[raft.NodeID]memberAddrs
	gone     map[raft.NodeID]memberAddrs
	hs       raft.HardState
	soft     raft.SoftState
	per      map[session.ConnID]*connOut
	statusAt time.Time
	fatal    error
	ledTerm  uint64 // the last term this node led (expiry.go)
}

// hostStatus is the core's status with the addresses the host knows.
type hostStatus struct {
	session.Status
	addrs map[raft.NodeID]memberAddrs
}

// snapResult is a snapshot serialised off the loop.
type snapResult struct {
	job  *session.SnapshotJob
	data []byte
}

// snapSent is how a snapshot's send to a follower ended.
type snapSent struct {
	to raft.NodeID
	ok bool
}

// snapshotSent is the transport's report; a failed send tells the leader
// to probe again at once instead of after an election timeout.
func (n *node) snapshotSent(to raft.NodeID, ok bool) {
	select {
	case n.sent <- snapSent{to, ok}:
	default:
	}
}

type connOut struct {
	replies    []session.Reply
	deliveries []session.Delivery
	close      bool
}

// cryptoRand seeds a fast PRNG from crypto/rand: session ids, tokens and
// election timeouts need unpredictability, not a system call each.
type cryptoRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func newCryptoRand() *cryptoRand {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		panic(err)
	}
	return &cryptoRand{r: rand.NewChaCha8(seed)}
}

func (c *cryptoRand) Uint64() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.r.Uint64()
}

func (c *cryptoRand) Intn(n int) int { return int(c.Uint64() % uint64(n)) }

// openNode opens (or creates) the node's data dir and recovers its core.
func openNode(cfg *Config, logger *slog.Logger, m *metrics) (*node, error) {
	id := mustID(cfg.ID)
	n := &node{
		id: id, name: cfg.ID, group: 1, cfg: cfg, m: m,
		log:     logger.With("node", cfg.ID),
		intake:  make(chan session.Request, cfg.MaxIntake),
		peerIn:  make(chan []session.PeerMessage, 4096),
		detach:  make(chan session.ConnID, 4096),
		snaps:   make(chan snapResult, 4),
		sent:    make(chan snapSent, 64),
		stopC:   make(chan struct{}),
		doneC:   make(chan struct{}),
		outs:    map[session.ConnID]outFn{},
		members: map[raft.NodeID]memberAddrs{},
		gone:    map[raft.NodeID]memberAddrs{},
		per:     map[session.ConnID]*connOut{},
	}
	dir, err := openDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n.dir = dir
	if err := n.recover(); err != nil {
		dir.close()
		return nil, err
	}
	return n, nil
}

func (n *node) recover() error {
	cfg := n.cfg
	fresh, err := n.dir.identity(cfg.ID)
	if err != nil {
		return err
	}
	w, state, err := wal.Open(n.dir.groupDir(n.group), wal.Options{NoSync: cfg.NoFsync, FS: walFS(n.log)})
	if err != nil {
		return fmt.Errorf("opening the WAL: %w", err)
	}
	n.wal = w
	for _, e := range state.SkippedSnapshots {
		n.log.Warn("damaged snapshot passed over", "err", e)
	}
	empty := state.Snapshot == nil && len(state.Entries) == 0 && state.HardState.IsEmpty()
	if !empty && fresh {
		return errors.New("the data dir has a WAL but no identity.json: refusing to guess whose it is")
	}
	voters, err := n.loadAddressBook()
	if err != nil {
		return err
	}
	rcfg := raft.Config{
		ID: n.id, ElectionTicks: cfg.ElectionTicks, HeartbeatTicks: cfg.HeartbeatTicks,
		Rand: newCryptoRand(), PreVote: true, CheckQuorum: true,
	}
	if cfg.ReadLease {
		rcfg.ReadMode = raft.ReadLease
	}
	switch {
	case !empty:
		n.log.Info("restarting from the data dir", "term", state.HardState.Term, "commit", state.HardState.Commit,
			"entries", len(state.Entries), "snapshot", state.Snapshot != nil)
	case cfg.InitialClusterState == "new":
		// Only a node told the cluster is new writes the initial
		// configuration (like etcd's --initial-cluster-state new).
		rcfg.Bootstrap, rcfg.Voters = true, voters
		rcfg.Addresses = map[raft.NodeID]string{}
		for _, id := range voters {
			rcfg.Addresses[id] = n.members[id].Haven
		}
		n.log.Info("bootstrapping a new cluster", "voters", fmt.Sprint(voters))
	default:
		// A node that lost its data dir must not come back under an id
		// that may have voted (Figure 2: votedFor is persistent): ask the
		// members it knows whether this id is one of theirs.
		if by := n.askMembership(membershipWait); by != "" {
			return fmt.Errorf("the data dir is empty but %s lists %s as a voter: a node that lost its data must rejoin under a new id (become learner), and the old id be removed", by, cfg.ID)
		}
		n.log.Info("empty data dir, joining an existing cluster: waiting to be added (become learner)")
	}
	rnd := newCryptoRand()
	core, err := session.New(session.Config{
		Raft: rcfg, Group: n.group, FSM: fsm.Options{MaxItemBytes: cfg.MaxItemBytes}, Rand: rnd,
		MinTTLms: cfg.MinTTLms, MaxTTLms: cfg.MaxTTLms, DefaultTTLms: cfg.DefaultTTLms,
		RequestTimeoutMs: cfg.RequestTimeoutMs, SnapshotEvery: cfg.SnapshotEvery, SnapshotTail: cfg.SnapshotTail,
		MaxPendingWrites: cfg.MaxPendingWrites, MaxPendingReads: cfg.MaxPendingReads,
	}, raft.RestoredState{HardState: state.HardState, Snapshot: state.Snapshot, Entries: state.Entries})
	if err != nil {
		return err
	}
	n.core = core
	n.hs = state.HardState
	// Members added later than the initial ones are in the log's
	// configuration entries: replay those still in the log.
	for i := range state.Entries {
		n.noteConfChange(&state.Entries[i], false)
	}
	n.publishStatus(true)
	return nil
}

// start runs the loop with tr as the peer transport.
func (n *node) start(tr transport) {
	n.setPeers(tr)
	go n.run()
}

// setPeers makes tr the peer transport and gives it the address of every
// member, and of every member removed that the address book still holds
// (such a one may ask for votes, never having heard of its removal, and
// is then told, raft's MsgRemoved).
func (n *node) setPeers(tr transport) {
	n.tr = tr
	for _, book := range []map[raft.NodeID]memberAddrs{n.gone, n.members} {
		for id, a := range book {
			if id != n.id {
				tr.SetPeer(id, a.Peer)
			}
		}
	}
}

// deliver is the transport's callback: it never blocks the transport
// (Raft tolerates the loss of a batch dropped on overflow).
func (n *node) deliver(msgs []session.PeerMessage) {
	select {
	case n.peerIn <- msgs:
	default:
		n.m.peerDropped.Inc()
	}
}

// Backend (netproto, websvc).

func (n *node) Attach(out outFn) session.ConnID {
	id := session.ConnID(n.nextConn.Add(1))
	n.outsMu.Lock()
	n.outs[id] = out
	n.outsMu.Unlock()
	return id
}

func (n *node) Submit(req session.Request) bool {
	select {
	case n.intake <- req:
		return true
	default:
		n.m.intakeFull.Inc()
		return false
	}
}

func (n *node) Detach(id session.ConnID) {
	n.outsMu.Lock()
	delete(n.outs, id)
	n.outsMu.Unlock()
	select {
	case n.detach <- id:
	case <-n.doneC:
	}
}

func (n *node) Status() session.Status { return n.status.Load().Status }

// stop ends the loop and closes the WAL and the data dir.
func (n *node) stop() error {
	select {
	case <-n.stopC:
	default:
		close(n.stopC)
	}
	<-n.doneC
	err := n.wal.Close()
	n.dir.close()
	return err
}

// run is the node's loop: the only goroutine that touches the core.
func (n *node) run() {
	defer close(n.doneC)
	tick := n.cfg.Tick
	start := time.Now()
	elapsed := loopClock(n.log) // time.Since(start), unless a test drives it
	var ticks int64
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case req := <-n.intake:
			n.core.Submit(req)
		case msgs := <-n.peerIn:
			n.step(msgs)
		case id := <-n.detach:
			n.core.ConnClosed(id)
		case sr := <-n.snaps:
			n.core.SnapshotDone(sr.job, sr.data)
		case ss := <-n.sent:
			n.core.Raft().ReportSnapshot(ss.to, ss.ok)
		case <-ticker.C:
		case <-n.stopC:
			return
		}
		n.drain()
		// Ticks follow the monotonic clock: a loop turn that came late
		// (a long fsync, a GC pause, a stopped process) makes up the ticks
		// it missed, so Raft's timeouts measure real time
		// (docs/decisions.md).
		catchUp := func() {
			due := int64(elapsed() / tick)
			if due-ticks > int64(10*n.cfg.ElectionTicks) {
				ticks = due - int64(10*n.cfg.ElectionTicks)
			}
			for ticks < due {
				ticks++
				n.core.Tick(start.Add(time.Duration(ticks) * tick).Sub(start).Milliseconds())
			}
		}
		catchUp()
		for turns := 0; n.core.HasReady() && n.fatal == nil; turns++ {
			n.handleReady()
			// A Ready hands out a bounded share of the committed entries
			// (raft's MaxCommittedBytesPerReady, with what session ends
			// cost to apply): when a tick came due while one ran and more
			// is ready, what arrived meanwhile is taken and the ticks made
			// up before the next, so a leader working through a backlog
			// still sends heartbeats and a follower still hears them. A
			// bounded number of times a turn, so the select's other cases
			// are not starved.
			if turns < 64 && int64(elapsed()/tick) > ticks && n.core.HasReady() {
				n.drain()
				catchUp()
			}
		}
		if n.fatal != nil {
			n.log.Error("storage failed; the node stops", "err", n.fatal)
			os.Exit(2)
		}
		// After every turn, not only a Ready's: a learner's role does not
		// change when it is told it was removed, and the notice alone
		// makes no Ready.
		n.noteRemoved()
		n.publishStatus(false)
	}
}

// drain takes everything else already waiting, so that one Ready (and
// one fsync) covers all of it: group commit across every client.
func (n *node) drain() {
	for i := 0; i < 8192; i++ {
		select {
		case req := <-n.intake:
			n.core.Submit(req)
		case msgs := <-n.peerIn:
			n.step(msgs)
		case id := <-n.detach:
			n.core.ConnClosed(id)
		default:
			return
		}
	}
}

func (n *node) step(msgs []session.PeerMessage) {
	for i := range msgs {
		if msgs[i].To != n.id || msgs[i].Group != n.group {
			continue
		}
		if err := n.core.Step(msgs[i]); err != nil {
			n.log.Debug("peer message refused", "from", msgs[i].From, "err", err)
		}
	}
}

// handleReady carries out one Ready in the order session.Ready states.
func (n *node) handleReady() {
	rd := n.core.Ready()
	if rd.SoftState != n.soft {
		if rd.SoftState.Lead != n.soft.Lead {
			n.m.leaderChanges.Inc()
			n.log.Info("leader", "leader", netproto.FormatNodeID(rd.SoftState.Lead), "role", rd.SoftState.State.String())
		}
		n.soft = rd.SoftState
	}
	// 0. A leader's appends and heartbeats leave before its own fsync,
	// which then runs in parallel with the followers' (thesis §10.2.1).
	early := rd.EarlyMessages
	if early > 0 {
		n.tr.Send(rd.Messages[:early])
	}
	// 2. Persist a snapshot from the leader, then the hard state and
	// entries with one fsync for all of them (group commit).
	if rd.Snapshot != nil {
		if err := n.wal.SaveSnapshot(*rd.Snapshot); err != nil && !errors.Is(err, raft.ErrSnapshotTooOld) {
			n.fatal = err
			return
		}
	}
	if !rd.HardState.IsEmpty() {
		n.hs = rd.HardState
	}
	n.logExpiries(rd.Entries)
	// A change of the commit index alone is not fsynced (MustSync is
	// false): it rides along with the next write, and a node that
	// restarts before relearns it from the leader.
	if rd.MustSync || len(rd.Entries) > 0 {
		t0 := time.Now()
		if err := n.wal.Save(n.hs, rd.Entries); err != nil {
			n.fatal = err
			return
		}
		n.m.fsync.Observe(time.Since(t0).Seconds())
		n.m.batch.Observe(float64(len(rd.Entries)))
		if n.soft.State == raft.StateLeader {
			n.m.proposals.Add(float64(len(rd.Entries)))
		}
	}
	for i := range rd.Entries {
		n.noteConfChange(&rd.Entries[i], false)
	}
	// 3a. Messages: only now, after the fsync (Figure 2).
	if len(rd.Messages) > early {
		n.tr.Send(rd.Messages[early:])
	}
	// 3b. A snapshot of the state machine is serialised off the loop.
	if job := rd.SnapshotJob; job != nil {
		go func() {
			data := job.Serialize()
			select {
			case n.snaps <- snapResult{job, data}:
			case <-n.stopC:
			}
		}()
	}
	for i := range rd.CommittedEntries {
		n.noteConfChange(&rd.CommittedEntries[i], true)
	}
	// 3c. Replies and events, copied out of the core's buffers, per
	// connection; then the connections to close.
	n.answer(&rd)
	// 3d. A compaction of our own: its snapshot file, then the WAL drops
	// the segments it covers.
	if rd.SavedSnapshot != nil {
		if err := n.wal.SaveSnapshot(*rd.SavedSnapshot); err != nil && !errors.Is(err, raft.ErrSnapshotTooOld) {
			n.fatal = err
			return
		}
		n.m.snapshots.Inc()
	}
	// 4.
	n.core.Advance()
}

func (n *node) answer(rd *session.Ready) {
	clear(n.per)
	get := func(id session.ConnID) *connOut {
		o := n.per[id]
		if o == nil {
			o = &connOut{}
			n.per[id] = o
		}
		return o
	}
	var closing []session.ConnID
	for _, r := range rd.Replies {
		if r.Item != nil {
			it := *r.Item
			r.Item = &it
		}
		r.Items = slices.Clone(r.Items)
		o := get(r.Conn)
		o.replies = append(o.replies, r)
		if r.CloseConn {
			o.close = true
			closing = append(closing, r.Conn)
		}
	}
	for _, d := range rd.Deliveries {
		o := get(d.Conn)
		o.deliveries = append(o.deliveries, d)
	}
	for _, id := range rd.Disconnect {
		get(id).close = true
	}
	n.outsMu.Lock()
	for id, o := range n.per {
		if out := n.outs[id]; out != nil {
			out(o.replies, o.deliveries, o.close)
		}
	}
	n.outsMu.Unlock()
	for _, id := range closing {
		n.core.ConnClosed(id)
	}
}
