package session

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// Submit hands the core one client request. The answer comes out in a
// later Ready (possibly the next one, possibly after a commit round).
func (c *Core) Submit(req Request) {
	cn := c.conns[req.Conn]
	if cn == nil {
		cn = &conn{watches: map[string]*watch{}}
		c.conns[req.Conn] = cn
	}
	if cn.connecting && req.Op != OpHeard && req.Op != OpRead {
		cn.held = append(cn.held, req)
		return
	}
	if req.Op == OpConnect {
		c.connect(&req, cn)
		return
	}
	if req.Op == OpHeard {
		if _, alive := c.fsm.Session(cn.session); cn.session != "" && alive {
			c.liveness.heard(c, cn.session)
		}
		return
	}
	if req.Op == OpRead && cn.session == "" && (cn.connecting || !cn.askedConnect) {
		// Plain HTTP reads need no session, and a read pipelined behind
		// a connect does not wait for it: the connect's `seen` already
		// holds back a stale one.
		c.read(&req)
		return
	}
	if cn.session == "" {
		c.fail(&req, fsm.InvalidParameter, "the first request must be connect")
		return
	}
	if _, alive := c.fsm.Session(cn.session); !alive {
		c.fail(&req, fsm.SessionExpired, "session %s has ended", cn.session)
		return
	}
	// PROTOCOL.md: "Any message from the client keeps its session alive."
	c.liveness.heard(c, cn.session)

	switch req.Op {
	case OpRead:
		c.read(&req)
	case OpCreate:
		if err := c.checkWrite(&req, true); err != nil {
			c.fail(&req, fsm.CodeOf(err), "%s", err.Error())
			return
		}
		c.writes.submit(c, &pending{req: req, cmd: fsm.Encode(fsm.Push{
			Session: cn.session, Path: req.Path, Data: req.Data, IfVersion: req.IfVersion,
		})})
	case OpUpdate:
		if err := c.checkWrite(&req, true); err != nil {
			c.fail(&req, fsm.CodeOf(err), "%s", err.Error())
			return
		}
		c.writes.submit(c, &pending{req: req, cmd: fsm.Encode(fsm.Update{
			Session: cn.session, Path: req.Path, Item: req.Item, Data: req.Data, IfVersion: req.IfVersion,
		})})
	case OpDelete:
		if err := c.checkWrite(&req, false); err != nil {
			c.fail(&req, fsm.CodeOf(err), "%s", err.Error())
			return
		}
		c.writes.submit(c, &pending{req: req, cmd: fsm.Encode(fsm.Delete{
			Session: cn.session, Path: req.Path, Item: req.Item, IfVersion: req.IfVersion,
		})})
	case OpWatch:
		if err := fsm.ValidatePath(req.Path); err != nil {
			c.fail(&req, fsm.InvalidParameter, "%s", err.Error())
			return
		}
		c.watch(&req, cn)
	case OpUnwatch:
		if err := fsm.ValidatePath(req.Path); err != nil {
			c.fail(&req, fsm.InvalidParameter, "%s", err.Error())
			return
		}
		if _, ok := cn.watches[req.Path]; ok {
			delete(cn.watches, req.Path)
			c.removeWatcher(req.Path, req.Conn)
		}
		// A watch of this path still waiting for its since ends here too:
		// started later, it would outlive the unwatch sent after it.
		c.reads.cancelWaitingWatches(c, req.Conn, req.Path)
		c.reply(Reply{Conn: req.Conn, ID: req.ID, Op: req.Op})
	case OpPing:
		c.liveness.ping(c, &req)
	case OpClose:
		c.writes.submit(c, &pending{req: req, cmd: fsm.Encode(fsm.CloseSession{ID: cn.session})})
	case OpBecome:
		c.become(&req)
	default:
		c.fail(&req, fsm.Unsupported, "unknown operation %d", req.Op)
	}
}

// checkWrite validates a write before it is proposed, so bad input never
// reaches the log (the state machine checks again when it applies).
func (c *Core) checkWrite(req *Request, withData bool) error {
	if err := fsm.ValidatePath(req.Path); err != nil {
		return err
	}
	if withData {
		return fsm.ValidateData(req.Data, c.fsm.MaxItemBytes())
	}
	return nil
}

// HashToken is how a session's secret token is stored: only its SHA-256.
func HashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

func (c *Core) clampTTL(ttl uint64) uint64 {
	switch {
	case ttl == 0:
		ttl = c.cfg.DefaultTTLms
	case ttl < c.cfg.MinTTLms:
		ttl = c.cfg.MinTTLms
	case ttl > c.cfg.MaxTTLms:
		ttl = c.cfg.MaxTTLms
	}
	return max(c.cfg.MinTTLms, min(ttl, c.cfg.MaxTTLms))
}

// connect opens a new session through the log, or resumes one. A resume
// first confirms, by a linearizable read, that this node knows every
// session the cluster has opened — the session may have been opened on
// another node a moment ago.
func (c *Core) connect(req *Request, cn *conn) {
	// Recorded before anything else: a stale read pipelined behind this
	// connect must already wait for it (PROTOCOL.md, "Reads").
	cn.seen = max(cn.seen, req.Seen)
	if cn.session != "" {
		c.fail(req, fsm.InvalidParameter, "this connection already has session %s", cn.session)
		return
	}
	// Set before the connect goes on its way: its answer, which may come
	// at once, clears it.
	cn.connecting, cn.askedConnect = true, true
	if req.Token != "" {
		c.reads.enqueue(c, &pendingRead{req: *req, resume: true})
		return
	}
	id := c.randomHex(8)
	token := c.randomHex(16) // 128 random bits (PROTOCOL.md)
	ttl := c.clampTTL(req.TTLms)
	c.writes.submit(c, &pending{
		req: *req,
		cmd: fsm.Encode(fsm.OpenSession{ID: id, TokenHash: HashToken(token), TTLms: ttl}),
		open: &openInfo{
			id: id, token: token, ttl: ttl,
		},
	})
}

// releaseHeld runs the requests that waited behind a connect now
// answered (all but reads wait: Submit): as the session's if it
// succeeded; if it failed, a connect among them runs, and the others are
// refused as requests before a connect are.
func (c *Core) releaseHeld() {
	// By index: a connect released here may release more.
	for i := 0; i < len(c.released); i++ {
		cn := c.conns[c.released[i]]
		if cn == nil || cn.connecting {
			continue
		}
		held := cn.held
		cn.held = nil
		for j := range held {
			if cn.connecting {
				// A held connect is under way: the rest waits for it.
				cn.held = append(cn.held, held[j:]...)
				break
			}
			c.Submit(held[j])
		}
	}
	c.released = c.released[:0]
}

// finishResume answers a resume once the read barrier has passed.
func (c *Core) finishResume(req *Request) {
	cn := c.conns[req.Conn]
	if cn == nil {
		return
	}
	info, ok := c.fsm.SessionByTokenHash(HashToken(req.Token))
	if !ok {
		c.fail(req, fsm.SessionExpired, "no live session has this token")
		return
	}
	if cn.session != "" {
		c.fail(req, fsm.InvalidParameter, "this connection already has session %s", cn.session)
		return
	}
	cn.session = info.ID
	c.liveness.heard(c, info.ID)
	c.reply(Reply{
		Conn: req.Conn, ID: req.ID, Op: OpConnect,
		Session: info.ID, Token: req.Token, TTLms: info.TTLms, Resumed: true,
	})
}

func (c *Core) randomHex(n int) string {
	buf := make([]byte, 0, n)
	for len(buf) < n {
		v := c.cfg.Rand.Uint64()
		for i := 0; i < 8 && len(buf) < n; i++ {
			buf = append(buf, byte(v>>(8*i)))
		}
	}
	return hex.EncodeToString(buf)
}

// become changes membership or moves leadership (PROTOCOL.md, "become").
func (c *Core) become(req *Request) {
	if req.Node == raft.None {
		c.fail(req, fsm.InvalidParameter, "become needs a node")
		return
	}
	switch req.Become {
	case BecomeLearner, BecomeVoter, BecomeRemoved, BecomeLeader:
	default:
		c.fail(req, fsm.InvalidParameter, "unknown become type %q", req.Become)
		return
	}
	if req.Become == BecomeLearner && req.Address == "" {
		c.fail(req, fsm.InvalidParameter, "a learner needs an address")
		return
	}
	c.writes.submit(c, &pending{req: *req})
}

// promoteLag is how many entries behind the leader's commit index a
// learner may be and still count as caught up: under load it acknowledges
// about when the voters do, a batch or two behind.
const promoteLag = 1024

// errNotCaughtUp refuses to promote a learner that has not caught up.
var errNotCaughtUp = errors.New("not caught up")

// promotable says whether node may become a voter (PROTOCOL.md: "voter
// (promote it, once it has caught up)"): it must be a learner, and the
// leader must be streaming entries to it (not probing it, nor waiting for
// a snapshot to land) with its log within promoteLag of the commit index.
// A voter that cannot keep up, or one that never existed, would count
// towards every quorum without answering; raft itself promotes anyone, as
// the paper's AddServer does after its catch-up rounds (§4.2.1), and this
// is that check. On the leader only (Peers is the leader's view).
func (c *Core) promotable(node raft.NodeID) error {
	st := c.raft.Status()
	if !slices.Contains(st.Conf.Learners, node) {
		if slices.Contains(st.Conf.Voters, node) {
			return fmt.Errorf("%w: %d is already a voter", raft.ErrBadConfChange, node)
		}
		return fmt.Errorf("%w: %d is not a learner: add it with become learner first", raft.ErrBadConfChange, node)
	}
	i := slices.IndexFunc(st.Peers, func(p raft.PeerStatus) bool { return p.ID == node })
	if i < 0 {
		return fmt.Errorf("%w: the leader has no progress for learner %d yet", errNotCaughtUp, node)
	}
	if p := st.Peers[i]; !p.Replicating() || p.Match+promoteLag < st.Commit {
		return fmt.Errorf("%w: learner %d has %d of the %d committed entries (%s); try again once it has caught up",
			errNotCaughtUp, node, p.Match, st.Commit, p.State)
	}
	return nil
}

// proposeBecome runs a membership request on the leader.
func (c *Core) proposeBecome(kind BecomeKind, node raft.NodeID, address string) (index, term uint64, err error) {
	switch kind {
	case BecomeLeader:
		return 0, 0, c.raft.TransferLeadership(node)
	case BecomeLearner:
		return c.raft.ProposeConfChange(raft.ConfChange{Type: raft.AddLearner, Node: node, Context: []byte(address)})
	case BecomeVoter:
		if err := c.promotable(node); err != nil {
			return 0, 0, err
		}
		return c.raft.ProposeConfChange(raft.ConfChange{Type: raft.AddVoter, Node: node})
	case BecomeRemoved:
		return c.raft.ProposeConfChange(raft.ConfChange{Type: raft.RemoveNode, Node: node})
	}
	return 0, 0, fmt.Errorf("unknown become type %q", kind)
}
