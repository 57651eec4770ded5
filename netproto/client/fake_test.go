package client

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// fakeCluster is a small in-process stand-in for a Haven cluster, enough to
// test the client's codec, rid matching and failover: one shared store
// behind several listeners ("nodes"). It follows PROTOCOL.md's Haven table.
type fakeCluster struct {
	t     *testing.T
	mu    sync.Mutex
	index uint64
	lists map[string][]Item
	vers  map[string]uint64
	hist  map[string][]Event // every event, per path
	sess  map[string]string  // token -> session id
	conns map[*fakeConn]bool
	nodes []*fakeNode

	// hooks
	slowPath   string        // reads of this path wait slowDelay
	slowDelay  time.Duration //
	forgetHist bool          // answer watches with since by reset
	omitItems  bool          // answer writes without their list (items_omitted)
	connects   int
}

type fakeNode struct {
	id   string
	ln   net.Listener
	mu   sync.Mutex
	cs   map[*fakeConn]bool
	dead bool
	// noLeader makes the node answer pings Unavailable, as a node cut off
	// from the leader does.
	noLeader bool
	// removed makes it answer connects as a node told it was removed from
	// the cluster does (session's noticeRemoval). Like noLeader, under mu
	// (setRemoved).
	removed bool
}

type fakeConn struct {
	node    *fakeNode
	nc      net.Conn
	wmu     sync.Mutex
	enc     *msgpack.Encoder
	bw      *bufio.Writer
	session string
	watches map[string]bool
	pending []Event
	signal  chan struct{}
}

func newFakeCluster(t *testing.T, n int) *fakeCluster {
	f := &fakeCluster{t: t, lists: map[string][]Item{}, vers: map[string]uint64{},
		hist: map[string][]Event{}, sess: map[string]string{}, conns: map[*fakeConn]bool{}, index: 10}
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		node := &fakeNode{id: fmt.Sprintf("n%d", i+1), ln: ln, cs: map[*fakeConn]bool{}}
		f.nodes = append(f.nodes, node)
		go f.accept(node)
	}
	t.Cleanup(func() {
		for _, n := range f.nodes {
			f.kill(n)
		}
	})
	return f
}

func (f *fakeCluster) addrs() []string {
	var out []string
	for _, n := range f.nodes {
		out = append(out, n.ln.Addr().String())
	}
	return out
}

// kill closes a node's listener and connections, as kill -9 would.
func (f *fakeCluster) kill(n *fakeNode) {
	n.mu.Lock()
	n.dead = true
	_ = n.ln.Close()
	for c := range n.cs {
		_ = c.nc.Close()
	}
	n.mu.Unlock()
}

func (f *fakeCluster) nodeOf(addr string) *fakeNode {
	for _, n := range f.nodes {
		if n.ln.Addr().String() == addr {
			return n
		}
	}
	return nil
}

func (f *fakeCluster) accept(n *fakeNode) {
	for {
		nc, err := n.ln.Accept()
		if err != nil {
			return
		}
		c := &fakeConn{node: n, nc: nc, watches: map[string]bool{}, signal: make(chan struct{}, 1)}
		c.bw = bufio.NewWriter(nc)
		c.enc = msgpack.NewEncoder(c.bw)
		n.mu.Lock()
		if n.dead {
			n.mu.Unlock()
			_ = nc.Close()
			return
		}
		n.cs[c] = true
		n.mu.Unlock()
		go f.serve(c)
	}
}

func (c *fakeConn) send(m map[string]any) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.enc.Encode(m)
	_ = c.bw.Flush()
}

func fail(rid any, code, msg string) map[string]any {
	return map[string]any{"rid": rid, "result": false, "error": map[string]any{"code": code, "message": msg}}
}

func (f *fakeCluster) serve(c *fakeConn) {
	defer func() {
		_ = c.nc.Close()
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		c.node.mu.Lock()
		delete(c.node.cs, c)
		c.node.mu.Unlock()
	}()
	dec := msgpack.NewDecoder(bufio.NewReader(c.nc))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return
		}
		rid := m["rid"]
		action, _ := m["action"].(string)
		if c.session == "" && action != "connect" {
			c.send(fail(rid, "InvalidParameter", "connect first"))
			return
		}
		switch action {
		case "connect":
			c.node.mu.Lock()
			removed := c.node.removed
			c.node.mu.Unlock()
			if removed {
				c.send(fail(rid, "Unavailable", "this node was removed from the cluster (a member said so as of index 7): connect to a member; the write may have been applied: read from a member to find out"))
				continue
			}
			f.mu.Lock()
			f.connects++
			token, _ := m["session"].(string)
			if token == "" {
				f.index++
				token = fmt.Sprintf("tok%d", f.index)
				f.sess[token] = fmt.Sprintf("s%d", f.index)
			}
			id, ok := f.sess[token]
			if ok {
				f.conns[c] = true
			}
			f.mu.Unlock()
			if !ok {
				c.send(fail(rid, "SessionExpired", "no such session"))
				continue
			}
			c.session = id
			c.send(map[string]any{"rid": rid, "result": true, "session": id, "token": token, "ttl_ms": 1500, "node": c.node.id, "leader": f.nodes[0].ln.Addr().String()})
		case "query":
			go f.query(c, rid, m)
		case "heartbeat":
			go f.heartbeat(c, rid, m)
		case "close":
			f.mu.Lock()
			for tok, id := range f.sess {
				if id == c.session {
					delete(f.sess, tok)
				}
			}
			f.endSession(c.session)
			f.mu.Unlock()
			c.send(map[string]any{"rid": rid, "result": true})
			return
		case "discover":
			c.send(map[string]any{"rid": rid, "result": true, "location": c.node.ln.Addr().String(), "locations": f.addrs()})
		default:
			c.send(fail(rid, "Unsupported", "unknown action"))
		}
	}
}

func (f *fakeCluster) endSession(id string) {
	for path, items := range f.lists {
		var keep []Item
		var gone []Item
		for _, it := range items {
			if it.Owner == id {
				gone = append(gone, it)
			} else {
				keep = append(keep, it)
			}
		}
		if len(gone) > 0 {
			f.index++
			f.lists[path] = keep
			f.vers[path] = f.index
			for _, it := range gone {
				f.emit(Event{Path: path, Version: f.index, Kind: KindDelete, Item: it})
			}
		}
	}
}

// emit records an event and queues it for every watching connection.
func (f *fakeCluster) emit(ev Event) {
	f.hist[ev.Path] = append(f.hist[ev.Path], ev)
	for c := range f.conns {
		if c.watches[ev.Path] {
			c.pending = append(c.pending, ev)
			select {
			case c.signal <- struct{}{}:
			default:
			}
		}
	}
}

func itemMap(it Item) map[string]any {
	return map[string]any{"version": it.Version, "modified": it.Modified, "owner": it.Owner, "data": msgpack.RawMessage(it.Data)}
}

func itemsMap(items []Item) []any {
	out := []any{}
	for _, it := range items {
		out = append(out, itemMap(it))
	}
	return out
}

func eventMap(ev Event) map[string]any {
	return map[string]any{"path": ev.Path, "version": ev.Version, "kind": string(ev.Kind), "item": itemMap(ev.Item)}
}

func toU64(v any) (uint64, bool) {
	switch n := v.(type) {
	case int8:
		return uint64(n), true
	case int16:
		return uint64(n), true
	case int32:
		return uint64(n), true
	case int64:
		return uint64(n), true
	case uint8:
		return uint64(n), true
	case uint16:
		return uint64(n), true
	case uint32:
		return uint64(n), true
	case uint64:
		return n, true
	}
	return 0, false
}

func (f *fakeCluster) query(c *fakeConn, rid any, m map[string]any) {
	typ, _ := m["type"].(string)
	path, _ := m["path"].(string)
	if typ == "read" && path == f.slowPath {
		time.Sleep(f.slowDelay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ifv, hasIf := toU64(m["if_version"])
	if _, present := m["if_version"]; present && !hasIf {
		c.send(fail(rid, "InvalidParameter", "if_version"))
		return
	}
	if hasIf && ifv != f.vers[path] && typ != "read" && typ != "watch" {
		c.send(fail(rid, "Conflict", "list version changed"))
		return
	}
	list := func() map[string]any {
		return map[string]any{"rid": rid, "result": true, "items": itemsMap(f.lists[path]), "version": f.vers[path]}
	}
	switch typ {
	case "read":
		c.send(list())
	case "create":
		raw, _ := msgpack.Marshal(m["data"])
		f.index++
		it := Item{Version: f.index, Modified: f.index, Owner: c.session, Data: raw}
		f.lists[path] = append(f.lists[path], it)
		f.vers[path] = f.index
		f.emit(Event{Path: path, Version: f.index, Kind: KindPush, Item: it})
		a := list()
		a["item"] = itemMap(it)
		if f.omitItems {
			delete(a, "items")
			a["items_omitted"] = true
		}
		c.send(a)
	case "update", "delete":
		v, _ := toU64(m["item"])
		items := f.lists[path]
		for i, it := range items {
			if it.Version != v {
				continue
			}
			if it.Owner != c.session {
				c.send(fail(rid, "Forbidden", "not the owner"))
				return
			}
			f.index++
			f.vers[path] = f.index
			if typ == "delete" {
				f.lists[path] = append(items[:i:i], items[i+1:]...)
				f.emit(Event{Path: path, Version: f.index, Kind: KindDelete, Item: it})
				c.send(list())
				return
			}
			raw, _ := msgpack.Marshal(m["data"])
			it.Data, it.Modified = raw, f.index
			items[i] = it
			f.emit(Event{Path: path, Version: f.index, Kind: KindUpdate, Item: it})
			a := list()
			a["item"] = itemMap(it)
			c.send(a)
			return
		}
		c.send(fail(rid, "NotFound", "no such item"))
	case "watch":
		c.watches[path] = true
		a := list()
		if since, ok := toU64(m["since"]); ok {
			if f.forgetHist {
				a["reset"] = true
			} else {
				for _, ev := range f.hist[path] {
					if ev.Version > since {
						c.pending = append(c.pending, ev)
					}
				}
			}
		}
		c.send(a)
	case "unwatch":
		delete(c.watches, path)
		c.send(map[string]any{"rid": rid, "result": true})
	default:
		c.send(fail(rid, "Unsupported", "unknown type"))
	}
}

func (f *fakeCluster) heartbeat(c *fakeConn, rid any, m map[string]any) {
	wait, _ := toU64(m["wait_ms"])
	deadline := time.After(time.Duration(wait) * time.Millisecond)
	c.node.mu.Lock()
	noLeader := c.node.noLeader
	c.node.mu.Unlock()
	if noLeader {
		time.Sleep(50 * time.Millisecond)
		c.send(map[string]any{"rid": rid, "action": "heartbeat", "type": "pong", "result": false, "error": map[string]any{"code": "Unavailable", "message": "no leader"}})
		return
	}
	for {
		f.mu.Lock()
		alive := false
		for _, id := range f.sess {
			alive = alive || id == c.session
		}
		if !alive {
			f.mu.Unlock()
			c.send(map[string]any{"rid": rid, "action": "heartbeat", "type": "pong", "result": false, "error": map[string]any{"code": "SessionExpired", "message": "gone"}})
			return
		}
		if len(c.pending) > 0 {
			evs := []any{}
			for _, ev := range c.pending {
				evs = append(evs, eventMap(ev))
			}
			c.pending = nil
			f.mu.Unlock()
			c.send(map[string]any{"rid": rid, "action": "heartbeat", "type": "pong", "result": evs})
			return
		}
		f.mu.Unlock()
		select {
		case <-c.signal:
		case <-deadline:
			c.send(map[string]any{"rid": rid, "action": "heartbeat", "type": "pong", "result": []any{}})
			return
		}
	}
}

// setRemoved makes node n answer connects as a removed node does.
func (n *fakeNode) setRemoved() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.removed = true
}
