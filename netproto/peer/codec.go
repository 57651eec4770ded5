package peer

import (
	"fmt"
	"slices"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// The schema of a batch (doc.go shows it on one page). To add a field: give
// it the next number in its struct's list below, write it in the struct's
// append function and read it in the struct's decode switch. The round-trip
// test fills every field by reflection and fails until both are done.
//
// Field numbers are never reused: an old node skips numbers it does not
// know, so a field may be added without a flag day.

// Limits on what one decoded batch may hold. A batch comes only from a
// signed peer, but the decoder is also fuzzed against garbage: whatever the
// input, decoding allocates at most a small multiple of its length (a
// repeated sub-message merges into the one already decoded, as in Protocol
// Buffers, instead of allocating again) and within these counts.
const (
	// MaxBatchMessages caps the messages in one batch.
	MaxBatchMessages = 1 << 16
	// maxBatchItems caps entries, node ids and strings across a batch.
	maxBatchItems = 1 << 20
)

// EncodeBatch encodes msgs as one batch (a request body).
func EncodeBatch(msgs []session.PeerMessage) []byte {
	var b []byte
	for i := range msgs {
		b = AppendMessage(b, &msgs[i])
	}
	return b
}

// AppendMessage appends m to a batch being built in b. A batch is the
// concatenation of its messages, so a sender appends each message to the
// pending body as it is handed over and ships the body as it stands.
func AppendMessage(b []byte, m *session.PeerMessage) []byte {
	b, mark := beginNested(b, 1)
	b = appendPeerMessage(b, m)
	return endNested(b, mark)
}

func appendPeerMessage(b []byte, m *session.PeerMessage) []byte {
	b = appendUint(b, 1, m.Group)
	b = appendUint(b, 2, uint64(m.From))
	b = appendUint(b, 3, uint64(m.To))
	var mark int
	if m.Raft != nil {
		b, mark = beginNested(b, 4)
		b = endNested(appendRaftMessage(b, m.Raft), mark)
	}
	if m.Forward != nil {
		b, mark = beginNested(b, 5)
		b = endNested(appendForward(b, m.Forward), mark)
	}
	if m.ForwardReply != nil {
		b, mark = beginNested(b, 6)
		b = endNested(appendForwardReply(b, m.ForwardReply), mark)
	}
	if m.KeepAlive != nil {
		b, mark = beginNested(b, 7)
		b = endNested(appendKeepAlive(b, m.KeepAlive), mark)
	}
	if m.KeepAliveAck != nil {
		b, mark = beginNested(b, 8)
		b = endNested(appendKeepAliveAck(b, m.KeepAliveAck), mark)
	}
	return b
}

func appendRaftMessage(b []byte, m *raft.Message) []byte {
	b = appendUint(b, 1, uint64(m.Type))
	b = appendUint(b, 2, uint64(m.From))
	b = appendUint(b, 3, uint64(m.To))
	b = appendUint(b, 4, m.Term)
	b = appendUint(b, 5, m.LogTerm)
	b = appendUint(b, 6, m.Index)
	var mark int
	for i := range m.Entries {
		b, mark = beginNested(b, 7)
		b = endNested(appendEntry(b, &m.Entries[i]), mark)
	}
	b = appendUint(b, 8, m.Commit)
	b = appendBool(b, 9, m.Reject)
	b = appendUint(b, 10, m.RejectHint)
	if m.Snapshot != nil {
		b, mark = beginNested(b, 11)
		b = endNested(appendSnapshot(b, m.Snapshot), mark)
	}
	b = appendPresentBytes(b, 12, m.Context)
	b = appendUint(b, 13, m.Round) // havend: raft's heartbeat round (raft branch, cea2604..e468bbd)
	return b
}

func appendEntry(b []byte, e *raft.Entry) []byte {
	b = appendUint(b, 1, e.Term)
	b = appendUint(b, 2, e.Index)
	b = appendUint(b, 3, uint64(e.Type))
	return appendPresentBytes(b, 4, e.Data)
}

func appendSnapshot(b []byte, s *raft.Snapshot) []byte {
	b, mark := beginNested(b, 1)
	b = endNested(appendSnapshotMeta(b, &s.Meta), mark)
	return appendPresentBytes(b, 2, s.Data)
}

func appendSnapshotMeta(b []byte, m *raft.SnapshotMeta) []byte {
	b = appendUint(b, 1, m.Index)
	b = appendUint(b, 2, m.Term)
	b, mark := beginNested(b, 3)
	return endNested(appendConfState(b, &m.Conf), mark)
}

func appendConfState(b []byte, c *raft.ConfState) []byte {
	for _, id := range c.Voters {
		b = appendRepeatedUint(b, 1, uint64(id))
	}
	for _, id := range c.Learners {
		b = appendRepeatedUint(b, 2, uint64(id))
	}
	// havend: members' addresses (raft branch, cea2604), sorted by id so
	// that equal states encode equally.
	ids := make([]raft.NodeID, 0, len(c.Addresses))
	for id := range c.Addresses {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		var mark int
		b, mark = beginNested(b, 3)
		b = appendUint(b, 1, uint64(id))
		b = appendString(b, 2, c.Addresses[id])
		b = endNested(b, mark)
	}
	return b
}

func appendForward(b []byte, f *session.Forward) []byte {
	b = appendUint(b, 1, f.ID)
	b = appendPresentBytes(b, 2, f.Command)
	b = appendString(b, 3, string(f.Become))
	b = appendUint(b, 4, uint64(f.Node))
	b = appendString(b, 5, f.Address)
	return appendUint(b, 6, f.Term)
}

func appendForwardReply(b []byte, f *session.ForwardReply) []byte {
	b = appendUint(b, 1, f.ID)
	b = appendUint(b, 2, f.Index)
	b = appendUint(b, 3, f.Term)
	b = appendString(b, 4, string(f.Code))
	return appendString(b, 5, f.Message)
}

func appendKeepAlive(b []byte, k *session.KeepAlive) []byte {
	b = appendUint(b, 1, k.ID)
	for _, s := range k.Sessions {
		b = appendRepeatedString(b, 2, s)
	}
	return b
}

func appendKeepAliveAck(b []byte, k *session.KeepAliveAck) []byte {
	b = appendUint(b, 1, k.ID)
	for _, s := range k.Refused {
		b = appendRepeatedString(b, 2, s)
	}
	return b
}

// DecodeBatch decodes a batch. Byte slices in the result (entry data,
// snapshot data, contexts, commands) alias body, which the caller must not
// modify afterwards; strings are copied. Garbage gets an error, never a
// panic.
func DecodeBatch(body []byte) ([]session.PeerMessage, error) {
	d := decoder{}
	r := reader{buf: body}
	// Size the result once: a first pass over the top-level keys and
	// lengths counts the messages (and checks the framing).
	n, err := countMessages(body)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	msgs := make([]session.PeerMessage, 0, n)
	// Raft messages are most of a batch: one slab for all of them.
	d.rafts = make([]raft.Message, 0, n)
	d.entryHint = n
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return nil, err
		}
		if field != 1 {
			if err := r.skip(wire); err != nil {
				return nil, err
			}
			continue
		}
		sub, err := r.nested(wire)
		if err != nil {
			return nil, err
		}
		if len(msgs) == MaxBatchMessages {
			return nil, fmt.Errorf("peer: more than %d messages in a batch", MaxBatchMessages)
		}
		msgs = append(msgs, session.PeerMessage{})
		if err := d.peerMessage(sub, &msgs[len(msgs)-1]); err != nil {
			return nil, fmt.Errorf("peer: message %d: %w", len(msgs)-1, err)
		}
	}
	return msgs, nil
}

// countMessages counts a batch's messages without decoding them.
func countMessages(body []byte) (int, error) {
	r := reader{buf: body}
	n := 0
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return 0, err
		}
		if err := r.skip(wire); err != nil {
			return 0, err
		}
		if field == 1 {
			if n == MaxBatchMessages {
				return 0, fmt.Errorf("peer: more than %d messages in a batch", MaxBatchMessages)
			}
			n++
		}
	}
	return n, nil
}

// decoder counts what a batch has allocated so far.
type decoder struct {
	items int
	// rafts and entries are slabs the batch's raft messages and entries
	// are taken from; entryHint sizes the entries' first slab.
	rafts     []raft.Message
	entries   []raft.Entry
	entryHint int
}

// newEntry takes an entry from the slab for the message whose entries
// start at start there, and returns where they start now: a full slab is
// replaced by a larger one, and the message's entries so far move with it
// (a message's entries must be contiguous; earlier messages keep theirs in
// the old slab).
func (d *decoder) newEntry(start int) (*raft.Entry, int) {
	if len(d.entries) == cap(d.entries) {
		mine := d.entries[start:]
		grown := make([]raft.Entry, len(mine), max(2*len(mine), d.entryHint, 16))
		copy(grown, mine)
		d.entries, start = grown, 0
	}
	d.entries = d.entries[:len(d.entries)+1]
	return &d.entries[len(d.entries)-1], start
}

func (d *decoder) newRaftMessage() *raft.Message {
	if len(d.rafts) == cap(d.rafts) {
		d.rafts = make([]raft.Message, 0, 16)
	}
	d.rafts = d.rafts[:len(d.rafts)+1]
	return &d.rafts[len(d.rafts)-1]
}

func (d *decoder) item() error {
	d.items++
	if d.items > maxBatchItems {
		return fmt.Errorf("peer: more than %d items in a batch", maxBatchItems)
	}
	return nil
}

// fields runs fn for each field of the encoded struct in buf; fn returns
// handled=false for a field it does not know, which is skipped.
func fields(buf []byte, fn func(r *reader, field, wire int) (handled bool, err error)) error {
	r := reader{buf: buf}
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return err
		}
		handled, err := fn(&r, field, wire)
		if err != nil {
			return fmt.Errorf("field %d: %w", field, err)
		}
		if !handled {
			if err := r.skip(wire); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *decoder) peerMessage(buf []byte, m *session.PeerMessage) error {
	r := reader{buf: buf}
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return err
		}
		var v uint64
		var sub []byte
		switch field {
		case 1:
			m.Group, err = r.uint(wire)
		case 2:
			v, err = r.uint(wire)
			m.From = raft.NodeID(v)
		case 3:
			v, err = r.uint(wire)
			m.To = raft.NodeID(v)
		case 4:
			if sub, err = r.nested(wire); err == nil {
				if m.Raft == nil {
					m.Raft = d.newRaftMessage()
				}
				err = d.raftMessage(sub, m.Raft)
			}
		case 5:
			if sub, err = r.nested(wire); err == nil {
				if m.Forward == nil {
					m.Forward = &session.Forward{}
				}
				err = d.forward(sub, m.Forward)
			}
		case 6:
			if sub, err = r.nested(wire); err == nil {
				if m.ForwardReply == nil {
					m.ForwardReply = &session.ForwardReply{}
				}
				err = d.forwardReply(sub, m.ForwardReply)
			}
		case 7:
			if sub, err = r.nested(wire); err == nil {
				if m.KeepAlive == nil {
					m.KeepAlive = &session.KeepAlive{}
				}
				err = d.keepAlive(sub, m.KeepAlive)
			}
		case 8:
			if sub, err = r.nested(wire); err == nil {
				if m.KeepAliveAck == nil {
					m.KeepAliveAck = &session.KeepAliveAck{}
				}
				err = d.keepAliveAck(sub, m.KeepAliveAck)
			}
		default:
			err = r.skip(wire)
		}
		if err != nil {
			return fmt.Errorf("field %d: %w", field, err)
		}
	}
	return nil
}

func (d *decoder) raftMessage(buf []byte, m *raft.Message) error {
	// The entries go to the batch's slab, unless a repeated field merges
	// into entries decoded before.
	slab, start := m.Entries == nil, len(d.entries)
	r := reader{buf: buf}
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return err
		}
		var v uint64
		var t uint8
		var sub []byte
		switch field {
		case 1:
			t, err = r.uint8(wire)
			m.Type = raft.MessageType(t)
		case 2:
			v, err = r.uint(wire)
			m.From = raft.NodeID(v)
		case 3:
			v, err = r.uint(wire)
			m.To = raft.NodeID(v)
		case 4:
			m.Term, err = r.uint(wire)
		case 5:
			m.LogTerm, err = r.uint(wire)
		case 6:
			m.Index, err = r.uint(wire)
		case 7:
			if sub, err = r.nested(wire); err == nil {
				if err = d.item(); err == nil {
					var e *raft.Entry
					if slab {
						e, start = d.newEntry(start)
					} else {
						m.Entries = append(m.Entries, raft.Entry{})
						e = &m.Entries[len(m.Entries)-1]
					}
					err = d.entry(sub, e)
				}
			}
		case 8:
			m.Commit, err = r.uint(wire)
		case 9:
			m.Reject, err = r.bool(wire)
		case 10:
			m.RejectHint, err = r.uint(wire)
		case 11:
			if sub, err = r.nested(wire); err == nil {
				if m.Snapshot == nil {
					m.Snapshot = &raft.Snapshot{}
				}
				err = d.snapshot(sub, m.Snapshot)
			}
		case 12:
			m.Context, err = r.nested(wire)
		case 13:
			m.Round, err = r.uint(wire)
		default:
			err = r.skip(wire)
		}
		if err != nil {
			return fmt.Errorf("field %d: %w", field, err)
		}
	}
	if slab && len(d.entries) > start {
		m.Entries = d.entries[start:len(d.entries):len(d.entries)]
	}
	return nil
}

func (d *decoder) entry(buf []byte, e *raft.Entry) error {
	r := reader{buf: buf}
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return err
		}
		var t uint8
		switch field {
		case 1:
			e.Term, err = r.uint(wire)
		case 2:
			e.Index, err = r.uint(wire)
		case 3:
			t, err = r.uint8(wire)
			e.Type = raft.EntryType(t)
		case 4:
			e.Data, err = r.nested(wire)
		default:
			err = r.skip(wire)
		}
		if err != nil {
			return fmt.Errorf("field %d: %w", field, err)
		}
	}
	return nil
}

func (d *decoder) snapshot(buf []byte, s *raft.Snapshot) error {
	return fields(buf, func(r *reader, field, wire int) (bool, error) {
		var err error
		var sub []byte
		switch field {
		case 1:
			if sub, err = r.nested(wire); err == nil {
				err = d.snapshotMeta(sub, &s.Meta)
			}
		case 2:
			s.Data, err = r.nested(wire)
		default:
			return false, nil
		}
		return true, err
	})
}

func (d *decoder) snapshotMeta(buf []byte, m *raft.SnapshotMeta) error {
	return fields(buf, func(r *reader, field, wire int) (bool, error) {
		var err error
		var sub []byte
		switch field {
		case 1:
			m.Index, err = r.uint(wire)
		case 2:
			m.Term, err = r.uint(wire)
		case 3:
			if sub, err = r.nested(wire); err == nil {
				err = d.confState(sub, &m.Conf)
			}
		default:
			return false, nil
		}
		return true, err
	})
}

func (d *decoder) confState(buf []byte, c *raft.ConfState) error {
	return fields(buf, func(r *reader, field, wire int) (bool, error) {
		var list *[]raft.NodeID
		switch field {
		case 1:
			list = &c.Voters
		case 2:
			list = &c.Learners
		case 3:
			sub, err := r.nested(wire)
			if err == nil {
				err = d.item()
			}
			if err != nil {
				return true, err
			}
			var id uint64
			var addr string
			err = fields(sub, func(r *reader, field, wire int) (bool, error) {
				var err error
				switch field {
				case 1:
					id, err = r.uint(wire)
				case 2:
					addr, err = r.string(wire)
				default:
					return false, nil
				}
				return true, err
			})
			if err == nil {
				if c.Addresses == nil {
					c.Addresses = map[raft.NodeID]string{}
				}
				c.Addresses[raft.NodeID(id)] = addr
			}
			return true, err
		default:
			return false, nil
		}
		v, err := r.uint(wire)
		if err == nil {
			err = d.item()
		}
		if err == nil {
			*list = append(*list, raft.NodeID(v))
		}
		return true, err
	})
}

func (d *decoder) forward(buf []byte, f *session.Forward) error {
	r := reader{buf: buf}
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return err
		}
		var v uint64
		var s string
		switch field {
		case 1:
			f.ID, err = r.uint(wire)
		case 2:
			f.Command, err = r.nested(wire)
		case 3:
			s, err = r.string(wire)
			f.Become = session.BecomeKind(s)
		case 4:
			v, err = r.uint(wire)
			f.Node = raft.NodeID(v)
		case 5:
			f.Address, err = r.string(wire)
		case 6:
			f.Term, err = r.uint(wire)
		default:
			err = r.skip(wire)
		}
		if err != nil {
			return fmt.Errorf("field %d: %w", field, err)
		}
	}
	return nil
}

func (d *decoder) forwardReply(buf []byte, f *session.ForwardReply) error {
	r := reader{buf: buf}
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return err
		}
		var s string
		switch field {
		case 1:
			f.ID, err = r.uint(wire)
		case 2:
			f.Index, err = r.uint(wire)
		case 3:
			f.Term, err = r.uint(wire)
		case 4:
			s, err = r.string(wire)
			f.Code = fsm.Code(s)
		case 5:
			f.Message, err = r.string(wire)
		default:
			err = r.skip(wire)
		}
		if err != nil {
			return fmt.Errorf("field %d: %w", field, err)
		}
	}
	return nil
}

func (d *decoder) keepAlive(buf []byte, k *session.KeepAlive) error {
	return d.idAndStrings(buf, &k.ID, &k.Sessions)
}

func (d *decoder) keepAliveAck(buf []byte, k *session.KeepAliveAck) error {
	return d.idAndStrings(buf, &k.ID, &k.Refused)
}

// idAndStrings reads KeepAlive and KeepAliveAck, which share their shape:
// 1 id, 2 repeated string.
func (d *decoder) idAndStrings(buf []byte, id *uint64, list *[]string) error {
	r := reader{buf: buf}
	for !r.done() {
		field, wire, err := r.key()
		if err != nil {
			return err
		}
		var s string
		switch field {
		case 1:
			*id, err = r.uint(wire)
		case 2:
			if s, err = r.string(wire); err == nil {
				if err = d.item(); err == nil {
					*list = append(*list, s)
				}
			}
		default:
			err = r.skip(wire)
		}
		if err != nil {
			return fmt.Errorf("field %d: %w", field, err)
		}
	}
	return nil
}
