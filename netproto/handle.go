package netproto

import (
	"fmt"
	"slices"
	"time"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// handle turns one request into a session.Request for the node, or
// answers it here. false: the connection is done.
func (c *conn) handle(req *request, start time.Time) bool {
	action := req.action
	if req.bad != nil {
		return c.answerLocal(req.rid, action, fsm.InvalidParameter, req.bad.Error(), start)
	}
	sr := session.Request{Conn: c.id}
	p := &pendingReq{rid: cloneBytes(req.rid), action: action, start: start}
	switch action {
	case "connect":
		if req.hasVersion && req.version != "1" {
			return c.answerLocal(req.rid, action, fsm.Unsupported, fmt.Sprintf("protocol version %q is not supported (this node speaks version 1)", req.version), start)
		}
		sr.Op, sr.Token = session.OpConnect, req.session
		if req.ttlMs != nil {
			sr.TTLms = session.AskedTTL(*req.ttlMs)
		}
		if req.seen != nil {
			sr.Seen = *req.seen
		}
	case "query":
		p.action = req.typ
		if req.typ == "" {
			return c.answerLocal(req.rid, action, fsm.InvalidParameter, "a query needs type: read, create, update, delete, watch or unwatch", start)
		}
		if !c.query(req, &sr) {
			return c.answerLocal(req.rid, action, fsm.Unsupported, fmt.Sprintf("unknown query type %q", req.typ), start)
		}
		if (sr.Op == session.OpCreate || sr.Op == session.OpUpdate) && !req.hasData {
			return c.answerLocal(req.rid, p.action, fsm.InvalidParameter, req.typ+" needs data (nil is a value: send data: nil for an item that is only a marker)", start)
		}
		if sr.Op == session.OpRead && req.consistency != "" && req.consistency != "stale" && req.consistency != "linearizable" {
			return c.answerLocal(req.rid, p.action, fsm.InvalidParameter, fmt.Sprintf("consistency %q is neither linearizable nor stale", req.consistency), start)
		}
		if (sr.Op == session.OpUpdate || sr.Op == session.OpDelete) && !req.hasItem {
			return c.answerLocal(req.rid, p.action, fsm.InvalidParameter, req.typ+" needs item: the version of the item", start)
		}
	case "heartbeat":
		if req.typ != "ping" && req.typ != "" {
			return c.answerLocal(req.rid, action, fsm.Unsupported, fmt.Sprintf("unknown heartbeat type %q", req.typ), start)
		}
		sr.Op = session.OpPing
		// PROTOCOL.md: wait_ms is at most ttl/2.
		p.waitMs = min(req.waitMs, c.ttlMs.Load()/2)
	case "close":
		sr.Op = session.OpClose
	case "discover":
		return c.discover(req, start)
	case "":
		return c.answerLocal(req.rid, action, fsm.InvalidParameter, "a request needs action", start)
	case "become":
		sr.Op, sr.Become, sr.Address = session.OpBecome, session.BecomeKind(req.typ), req.address
		id, err := ParseNodeID(req.node)
		if err != nil {
			return c.answerLocal(req.rid, action, fsm.InvalidParameter, err.Error(), start)
		}
		sr.Node = id
	default:
		return c.answerLocal(req.rid, action, fsm.Unsupported, fmt.Sprintf("unknown action %q", action), start)
	}
	if c.s.draining.Load() {
		return c.answerLocal(req.rid, p.action, fsm.Unavailable, "the node is shutting down", start)
	}
	p.op = sr.Op
	id, ok := c.register(p)
	if !ok {
		return false
	}
	sr.ID = id
	if !c.s.b.Submit(sr) {
		c.unregister(id)
		return c.answerLocal(req.rid, p.action, fsm.Unavailable, "the node is overloaded; try again", start)
	}
	if sr.Op == session.OpConnect {
		c.connectSent.Store(true)
	}
	return true
}

// query fills sr for a query; false if the type is unknown.
func (c *conn) query(req *request, sr *session.Request) bool {
	sr.Path, sr.IfVersion, sr.Item = req.path, req.ifVersion, req.item
	switch req.typ {
	case "read":
		sr.Op, sr.Stale = session.OpRead, req.consistency == "stale"
	case "create":
		sr.Op, sr.Data = session.OpCreate, dataOf(req)
	case "update":
		sr.Op, sr.Data = session.OpUpdate, dataOf(req)
	case "delete":
		sr.Op = session.OpDelete
	case "watch":
		sr.Op, sr.Since = session.OpWatch, req.since
		// What an answer leaves for the list: the limit less its rid and
		// the rest of the answer's map.
		sr.MaxListBytes = max(c.s.opts.MaxMessageBytes-len(req.rid)-answerOverhead, 1)
	case "unwatch":
		sr.Op = session.OpUnwatch
	default:
		return false
	}
	return true
}

func dataOf(req *request) []byte { return cloneBytes(req.data) }

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// discover answers from the membership the node knows (PROTOCOL.md:
// "every node can answer discover and name the leader's address at any
// time"). There is one quorum today: it serves every path.
func (c *conn) discover(req *request, start time.Time) bool {
	st := c.s.b.Status()
	a := begin(nil, req.rid)
	switch req.typ {
	case "quorum":
		if err := fsm.ValidatePath(req.path); err != nil {
			return c.answerLocal(req.rid, "discover", fsm.InvalidParameter, err.Error(), start)
		}
		if st.LeaderAddress == "" {
			return c.answerLocal(req.rid, "discover", fsm.Unavailable, "the quorum has no leader right now", start)
		}
		a.bool("result", true)
		a.str("location", st.LeaderAddress)
	case "uuid":
		id, err := ParseNodeID(req.uuid)
		if err != nil {
			return c.answerLocal(req.rid, "discover", fsm.InvalidParameter, err.Error(), start)
		}
		i := slices.IndexFunc(st.Members, func(m session.Member) bool { return m.ID == id })
		if i < 0 || st.Members[i].Address == "" {
			return c.answerLocal(req.rid, "discover", fsm.NotFound, fmt.Sprintf("node %s is not a member", FormatNodeID(id)), start)
		}
		a.bool("result", true)
		a.str("location", st.Members[i].Address)
	case "location":
		a.bool("result", true)
		// The location service is every node while there is one quorum:
		// location names the leader (or, with none, this node), locations
		// every member.
		loc := st.LeaderAddress
		if loc == "" {
			loc = leaderAddress(st, mustParse(st.Node))
		}
		a.str("location", loc)
		a.key("locations")
		var addrs []string
		for _, m := range st.Members {
			if m.Address != "" {
				addrs = append(addrs, m.Address)
			}
		}
		a.b = appendArrayLen(a.b, len(addrs))
		for _, s := range addrs {
			a.b = appendString(a.b, s)
		}
	case "":
		return c.answerLocal(req.rid, "discover", fsm.InvalidParameter, "discover needs type: quorum, uuid or location", start)
	default:
		return c.answerLocal(req.rid, "discover", fsm.Unsupported, fmt.Sprintf("unknown discover type %q", req.typ), start)
	}
	c.heard()
	return c.sendLocal(frame{b: a.end(), action: "discover", code: fsm.OK, start: start})
}

func mustParse(s string) raft.NodeID {
	id, _ := ParseNodeID(s)
	return id
}

// leaderAddress is the Haven address of node id in st's membership.
func leaderAddress(st session.Status, id raft.NodeID) string {
	if id == raft.None {
		return ""
	}
	for _, m := range st.Members {
		if m.ID == id {
			return m.Address
		}
	}
	return ""
}
