package nemesis

import (
	"bytes"
	"fmt"
	"os/exec"
	"sync"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
)

// The truth of a run is the committed log, read from the nodes' data dirs
// with `havend dump` (the simulator reads the same from its nodes' memory).
// Snapshots compact the WAL while the run goes on, so the nodes are dumped
// every few seconds during the run (read-only, beside the running process)
// and once more after every node was killed at the end; the dumps are
// merged by index. Two dumps that hold different entries at one index
// break Log Matching (§5.3) and fail the run.

// committedLog is the merged committed log of every dump so far.
type committedLog struct {
	mu        sync.Mutex
	entries   map[uint64]history.Entry
	from      map[uint64]string // the node whose dump first held it
	conflicts []string
	dumps     int
	errs      map[string]string // the last failed dump per node (live dumps may race a compaction)
}

func newCommittedLog() *committedLog {
	return &committedLog{entries: map[uint64]history.Entry{}, from: map[uint64]string{}, errs: map[string]string{}}
}

// dump runs `havend dump` on a data dir and returns its entries.
func dump(bin, dataDir string) ([]history.Entry, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "dump", "-data", dataDir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("havend dump -data %s: %v: %s", dataDir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	recs, err := history.Read(&stdout)
	if err != nil {
		return nil, err
	}
	out := make([]history.Entry, 0, len(recs))
	for _, r := range recs {
		if r.Entry == nil {
			return nil, fmt.Errorf("havend dump -data %s: a record that is no entry", dataDir)
		}
		out = append(out, *r.Entry)
	}
	return out, nil
}

// merge adds one node's dump. Its entries must be contiguous and agree
// with every entry of the same index seen before.
func (l *committedLog) merge(node string, entries []history.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dumps++
	for i, e := range entries {
		if i > 0 && e.Index != entries[i-1].Index+1 {
			l.conflicts = append(l.conflicts, fmt.Sprintf("%s's log jumps from %d to %d", node, entries[i-1].Index, e.Index))
			return
		}
		prev, ok := l.entries[e.Index]
		switch {
		case !ok:
			l.entries[e.Index], l.from[e.Index] = e, node
		case prev.Term != e.Term || prev.Type != e.Type || !bytes.Equal(prev.Data, e.Data):
			if len(l.conflicts) < 10 {
				l.conflicts = append(l.conflicts, fmt.Sprintf("index %d: %s committed term %d (%d bytes), %s committed term %d (%d bytes)",
					e.Index, l.from[e.Index], prev.Term, len(prev.Data), node, e.Term, len(e.Data)))
			}
		}
	}
}

// dumpAll dumps every node's data dir into the log; live says the nodes
// may be running (a dump that races a compaction is retried next time).
func (l *committedLog) dumpAll(c *cluster, live bool) {
	for _, nd := range c.nodes {
		entries, err := dump(c.bin, nd.dataDir)
		if err != nil {
			l.mu.Lock()
			l.errs[nd.id] = err.Error()
			l.mu.Unlock()
			continue
		}
		if !live {
			l.mu.Lock()
			delete(l.errs, nd.id)
			l.mu.Unlock()
		}
		l.merge(nd.id, entries)
	}
}

// prefix returns the log from index 1 as far as it is contiguous.
func (l *committedLog) prefix() []history.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []history.Entry
	for i := uint64(1); ; i++ {
		e, ok := l.entries[i]
		if !ok {
			return out
		}
		out = append(out, e)
	}
}

// known is what the committed log says, applied to a state machine as
// every node applies it. The verdicts on the log's contents (acknowledged
// writes at their indexes, none committed twice, lost answers resolved)
// are history.ListsHistory's; this is what the recorder needs to write
// the history.
type known struct {
	complete bool   // the log is contiguous from 1 through every index any dump held
	last     uint64 // its last index
	ends     map[string]sessionEnd
	opened   map[string]uint64 // session → index that opened it
}

type sessionEnd struct {
	index   uint64
	expired bool
}

// apply replays the merged log through fsm. The log is complete when it is
// contiguous from 1 through every index any dump held and reaches want,
// an index the leader's WAL must have recorded as committed (the first
// barrier write's).
func (l *committedLog) apply(want uint64) *known {
	entries := l.prefix()
	l.mu.Lock()
	max := uint64(0)
	for i := range l.entries {
		if i > max {
			max = i
		}
	}
	l.mu.Unlock()
	k := &known{ends: map[string]sessionEnd{}, opened: map[string]uint64{}}
	k.complete = uint64(len(entries)) == max && max >= want && max > 0
	m := fsm.New(fsm.Options{})
	for _, e := range entries {
		k.last = e.Index
		if e.Type == "confchange" {
			continue
		}
		cmd, _ := fsm.Decode(e.Data)
		res, _ := m.Apply(e.Index, e.Data)
		switch c := cmd.(type) {
		case fsm.OpenSession:
			if res.Code == fsm.OK {
				k.opened[c.ID] = e.Index
			}
		case fsm.CloseSession:
			if res.Code == fsm.OK {
				k.ends[c.ID] = sessionEnd{index: e.Index, expired: c.Expired}
			}
		}
	}
	return k
}

// checkLog is the verdict on the dumps: Log Matching across the nodes, every
// final dump readable (the WAL of every node recovered from its last
// crash), and the dumps making a whole log; when they do not, lost writes
// are judged from the dumps as they are (checkOnDisk).
func checkLog(v *verdicts, l *committedLog, k *known, ops []*op, sessions []*session, want uint64) {
	l.mu.Lock()
	for _, c := range l.conflicts {
		v.fail("log matching: %s", c)
	}
	for node, err := range l.errs {
		v.fail("WAL of %s does not recover after the run's last kill -9: %s", node, err)
	}
	dumps := l.dumps
	l.mu.Unlock()
	if !k.complete {
		v.fail("committed log: the dumps do not hold the log contiguously from index 1 through %d, which the first barrier write was answered with (%d dumps, prefix through %d)", want, dumps, k.last)
		checkOnDisk(v, l, ops, want)
		return
	}
	v.note("committed log: %d entries, from %d dumps", k.last, dumps)
	// A close answered OK may come after the session expired unnoticed (a
	// 500 ms ttl runs out fast); those are counted.
	closedExpired := 0
	for _, s := range sessions {
		if end, ok := k.ends[s.id]; ok && s.how == "close" && end.expired {
			closedExpired++
		}
	}
	v.note("sessions closed (answered OK) after they had expired: %d", closedExpired)
}

// checkOnDisk is the lost-write verdict when the dumps do not make a whole
// log: every acknowledged write answered with an index through want (which
// the WALs must have recorded as committed) must be the entry there in
// some node's dump.
func checkOnDisk(v *verdicts, l *committedLog, ops []*op, want uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := 0
	for _, o := range ops {
		if o.out == nil || o.out.Code != linearizability.CodeOK || o.out.Version > want {
			continue
		}
		if o.in.Op != linearizability.PushItem && o.in.Op != linearizability.UpdateItem && o.in.Op != linearizability.DeleteItem {
			continue
		}
		e, ok := l.entries[o.out.Version]
		if ok && carries(e, o.in) {
			continue
		}
		if lost++; lost <= 10 {
			v.fail("lost write: acknowledged %s of %s by %s @%d is on no node's disk (the log there: %v)", o.in.Op, o.in.Path, o.in.Session, o.out.Version, ok)
		}
	}
	if lost > 10 {
		v.fail("lost write: %d acknowledged writes in all are on no node's disk", lost)
	}
}

// carries reports whether entry e is the client write in.
func carries(e history.Entry, in linearizability.ListsInput) bool {
	cmd, err := fsm.Decode(e.Data)
	if err != nil {
		return false
	}
	switch c := cmd.(type) {
	case fsm.Push:
		return in.Op == linearizability.PushItem && string(c.Data) == in.Data && c.Path == in.Path
	case fsm.Update:
		return in.Op == linearizability.UpdateItem && string(c.Data) == in.Data && c.Item == in.Item
	case fsm.Delete:
		return in.Op == linearizability.DeleteItem && c.Session == in.Session && c.Path == in.Path && c.Item == in.Item
	}
	return false
}
