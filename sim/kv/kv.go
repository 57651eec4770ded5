package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/sim"
)

// The key-value application: the small replicated state machine the
// simulator runs until the Haven service core replaces it. A Put is one log
// entry; a Get is served by ReadIndex (§6.4) on whichever node the client
// talks to, leader or follower.

// kvCell is a key's value and the index of the entry that wrote it (its
// version).
type kvCell struct {
	value   string
	version uint64
}

// kvState is the state machine: a pure function of the log. It keeps its
// keys sorted and its digest up to date as it goes, so that snapshots and
// replica comparisons cost no sorting and no rehashing.
type kvState struct {
	cells map[string]kvCell
	keys  []string // sorted
	// digest is the XOR of cellHash over all cells: independent of the
	// order of insertion, updated in O(1) per write.
	digest uint64
}

func newKVState() kvState { return kvState{cells: map[string]kvCell{}} }

// kvPut is the command a Put entry carries.
type kvPut struct {
	op     uint64 // the history's operation id, unique in a run
	client int
	key    string
	value  string
}

const kvPutTag = 'P'

func encodePut(p kvPut) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(p.key)+len(p.value))
	b = append(b, kvPutTag)
	b = binary.AppendUvarint(b, p.op)
	b = binary.AppendUvarint(b, uint64(p.client))
	b = binary.AppendUvarint(b, uint64(len(p.key)))
	b = append(b, p.key...)
	return append(b, p.value...)
}

var errNotPut = errors.New("kv: not a put")

func decodePut(data []byte) (kvPut, error) {
	if len(data) == 0 || data[0] != kvPutTag {
		return kvPut{}, errNotPut
	}
	rest := data[1:]
	var fields [3]uint64
	for i := range fields {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return kvPut{}, fmt.Errorf("kv: bad put encoding")
		}
		fields[i], rest = v, rest[n:]
	}
	if fields[2] > uint64(len(rest)) {
		return kvPut{}, fmt.Errorf("kv: bad put key length")
	}
	return kvPut{op: fields[0], client: int(fields[1]), key: string(rest[:fields[2]]), value: string(rest[fields[2]:])}, nil
}

// cellHash hashes one cell: FNV-1a over the key and the value, each
// length-prefixed, mixed by splitmix64's finalizer.
func cellHash(key string, c kvCell) uint64 {
	h := uint64(14695981039346656037)
	for _, part := range [...]string{key, c.value} {
		h = sim.Mix64(h ^ uint64(len(part)))
		for i := 0; i < len(part); i++ {
			h = (h ^ uint64(part[i])) * 1099511628211
		}
	}
	return sim.Mix64(h ^ c.version)
}

func (s *kvState) set(key string, c kvCell) {
	if old, ok := s.cells[key]; ok {
		s.digest ^= cellHash(key, old)
	} else {
		i, _ := slices.BinarySearch(s.keys, key)
		s.keys = slices.Insert(s.keys, i, key)
	}
	s.cells[key] = c
	s.digest ^= cellHash(key, c)
}

func (s *kvState) apply(index uint64, data []byte) {
	p, err := decodePut(data)
	if err != nil {
		return // a no-op, a configuration change, or nothing of ours
	}
	s.set(p.key, kvCell{value: p.value, version: index})
}

// snapshot encodes the cells in key order, so equal states encode equally.
func (s *kvState) snapshot() []byte {
	b := make([]byte, 0, 16+len(s.keys)*24)
	b = binary.AppendUvarint(b, uint64(len(s.keys)))
	for _, k := range s.keys {
		c := s.cells[k]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(c.value)))
		b = append(b, c.value...)
		b = binary.AppendUvarint(b, c.version)
	}
	return b
}

func restoreKVState(data []byte) (kvState, error) {
	var s kvState
	bad := errors.New("kv: corrupt snapshot")
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(data)
		if n <= 0 {
			return 0, false
		}
		data = data[n:]
		return v, true
	}
	str := func() (string, bool) {
		l, ok := next()
		if !ok || l > uint64(len(data)) {
			return "", false
		}
		v := string(data[:l])
		data = data[l:]
		return v, true
	}
	count, ok := next()
	if !ok || count > uint64(len(data)) {
		return newKVState(), bad
	}
	// Sized at once, and the keys come sorted (snapshot), so each is
	// appended: no regrowing of the map nor search of the keys per cell.
	s = kvState{cells: make(map[string]kvCell, count), keys: make([]string, 0, count)}
	for range count {
		k, ok1 := str()
		v, ok2 := str()
		ver, ok3 := next()
		if !ok1 || !ok2 || !ok3 {
			return s, bad
		}
		if n := len(s.keys); n > 0 && k <= s.keys[n-1] {
			return s, bad // out of order, or twice: not a snapshot of ours
		}
		c := kvCell{value: v, version: ver}
		s.cells[k] = c
		s.keys = append(s.keys, k)
		s.digest ^= cellHash(k, c)
	}
	if len(data) != 0 {
		return s, bad
	}
	return s, nil
}

// kvRequest is what a client sends a node.
type kvRequest struct {
	put     bool
	key     string
	value   string
	op      uint64 // history operation id
	client  int
	attempt uint64 // echoed in the reply, so stale replies are recognized
}

// AppendTrace appends the request as the trace shows it (sim.Traceable).
func (r kvRequest) AppendTrace(b []byte) []byte {
	if r.put {
		b = append(b, "put "...)
	} else {
		b = append(b, "get "...)
	}
	b = append(b, r.key...)
	if r.put {
		b = append(b, '=')
		b = append(b, r.value...)
	}
	b = append(b, " op="...)
	return strconv.AppendUint(b, r.op, 10)
}

// kvStatus is how a request ended at the node.
type kvStatus uint8

const (
	kvOK kvStatus = iota
	// kvNotLeader: the node cannot take the request (not leader, no
	// leader known, transfer in progress); nothing was appended. Leader
	// hints where to go.
	kvNotLeader
	// kvLost: the write was appended but a later leader overwrote it
	// (another entry was applied at its index): it certainly never takes
	// effect.
	kvLost
)

type kvReply struct {
	status  kvStatus
	attempt uint64
	value   string
	leader  raft.NodeID
	index   uint64
	term    uint64
	// readIndex is the read index a Get was served at (§6.4).
	readIndex uint64
}

// AppendTrace appends the reply as the trace shows it (sim.Traceable).
func (r kvReply) AppendTrace(b []byte) []byte {
	switch r.status {
	case kvOK:
		b = append(b, "ok"...)
		if r.index > 0 {
			b = append(b, " index="...)
			b = strconv.AppendUint(b, r.index, 10)
		} else {
			b = append(b, " value="...)
			b = append(b, r.value...)
			b = append(b, " read-index="...)
			b = strconv.AppendUint(b, r.readIndex, 10)
		}
	case kvNotLeader:
		b = append(b, "not-leader hint=n"...)
		b = strconv.AppendUint(b, uint64(r.leader), 10)
	case kvLost:
		b = append(b, "lost"...)
	}
	return b
}

// kvService runs the key-value store on one node.
type kvService struct {
	host    sim.NodeHost
	state   kvState
	applied uint64
	// proposals wait for their entry to be applied.
	proposals []kvProposal
	// reads wait for a read index, then for it to be applied; granted
	// of them have their read index.
	reads   []kvRead
	granted int
	readSeq uint32
}

type kvProposal struct {
	index, term uint64
	client      int
	attempt     uint64
}

type kvRead struct {
	ctx     string
	client  int
	attempt uint64
	key     string
	index   uint64
	granted bool
}

func newKVService(host sim.NodeHost) *kvService {
	return &kvService{host: host, state: newKVState()}
}

func (s *kvService) HandleRequest(client int, request any) {
	req := request.(kvRequest)
	notLeader := kvReply{status: kvNotLeader, attempt: req.attempt, leader: s.host.Leader()}
	if req.put {
		data := encodePut(kvPut{op: req.op, client: client, key: req.key, value: req.value})
		index, term, err := s.host.Propose(data)
		if err != nil {
			s.host.Reply(client, notLeader)
			return
		}
		s.proposals = append(s.proposals, kvProposal{index: index, term: term, client: client, attempt: req.attempt})
		return
	}
	ctx := s.readContext()
	if err := s.host.ReadIndex([]byte(ctx)); err != nil {
		s.host.Reply(client, notLeader)
		return
	}
	s.reads = append(s.reads, kvRead{ctx: ctx, client: client, attempt: req.attempt, key: req.key})
}

// readContext returns a context unique across the node's incarnations: an
// answer to a read of an earlier incarnation must never be taken for one of
// this incarnation's, whose call may come after the index it carries.
func (s *kvService) readContext() string {
	s.readSeq++
	var ctx [8]byte
	binary.BigEndian.PutUint32(ctx[:4], s.host.Incarnation())
	binary.BigEndian.PutUint32(ctx[4:], s.readSeq)
	return string(ctx[:])
}

func (s *kvService) Apply(e raft.Entry) {
	s.applied = e.Index
	if e.Type == raft.EntryNormal {
		s.state.apply(e.Index, e.Data)
	}
	// A proposal's fate is known once its index is applied: its own entry
	// (same term) took effect; any other entry there means it never will.
	kept := s.proposals[:0]
	for _, p := range s.proposals {
		switch {
		case p.index != e.Index:
			kept = append(kept, p)
		case p.term == e.Term:
			s.host.Reply(p.client, kvReply{status: kvOK, attempt: p.attempt, index: p.index, term: p.term})
		default:
			s.host.Reply(p.client, kvReply{status: kvLost, attempt: p.attempt})
		}
	}
	s.proposals = kept
	s.serveReads()
}

func (s *kvService) ReadIndexReady(rs raft.ReadState) {
	for i := range s.reads {
		if s.reads[i].ctx == string(rs.Context) && !s.reads[i].granted {
			s.reads[i].index, s.reads[i].granted = rs.Index, true
			s.granted++
			break
		}
	}
	s.serveReads()
}

// serveReads answers the reads whose read index has been applied (§6.4).
func (s *kvService) serveReads() {
	if s.granted == 0 {
		return // none has its read index yet
	}
	kept := s.reads[:0]
	for _, r := range s.reads {
		if r.granted && r.index <= s.applied {
			s.host.Reply(r.client, kvReply{status: kvOK, attempt: r.attempt, value: s.state.cells[r.key].value, readIndex: r.index})
			s.granted--
			continue
		}
		kept = append(kept, r)
	}
	s.reads = kept
}

func (s *kvService) Snapshot() []byte { return s.state.snapshot() }

func (s *kvService) Restore(snap raft.Snapshot) error {
	st, err := restoreKVState(snap.Data)
	if err != nil {
		return err
	}
	s.state, s.applied = st, snap.Meta.Index
	// Proposals the snapshot covers cannot be told apart from what
	// replaced them; their clients time out and the run resolves their
	// outcome from the committed log.
	kept := s.proposals[:0]
	for _, p := range s.proposals {
		if p.index > s.applied {
			kept = append(kept, p)
		}
	}
	s.proposals = kept
	s.serveReads()
	return nil
}

func (s *kvService) Digest() uint64 { return s.state.digest }
