package history

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/linearizability"
	"github.com/stretchr/testify/require"
)

// longRun is a long history as a fault run records one: 4 clients, one
// session each, pushing, deleting and reading on 3 lists, a fifth of the
// writes without an answer (most committed, some not), operations about 4
// deep at any time. The committed log is the truth it was made from.
type longRun struct {
	recs []Record
	ops  []longOp
}

// longOp is what the generator knows of one operation.
type longOp struct {
	rec    int // its record in recs
	path   string
	write  bool
	index  uint64 // its entry (0: none)
	before linearizability.ListsOutput
	// before is the list as a read answers it just before the operation's
	// point; after (reads: the answer) just after.
	after linearizability.ListsOutput
}

func newLongRun(seed uint64, n int) *longRun {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := fsm.New(fsm.Options{})
	run := &longRun{}
	index := uint64(0)
	apply := func(cmd fsm.Command) {
		index++
		data := fsm.Encode(cmd)
		m.Apply(index, data)
		run.recs = append(run.recs, Record{Entry: &Entry{Index: index, Term: 1, Data: data}})
	}
	read := func(path string) linearizability.ListsOutput {
		items, version := m.Read(path)
		return linearizability.ListsOutput{Code: linearizability.CodeOK, Version: version, Items: ListItems(items)}
	}
	const clients = 4
	paths := []string{"/data/a", "/data/b", "/data/c"}
	owned := make([]map[string][]uint64, clients) // the items each client's session holds
	for c := range clients {
		apply(fsm.OpenSession{ID: fmt.Sprintf("s%d", c), TokenHash: [32]byte{byte(c + 1)}, TTLms: 5000})
		owned[c] = map[string][]uint64{}
	}
	// Operation k is called at 1000·k, takes effect 500 later and returns
	// 3500 later: a client (k mod 4) has one at a time, four overlap.
	for k := range n {
		c, path := k%clients, paths[rng.IntN(len(paths))]
		session := fmt.Sprintf("s%d", c)
		call := int64(1000 * (k + 1))
		op := &Op{Client: c, Call: call, Return: call + 3500}
		lop := longOp{rec: len(run.recs), path: path, before: read(path)}
		kind := rng.IntN(10)
		lost, uncommitted := rng.IntN(5) == 0, rng.IntN(20) == 0
		switch {
		case kind < 4:
			op.Input = linearizability.ListsInput{Op: linearizability.ReadList, Path: path}
			out := lop.before
			op.Output = &out
		case kind < 7 || len(owned[c][path]) == 0:
			data := string(msgStr(fmt.Sprintf("c%d-%d", c, k)))
			op.Input = linearizability.ListsInput{Op: linearizability.PushItem, Path: path, Session: session, Data: data}
			lop.write = true
			if !lost || !uncommitted {
				apply(fsm.Push{Session: session, Path: path, Data: []byte(data)})
				lop.index = index
				owned[c][path] = append(owned[c][path], index)
			}
		default:
			item := owned[c][path][0]
			op.Input = linearizability.ListsInput{Op: linearizability.DeleteItem, Path: path, Session: session, Item: item}
			lop.write = true
			if !lost || !uncommitted {
				apply(fsm.Delete{Session: session, Path: path, Item: item})
				lop.index = index
				owned[c][path] = owned[c][path][1:]
			}
		}
		if lop.write {
			if lost {
				op.Return, op.Output = -1, nil
			} else {
				op.Output = ok(lop.index)
			}
		}
		lop.after = read(path)
		lop.rec = len(run.recs)
		run.recs = append(run.recs, Record{Op: op})
		run.ops = append(run.ops, lop)
	}
	return run
}

// answer replaces the answer of the read ops[i] (a copy of the records).
func (run *longRun) answer(i int, out linearizability.ListsOutput) []Record {
	recs := slices.Clone(run.recs)
	op := *recs[run.ops[i].rec].Op
	op.Output = &out
	recs[run.ops[i].rec] = Record{Op: &op}
	return recs
}

// A run of 18,000 operations, near the size of a 10-minute fault run's
// (seed 7's made 24,679), is decided, and a violation planted far into it
// is found: a read that misses acknowledged writes, and a read that misses
// a write whose answer was lost but which a later acknowledgment shows
// committed.
func TestListsHistoryOfALongRunIsDecided(t *testing.T) {
	run := newLongRun(1, 18000)
	h, err := ListsHistory(run.recs)
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictOk, lin(t, h))

	// A stale read at 90% of the run: the list as it was 20 changes
	// before, all long returned when the read began.
	stale := -1
	for i := len(run.ops) * 9 / 10; i < len(run.ops) && stale < 0; i++ {
		if !run.ops[i].write {
			stale = i
		}
	}
	require.GreaterOrEqual(t, stale, 0)
	var changes []linearizability.ListsOutput
	for i := range stale {
		if o := &run.ops[i]; o.write && o.path == run.ops[stale].path && o.index > 0 {
			changes = append(changes, o.before)
		}
	}
	require.Greater(t, len(changes), 20)
	h, err = ListsHistory(run.answer(stale, changes[len(changes)-20]))
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictIllegal, lin(t, h), "a read 20 changes stale")

	// A write whose answer was lost, past the middle of the run, then the
	// first read of its list after a later write's acknowledgment came
	// back, with nothing else changing the list in between: answered with
	// the list before the write, it misses a committed write.
	acks := map[uint64]int64{} // acknowledged index → return
	for i := range run.ops {
		if op := run.recs[run.ops[i].rec].Op; run.ops[i].write && op.Output != nil {
			acks[run.ops[i].index] = op.Return
		}
	}
	missed, read := -1, -1
	for i := len(run.ops) / 2; i < len(run.ops) && read < 0; i++ {
		lost := &run.ops[i]
		if !lost.write || lost.index == 0 || run.recs[lost.rec].Op.Output != nil {
			continue
		}
		committedBy := int64(-1)
		for index, at := range acks {
			if index > lost.index && (committedBy < 0 || at < committedBy) {
				committedBy = at
			}
		}
		for j := i + 1; j < len(run.ops) && run.ops[j].path != lost.path || j < len(run.ops) && run.ops[j].write && run.ops[j].index == 0; j++ {
			if j+1 < len(run.ops) && run.ops[j+1].path == lost.path && !run.ops[j+1].write && run.recs[run.ops[j+1].rec].Op.Call > committedBy {
				missed, read = i, j+1
				break
			}
		}
	}
	require.GreaterOrEqual(t, read, 0, "no lost write followed by a read of its list")
	h, err = ListsHistory(run.answer(read, run.ops[missed].before))
	require.NoError(t, err)
	require.Equal(t, linearizability.VerdictIllegal, lin(t, h), "a read that misses a committed write whose answer was lost")
}
