package fsm

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
)

// ErrBadSnapshot is wrapped by every error Restore returns.
var ErrBadSnapshot = errors.New("fsm: bad snapshot")

// Snapshot layout. Everything that can be iterated is written in sorted
// order (sessions by id, lists by path, items by version), so the same state
// always gives the same bytes, whatever order it was built in:
//
//	"havenfsm"  magic
//	byte        format (1)
//	uvarint     applied index, renewal index, renewal term
//	uvarint     session count, then per session, by id:
//	              id (uvarint length + bytes), token hash (32 bytes),
//	              ttl_ms (uvarint), opened (uvarint)
//	uvarint     list count, then per list, by path:
//	              path (uvarint length + bytes), version (uvarint),
//	              item count (uvarint), then per item, by version:
//	                version, modified, owner (uvarints; the owner as its
//	                position in the session table), data (length + bytes)
//	4 bytes     CRC-32C (Castagnoli) of everything before, big-endian
//
// Uvarints and strings use the same encoding as commands (see command.go).
const (
	snapshotMagic  = "havenfsm"
	snapshotFormat = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot renders the whole state. Restore(Snapshot()) on any machine gives
// a machine whose Snapshot() is the same bytes. It is Freeze().Serialize().
func (m *Machine) Snapshot() []byte { return m.Freeze().Serialize() }

// Frozen is the machine's state at one applied index, frozen in O(sessions
// + lists + chunks) without copying any item: lists are copy-on-write
// (items.go), so the frozen views stay as they were however the machine
// moves on. A Frozen shares no memory the machine writes, so Serialize may
// run on another goroutine while the machine keeps applying entries.
type Frozen struct {
	applied, renewalIndex, renewalTerm uint64
	sessions                           []frozenSession
	lists                              []frozenList
	itemCount, dataBytes               int
}

type frozenSession struct {
	id        string
	tokenHash [32]byte
	ttlMs     uint64
	opened    uint64
}

type frozenList struct {
	path    string
	version uint64
	items   items
}

// Freeze captures the machine's state for a snapshot taken later.
func (m *Machine) Freeze() *Frozen {
	f := &Frozen{
		applied: m.applied, renewalIndex: m.renewalIndex, renewalTerm: m.renewalTerm,
		sessions:  make([]frozenSession, 0, len(m.sessions)),
		lists:     make([]frozenList, 0, len(m.lists)),
		itemCount: m.itemCount, dataBytes: m.dataBytes,
	}
	for _, s := range m.sessions {
		f.sessions = append(f.sessions, frozenSession{id: s.id, tokenHash: s.tokenHash, ttlMs: s.ttlMs, opened: s.opened})
	}
	for _, l := range m.lists {
		// The chunk index is copied: appending to a list rewrites its last
		// chunk's header in place, which another goroutine must not read.
		view := l.items.frozen()
		view.chunks = slices.Clone(view.chunks)
		f.lists = append(f.lists, frozenList{path: l.path, version: l.version, items: view})
	}
	return f
}

// Index is the applied index the state was frozen at.
func (f *Frozen) Index() uint64 { return f.applied }

// Serialize renders the frozen state in the canonical snapshot form (the
// bytes Snapshot gives for that state). Sorting happens here, off the
// machine's path.
func (f *Frozen) Serialize() []byte {
	slices.SortFunc(f.sessions, func(a, b frozenSession) int { return strings.Compare(a.id, b.id) })
	slices.SortFunc(f.lists, func(a, b frozenList) int { return strings.Compare(a.path, b.path) })
	ownerPosition := make(map[string]uint64, len(f.sessions))
	for position, s := range f.sessions {
		ownerPosition[s.id] = uint64(position)
	}

	// A generous estimate, so the buffer grows once at most.
	size := len(snapshotMagic) + 1 + 3*binary.MaxVarintLen64 + 4 +
		len(f.sessions)*(32+MaxSessionIDBytes+3*binary.MaxVarintLen64) +
		len(f.lists)*(3*binary.MaxVarintLen64) + f.itemCount*(4*binary.MaxVarintLen64) + f.dataBytes
	for _, l := range f.lists {
		size += len(l.path)
	}
	buf := make([]byte, 0, size)

	buf = append(buf, snapshotMagic...)
	buf = append(buf, snapshotFormat)
	buf = binary.AppendUvarint(buf, f.applied)
	buf = binary.AppendUvarint(buf, f.renewalIndex)
	buf = binary.AppendUvarint(buf, f.renewalTerm)

	buf = binary.AppendUvarint(buf, uint64(len(f.sessions)))
	for _, s := range f.sessions {
		buf = appendBytes(buf, s.id)
		buf = append(buf, s.tokenHash[:]...)
		buf = binary.AppendUvarint(buf, s.ttlMs)
		buf = binary.AppendUvarint(buf, s.opened)
	}

	buf = binary.AppendUvarint(buf, uint64(len(f.lists)))
	for _, l := range f.lists {
		buf = appendBytes(buf, l.path)
		buf = binary.AppendUvarint(buf, l.version)
		buf = binary.AppendUvarint(buf, uint64(l.items.n))
		l.items.each(func(item Item) bool {
			buf = binary.AppendUvarint(buf, item.Version)
			buf = binary.AppendUvarint(buf, item.Modified)
			buf = binary.AppendUvarint(buf, ownerPosition[item.Owner])
			buf = appendBytes(buf, item.Data)
			return true
		})
	}
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// Restore replaces the machine's whole state with the one snapshot holds.
// It checks everything before it changes anything: bytes that are not a
// snapshot this version wrote (corrupt, truncated, or inconsistent) give an
// error wrapping ErrBadSnapshot and leave the machine as it was. The
// machine's Options are kept. Restored data is checked for form but not
// against MaxItemBytes, so a node whose limit was lowered still restores
// items accepted under the old one.
func (m *Machine) Restore(snapshot []byte) error {
	restored, err := decodeSnapshot(snapshot, m.maxItemBytes)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	if err := restored.CheckInvariants(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	*m = *restored
	return nil
}

func decodeSnapshot(snapshot []byte, maxItemBytes int) (*Machine, error) {
	header := len(snapshotMagic) + 1
	if len(snapshot) < header+4 {
		return nil, fmt.Errorf("%d bytes is too short", len(snapshot))
	}
	if string(snapshot[:len(snapshotMagic)]) != snapshotMagic {
		return nil, errors.New("no havenfsm magic at the start")
	}
	if format := snapshot[len(snapshotMagic)]; format != snapshotFormat {
		return nil, fmt.Errorf("format %d is unknown (this version reads %d)", format, snapshotFormat)
	}
	body, sum := snapshot[:len(snapshot)-4], snapshot[len(snapshot)-4:]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(sum) {
		return nil, errors.New("checksum mismatch")
	}

	m := New(Options{MaxItemBytes: maxItemBytes})
	r := commandReader{rest: body[header:]}
	m.applied = r.uvarint("applied index")
	m.renewalIndex = r.uvarint("renewal index")
	m.renewalTerm = r.uvarint("renewal term")
	if r.err == nil && m.renewalIndex > m.applied {
		return nil, fmt.Errorf("renewal index %d is after the applied index %d", m.renewalIndex, m.applied)
	}

	// creations holds the index of every entry that created something still
	// alive (a session or an item): one entry creates one thing at most.
	var creations []uint64

	sessionCount := r.count("session count", 32+3)
	table := make([]*session, 0, sessionCount)
	for range sessionCount {
		id := r.bytes("session id")
		hash := r.hash("token hash")
		ttl := r.uvarint("ttl_ms")
		opened := r.uvarint("opened")
		if r.err != nil {
			break
		}
		if err := validateSessionID(id); err != nil {
			return nil, err
		}
		if len(table) > 0 && strings.Compare(table[len(table)-1].id, string(id)) >= 0 {
			return nil, fmt.Errorf("session %q is not after %q: sessions must be sorted by id", id, table[len(table)-1].id)
		}
		if ttl == 0 || hash == ([32]byte{}) || opened == 0 || opened > m.applied {
			return nil, fmt.Errorf("session %q: ttl %d, token hash %x, opened %d (applied %d) are not possible", id, ttl, hash, opened, m.applied)
		}
		if m.byToken[hash] != nil {
			return nil, fmt.Errorf("sessions %q and %q share a token hash", m.byToken[hash].id, id)
		}
		s := &session{id: string(id), tokenHash: hash, ttlMs: ttl, opened: opened}
		table = append(table, s)
		m.sessions[s.id] = s
		m.byToken[hash] = s
		creations = append(creations, opened)
	}

	listCount := r.count("list count", 3)
	previousPath := ""
	for range listCount {
		path := r.bytes("path")
		version := r.uvarint("list version")
		itemCount := r.count("item count", 4)
		if r.err != nil {
			break
		}
		if err := validatePath(path); err != nil {
			return nil, err
		}
		if previousPath != "" && strings.Compare(previousPath, string(path)) >= 0 {
			return nil, fmt.Errorf("list %s is not after %s: lists must be sorted by path", path, previousPath)
		}
		if version == 0 || version > m.applied {
			return nil, fmt.Errorf("list %s: version %d is not in 1..%d", path, version, m.applied)
		}
		l := &list{path: string(path), version: version}
		previousPath = l.path
		m.lists[l.path] = l
		for range itemCount {
			itemVersion := r.uvarint("item version")
			modified := r.uvarint("item modified")
			ownerPosition := r.uvarint("item owner")
			data := r.bytes("item data")
			if r.err != nil {
				break
			}
			if err := checkRestoredItem(l, itemVersion, modified, ownerPosition, table); err != nil {
				return nil, err
			}
			// The limit may have been lowered since; form still matters.
			if err := ValidateData(data, math.MaxInt); err != nil {
				return nil, fmt.Errorf("list %s item %d: %w", l.path, itemVersion, err)
			}
			owner := table[ownerPosition]
			if itemVersion <= owner.opened {
				return nil, fmt.Errorf("list %s item %d was created before its owner %q opened at %d", l.path, itemVersion, owner.id, owner.opened)
			}
			l.items.push(Item{Version: itemVersion, Modified: modified, Owner: owner.id, Data: string(data)})
			owner.owned = append(owner.owned, ownedItem{version: itemVersion, path: l.path})
			m.itemCount++
			m.dataBytes += len(data)
			creations = append(creations, itemVersion)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the last list", len(r.rest))
	}

	slices.Sort(creations)
	for i := 1; i < len(creations); i++ {
		if creations[i] == creations[i-1] {
			return nil, fmt.Errorf("entry %d created two things (a session or item each)", creations[i])
		}
	}
	// Items were visited by path; each session's index is by version.
	for _, s := range table {
		slices.SortFunc(s.owned, func(a, b ownedItem) int { return cmp.Compare(a.version, b.version) })
	}
	return m, nil
}

// checkRestoredItem checks one item read from a snapshot against the list
// it sits in and the session table.
func checkRestoredItem(l *list, version, modified, ownerPosition uint64, table []*session) error {
	if version == 0 || modified < version || modified > l.version {
		return fmt.Errorf("list %s (version %d): item %d modified at %d is not possible", l.path, l.version, version, modified)
	}
	if l.items.n > 0 && l.items.last().Version >= version {
		return fmt.Errorf("list %s: item %d is not after item %d: items must be sorted by version", l.path, version, l.items.last().Version)
	}
	if ownerPosition >= uint64(len(table)) {
		return fmt.Errorf("list %s item %d: owner %d is not in the table of %d sessions", l.path, version, ownerPosition, len(table))
	}
	return nil
}

// count reads a count of records that each take at least minBytes, refusing
// one that claims more records than the bytes left could hold, so garbage
// cannot make Restore allocate for billions of records.
func (r *commandReader) count(field string, minBytes uint64) uint64 {
	n := r.uvarint(field)
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.rest))/minBytes {
		r.failf("%s: %d records cannot fit in %d bytes", field, n, len(r.rest))
		return 0
	}
	return n
}
