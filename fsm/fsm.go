package fsm

import (
	"fmt"
	"slices"
	"strings"
)

// Item is one element of a list (PROTOCOL.md, "Data model").
//
// An Item is a plain value that shares nothing mutable with the Machine: Data
// is a string, so the same Item can sit in an answer, in every watcher's event
// and in the session layer's event history without being copied and without
// anyone being able to change the machine's state through it.
type Item struct {
	// Version is the log index of the entry that created the item: its id,
	// unique in the cluster and never reused, and a fencing token.
	Version uint64
	// Modified is the log index of its last update (= Version if never
	// updated).
	Modified uint64
	// Owner is the public id of the session that holds the item.
	Owner string
	// Data is the raw MessagePack encoding of the item's value (one value of
	// the kinds ValidateData allows). Encode it as raw bytes, for example
	// msgpack.RawMessage(item.Data).
	Data string
}

// EventKind says what happened to an item.
type EventKind string

// The event kinds, spelled as on the wire (PROTOCOL.md, "Watches").
const (
	EventPush   EventKind = "push"
	EventUpdate EventKind = "update"
	EventDelete EventKind = "delete"
)

// Event is one change to one list, for watchers.
type Event struct {
	Path string
	// Version is the index of the entry that made the change; all deletions
	// caused by one session end share it.
	Version uint64
	Kind    EventKind
	// Item is the item after the change, or as it was for EventDelete.
	Item Item
}

// SessionInfo describes a live session.
type SessionInfo struct {
	ID        string
	TokenHash [32]byte
	TTLms     uint64
	// Opened is the index of the entry that opened the session.
	Opened uint64
	// Items is how many items the session owns.
	Items int
}

// Result is what applying one entry did, for the node that answers the
// client who proposed it. Every node computes it; most ignore it.
type Result struct {
	// Code is OK, or why the command changed nothing.
	Code Code
	// Message explains a Code other than OK.
	Message string
	// Item is, for a push or update, the item after the change; for a
	// delete, the item as it was.
	Item Item
	// Version is, for a push, update or delete, the list's version after the
	// change (which is this entry's index).
	Version uint64
	// Session is, for OpenSession and CloseSession, the session opened or
	// ended (as it was just before it ended).
	Session SessionInfo
	// Expired echoes CloseSession.Expired.
	Expired bool

	// items is the list after a push, update or delete. It is a frozen
	// view the Machine never writes to again (lists are copy-on-write, see
	// items.go), so it stays right however many entries are applied after
	// this one.
	items items
}

// Items returns, for a push, update or delete, the list's items right after
// the change, ordered by version; empty for other commands and failures. It
// returns a fresh slice: callers may keep and modify it.
//
// It is a method rather than a field so that the copy is made only by the
// one node that answers the client, not by every node for every entry.
func (r Result) Items() []Item { return r.items.flat() }

// Err returns nil for OK, else an *Error with the result's code and message.
func (r Result) Err() error {
	if r.Code == OK {
		return nil
	}
	return &Error{Code: r.Code, Message: r.Message}
}

// Options configure a Machine. Every node of a Raft group must use the same
// Options: they are part of the state machine's definition, and a node with a
// different MaxItemBytes would accept an entry others refuse, and diverge.
type Options struct {
	// MaxItemBytes is max_item_bytes; zero or less means DefaultMaxItemBytes.
	MaxItemBytes int
}

// Machine is Haven's state machine: sessions and their ephemeral lists, as a
// pure function of the log. It reads no clock, draws no random number and
// does no I/O; the same entries in the same order give the same state, byte
// for byte (see Snapshot). It is not safe for concurrent use: the session
// layer applies entries one at a time.
type Machine struct {
	maxItemBytes int

	// applied is the index of the last entry applied (or restored).
	applied uint64
	// renewalIndex and renewalTerm record the latest RenewAll.
	renewalIndex uint64
	renewalTerm  uint64

	sessions map[string]*session
	// byToken finds a session from the hash of the token a client presents.
	byToken map[[32]byte]*session
	// lists holds every list ever written, including emptied ones: an
	// emptied list keeps its version, which PROTOCOL.md defines as the index
	// of its last change, so if_version and ETags stay honest.
	lists map[string]*list

	// itemCount and dataBytes are kept for Stats and checked by
	// CheckInvariants.
	itemCount int
	dataBytes int
}

// session is the machine's record of one live session.
type session struct {
	id        string
	tokenHash [32]byte
	ttlMs     uint64
	opened    uint64
	// owned lists the session's items by version, ascending. Pushes append
	// (a new version is the newest index, so order holds for free); a delete
	// removes one entry; the session's end walks it, so ending a session
	// costs what it owns, not what the whole machine holds.
	owned []ownedItem
}

// ownedItem points from a session to one of its items.
type ownedItem struct {
	version uint64
	path    string // the list's own path string, shared, not copied
}

// list is one path's list.
type list struct {
	path    string
	version uint64
	// items are ordered by version, ascending, in copy-on-write chunks
	// (items.go): a view handed out in a Result never changes, and an
	// update or delete copies one chunk, not the list.
	items items
}

// snapshot returns a frozen view of the list's items.
func (l *list) snapshot() items { return l.items.frozen() }

// find returns the position of the item with version, if present.
func (l *list) find(version uint64) (position, bool) { return l.items.find(version) }

func (s *session) info() SessionInfo {
	return SessionInfo{ID: s.id, TokenHash: s.tokenHash, TTLms: s.ttlMs, Opened: s.opened, Items: len(s.owned)}
}

// New returns an empty machine: no sessions, every list empty, nothing
// applied.
func New(opts Options) *Machine {
	if opts.MaxItemBytes <= 0 {
		opts.MaxItemBytes = DefaultMaxItemBytes
	}
	return &Machine{
		maxItemBytes: opts.MaxItemBytes,
		sessions:     map[string]*session{},
		byToken:      map[[32]byte]*session{},
		lists:        map[string]*list{},
	}
}

// Apply applies the entry at index whose Data is data, and returns what it
// did and the events it caused, ordered by path, then item version.
//
// Apply is total: a command that cannot be decoded or is not allowed in the
// current state (bad path, data too large, unknown or ended session, not
// the owner, no such item, if_version mismatch, ...) yields a Result with
// that Code and changes nothing but the applied index. Which check comes
// first is fixed (decode, then parameters, then session, then item, then
// owner, then if_version), so every node gives the same code.
//
// index must be greater than the last applied index; gaps are allowed (the
// log holds entries, such as configuration changes, that are not commands).
// Applying an index twice or out of order is a broken invariant of the
// caller and panics.
func (m *Machine) Apply(index uint64, data []byte) (Result, []Event) {
	if index <= m.applied {
		panic(fmt.Sprintf("fsm: Apply(%d) after index %d was applied: indexes must increase", index, m.applied))
	}
	m.applied = index
	raw, err := decodeRaw(data)
	if err != nil {
		return failed(err), nil
	}
	switch raw.kind {
	case kindOpenSession:
		return m.openSession(index, &raw), nil
	case kindCloseSession:
		return m.closeSession(index, &raw)
	case kindPush:
		return m.push(index, &raw)
	case kindUpdate:
		return m.update(index, &raw)
	case kindDelete:
		return m.delete(index, &raw)
	case kindRenewAll:
		return m.renewAll(index, &raw), nil
	default: // kindNoop: decodeRaw refuses kinds it does not know.
		return Result{Code: OK}, nil
	}
}

// failed turns an error from a check into the Result of a refused command.
func failed(err error) Result {
	return Result{Code: CodeOf(err), Message: err.Error()}
}

// Read returns the list at path, ordered by version, and its version. A
// path never written is an empty list with version 0. The slice is fresh:
// callers may keep and modify it. Read does not validate path; a path that
// ValidatePath refuses was never written, so it reads as empty.
func (m *Machine) Read(path string) ([]Item, uint64) {
	l := m.lists[path]
	if l == nil {
		return []Item{}, 0
	}
	return l.items.flat(), l.version
}

// Paths returns the path of every list ever written (emptied ones too),
// sorted.
func (m *Machine) Paths() []string {
	paths := make([]string, 0, len(m.lists))
	for path := range m.lists {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	return paths
}

// Session returns the live session with the public id.
func (m *Machine) Session(id string) (SessionInfo, bool) {
	s := m.sessions[id]
	if s == nil {
		return SessionInfo{}, false
	}
	return s.info(), true
}

// SessionByTokenHash returns the live session whose token hashes to hash.
func (m *Machine) SessionByTokenHash(hash [32]byte) (SessionInfo, bool) {
	s := m.byToken[hash]
	if s == nil {
		return SessionInfo{}, false
	}
	return s.info(), true
}

// Sessions returns every live session, sorted by id.
func (m *Machine) Sessions() []SessionInfo {
	out := make([]SessionInfo, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, s.info())
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AppliedIndex is the index of the last entry applied or restored.
func (m *Machine) AppliedIndex() uint64 { return m.applied }

// LastRenewal is the index of the latest RenewAll applied, 0 if none.
func (m *Machine) LastRenewal() uint64 { return m.renewalIndex }

// LastRenewalTerm is the term named by the latest RenewAll applied.
func (m *Machine) LastRenewalTerm() uint64 { return m.renewalTerm }

// Stats counts what the machine holds.
type Stats struct {
	Sessions int
	Lists    int // lists ever written, emptied ones included
	Items    int
	// DataBytes is the total size of all items' data.
	DataBytes int
}

// Stats returns the machine's counts, for metrics and the dashboard.
func (m *Machine) Stats() Stats {
	return Stats{Sessions: len(m.sessions), Lists: len(m.lists), Items: m.itemCount, DataBytes: m.dataBytes}
}

// MaxItemBytes is the limit this machine applies to an item's data.
func (m *Machine) MaxItemBytes() int { return m.maxItemBytes }
