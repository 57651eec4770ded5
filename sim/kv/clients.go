package kv

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/sim"
)

// The key-value workload: closed-loop clients, each with one operation in
// flight, each talking to one node at a time. Most clients mix Puts (of a
// value unique in the run) and Gets half and half, and go where the nodes
// tell them the leader is. A few are readers: each only reads, always from
// the same node, as a client of a local replica would — so every node, a
// deposed leader that does not know it yet included, keeps serving reads
// throughout. Keys are drawn from many, so that each key's history stays
// short for porcupine, except for a share of operations on a few hot keys.

// kvOpTimeout is how long a client waits for an operation before giving up
// and marking its outcome unknown.
const kvOpTimeout = 500 * time.Millisecond

// hotKeys is the number of hot keys (see Params.HotKeys).
const hotKeys = 3

// Wake-up purposes, in the low bits of a client's timer token.
const (
	wakeStart   = 0 // start the next operation
	wakeTimeout = 1 // the operation's deadline
	wakeRetry   = 2 // send the operation again, elsewhere
)

type kvWorkload struct {
	cfg       *sim.Config
	w         *sim.World
	history   linearizability.History
	clients   []kvClient
	keys      []string
	thinkMean time.Duration
	quiesced  bool
	busy      int
	// ops describes each operation of the history, by OpID.
	ops []kvOpInfo
	// lastAckedCall is the latest call time of an acknowledged write.
	lastAckedCall time.Duration
	latency       sim.Histogram
	acked         int
	unknown       int
	// committedOp maps each operation whose put is in the committed log to
	// its index: a client write is committed once.
	committedOp map[uint64]uint64
}

// Refused answers a request sent to a removed node's address: refused,
// so certainly not applied; the client tries elsewhere.
func (wl *kvWorkload) Refused(node raft.NodeID, client int, request any) {
	req := request.(kvRequest)
	wl.w.SendToClientAt(client, node, kvReply{status: kvNotLeader, attempt: req.attempt}, wl.w.Now()+wl.w.ClientDelay())
}

// CommittedEntry checks a put as it joins the committed log: a client
// write is committed once, however often it was retried or delivered.
func (wl *kvWorkload) CommittedEntry(w *sim.World, e *raft.Entry) error {
	p, err := decodePut(e.Data)
	if err != nil {
		return nil
	}
	if wl.committedOp == nil {
		wl.committedOp = map[uint64]uint64{}
	}
	if prev, dup := wl.committedOp[p.op]; dup {
		return w.Errorf("double commit: the write of operation %d (client %d, put %s=%s) is committed at index %d and again at index %d",
			p.op, p.client, p.key, p.value, prev, e.Index)
	}
	wl.committedOp[p.op] = e.Index
	return nil
}

type kvOpInfo struct {
	put     bool
	key     string
	unknown bool
	acked   bool
	index   uint64
}

type kvClient struct {
	id   int
	node raft.NodeID
	// reader clients only read, and only from node.
	reader bool
	busy   bool
	// seq numbers the client's operations; attempts of one operation are
	// numbered in the low 16 bits of attempt.
	seq     uint64
	attempt uint64
	op      linearizability.OpID
	req     kvRequest
	call    time.Duration
	// committedAtCall is how far the log was committed, anywhere, when the
	// operation began: a Get must be served at a read index at least that
	// high.
	committedAtCall uint64
	// uncertain says the current attempt of a Put may have been appended:
	// no answer has ruled it out.
	uncertain bool
}

// NewWorkload returns the key-value workload for a run. It is registered
// as "kv" (Config.Workload).
func NewWorkload(cfg *sim.Config) sim.Workload { return newKVWorkload(cfg) }

func init() { sim.RegisterWorkload("kv", NewWorkload) }

// What the engine asks of the workload besides sim.Workload.
var _ interface {
	sim.Refuser
	sim.CommittedObserver
} = (*kvWorkload)(nil)

func newKVWorkload(cfg *sim.Config) *kvWorkload {
	wl := &kvWorkload{cfg: cfg}
	for i := range cfg.Keys {
		wl.keys = append(wl.keys, fmt.Sprintf("k%03d", i))
	}
	// Each client runs a cycle of one operation and a think time; the
	// think time sets the offered load.
	wl.thinkMean = time.Duration(float64(cfg.Clients) / cfg.ClientRate * float64(time.Second))
	return wl
}

func (wl *kvWorkload) NewService(host sim.NodeHost) sim.Service { return newKVService(host) }

func (wl *kvWorkload) Start(w *sim.World) {
	wl.w = w
	wl.clients = make([]kvClient, wl.cfg.Clients)
	readers := min(w.Nodes(), len(wl.clients)/2)
	for i := range wl.clients {
		c := &wl.clients[i]
		c.id = i
		c.node = raft.NodeID(1 + w.Rand().Intn(w.Nodes()))
		if i < readers {
			c.reader, c.node = true, raft.NodeID(i+1)
		}
		w.WakeClient(i, w.Rand().Exp(wl.thinkMean), c.seq<<2|wakeStart)
	}
}

func (wl *kvWorkload) ClientWake(client int, token uint64) {
	c := &wl.clients[client]
	seq, purpose := token>>2, token&3
	if seq != c.seq {
		return // a timer of an earlier operation
	}
	switch purpose {
	case wakeStart:
		if !c.busy && !wl.quiesced {
			wl.startOp(c)
		}
	case wakeTimeout:
		if c.busy {
			wl.timeout(c)
		}
	case wakeRetry:
		if c.busy {
			wl.send(c)
		}
	}
}

func (wl *kvWorkload) startOp(c *kvClient) {
	w := wl.w
	c.seq++
	c.busy, c.call, c.uncertain = true, w.Now(), false
	c.committedAtCall = w.CommittedIndex()
	wl.busy++
	key := wl.keys[w.Rand().Intn(len(wl.keys))]
	if w.Rand().Chance(w.Params().HotKeys) {
		key = wl.keys[w.Rand().Intn(min(hotKeys, len(wl.keys)))]
	}
	req := kvRequest{key: key, client: c.id}
	info := kvOpInfo{key: key}
	var input linearizability.KVInput
	if w.Rand().Chance(0.5) && !c.reader {
		req.put, info.put = true, true
		req.value = "c" + strconv.Itoa(c.id) + "." + strconv.FormatUint(c.seq, 10)
		input = linearizability.KVInput{Op: linearizability.KVPut, Key: key, Value: req.value}
	} else {
		input = linearizability.KVInput{Op: linearizability.KVGet, Key: key}
	}
	c.op = wl.history.Begin(c.id, input, int64(w.Now()))
	req.op = uint64(c.op)
	wl.ops = append(wl.ops, info)
	c.req = req
	c.attempt = c.seq << 16
	w.WakeClient(c.id, kvOpTimeout, c.seq<<2|wakeTimeout)
	wl.send(c)
}

func (wl *kvWorkload) send(c *kvClient) {
	c.attempt++
	c.req.attempt = c.attempt
	if c.req.put {
		c.uncertain = true
	}
	wl.w.SendToNode(c.id, c.node, c.req)
}

func (wl *kvWorkload) ClientReceive(client int, reply any) {
	c := &wl.clients[client]
	r := reply.(kvReply)
	if !c.busy || r.attempt != c.attempt {
		return // the answer to an attempt given up on
	}
	w := wl.w
	switch r.status {
	case kvOK:
		if c.req.put {
			wl.history.End(c.op, linearizability.KVOutput{}, int64(w.Now()))
			info := &wl.ops[c.op]
			info.acked, info.index = true, r.index
			wl.acked++
			wl.latency.Record(w.Now() - c.call)
			wl.lastAckedCall = max(wl.lastAckedCall, c.call)
			w.AckedWrite(r.index, r.term)
		} else {
			// §6.4: the read index is the leader's commit index once it
			// has confirmed it still leads, so it covers every entry
			// committed before the read began, anywhere — in particular
			// every write acknowledged before it. Checking the index, not
			// just the value, makes a stale read visible even when the key
			// read happens not to have changed since.
			if r.readIndex < c.committedAtCall {
				w.Fail(fmt.Errorf("at %v: stale read: client %d's get(%s) began when the log was committed through %d, but node %d served it at read index %d (§6.4)",
					w.Now(), c.id, c.req.key, c.committedAtCall, c.node, r.readIndex))
			}
			wl.history.End(c.op, linearizability.KVOutput{Value: r.value}, int64(w.Now()))
		}
		wl.done(c)
	case kvNotLeader, kvLost:
		// Certainly not applied: try again, at the hinted leader if there
		// is one, else anywhere.
		c.uncertain = false
		if c.reader {
			// Readers stay with their node and ask again.
		} else if r.leader != raft.None && r.leader != c.node {
			c.node = r.leader
		} else {
			c.node = raft.NodeID(1 + w.Rand().Intn(w.Nodes()))
		}
		w.WakeClient(c.id, w.Rand().Duration(2*time.Millisecond, 20*time.Millisecond), c.seq<<2|wakeRetry)
	}
}

// timeout gives up on the current operation.
func (wl *kvWorkload) timeout(c *kvClient) {
	w := wl.w
	if c.req.put && !c.uncertain {
		// Every attempt was refused: the write never happened.
		wl.history.End(c.op, linearizability.KVOutput{Failed: true}, int64(w.Now()))
	} else {
		wl.history.Unknown(c.op)
		wl.ops[c.op].unknown = true
		wl.unknown++
	}
	// The node may be gone: talk to another one next time.
	if !c.reader {
		c.node = raft.NodeID(1 + w.Rand().Intn(w.Nodes()))
	}
	wl.done(c)
}

func (wl *kvWorkload) done(c *kvClient) {
	c.busy = false
	wl.busy--
	if !wl.quiesced {
		wl.w.WakeClient(c.id, wl.w.Rand().Exp(wl.thinkMean), c.seq<<2|wakeStart)
	}
}

func (wl *kvWorkload) ProgressSince(since time.Duration) bool { return wl.lastAckedCall >= since }

func (wl *kvWorkload) Quiesce() { wl.quiesced = true }

func (wl *kvWorkload) Idle() bool { return wl.busy == 0 }

// Finish resolves the writes whose clients never learned their outcome from
// the committed log, checks that every acknowledged write survives in the
// final state of every node, and checks the history for linearizability.
func (wl *kvWorkload) Finish(w *sim.World, services []sim.Service) (sim.WorkloadReport, error) {
	report := sim.WorkloadReport{Acked: wl.acked, Unknown: wl.unknown, WriteLatency: wl.latency}
	committedAt := map[uint64]uint64{} // operation id -> index
	for _, e := range w.CommittedLog() {
		if p, err := decodePut(e.Data); err == nil {
			if _, dup := committedAt[p.op]; dup {
				return report, fmt.Errorf("write of operation %d committed twice", p.op)
			}
			committedAt[p.op] = e.Index
		}
	}
	// The highest acknowledged version of each key: every node's final
	// state must be at least that new.
	newest := map[string]uint64{}
	for id, info := range wl.ops {
		if !info.put {
			continue
		}
		index, committed := committedAt[uint64(id)]
		switch {
		case info.acked:
			if !committed || index != info.index {
				return report, fmt.Errorf("acknowledged write lost: operation %d (put %s) acknowledged at index %d is not there in the committed log", id, info.key, info.index)
			}
			newest[info.key] = max(newest[info.key], index)
		case info.unknown && committed:
			// It took effect, at a time the client never saw.
			wl.history.Resolve(linearizability.OpID(id), linearizability.KVOutput{})
		case info.unknown:
			// Not committed once everything settled: it never took effect
			// (a read that saw it would have read uncommitted data).
			wl.history.Resolve(linearizability.OpID(id), linearizability.KVOutput{Failed: true})
		}
	}
	keys := slices.Sorted(maps.Keys(newest))
	for _, svc := range services {
		kv, ok := svc.(*kvService)
		if !ok {
			continue
		}
		for _, key := range keys {
			version := newest[key]
			if got := kv.state.cells[key].version; got < version {
				return report, fmt.Errorf("acknowledged write lost: node %d's final state holds %s at version %d, older than the write acknowledged at %d",
					kv.host.ID(), key, got, version)
			}
		}
	}
	ops := wl.history.Operations()
	report.Ops = len(ops)
	err := sim.CheckLinearizable(w, wl.cfg, linearizability.KVModel, ops, "operations", &report)
	return report, err
}
