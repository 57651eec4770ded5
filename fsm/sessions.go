package fsm

import (
	"fmt"
	"slices"
	"strings"
)

// This file holds the commands about sessions: open, close or expire, and
// the renewal a new leader grants to all (PROTOCOL.md, "Sessions").

// MaxSessionIDBytes bounds a session's public id.
const MaxSessionIDBytes = MaxSegmentBytes

// validateSessionID checks a public session id: it follows the rules of a
// path segment, so it can appear unescaped in a path, a URL or a log line.
func validateSessionID(id []byte) error {
	if len(id) == 0 || len(id) > MaxSessionIDBytes {
		return Errorf(InvalidParameter, "session id must be 1–%d bytes, got %d", MaxSessionIDBytes, len(id))
	}
	for _, c := range id {
		if !segmentByte(c) {
			return Errorf(InvalidParameter, "session id %q: byte %q is not allowed (allowed: A-Z a-z 0-9 . _ ~ -)", id, c)
		}
	}
	return nil
}

// openSession creates a session. The session layer has drawn its id and
// token; the machine refuses one whose id or token hash is already in use,
// so that Session and SessionByTokenHash each name at most one session.
func (m *Machine) openSession(index uint64, raw *rawCommand) Result {
	if err := validateSessionID(raw.session); err != nil {
		return failed(err)
	}
	if raw.ttlMs == 0 {
		return failed(Errorf(InvalidParameter, "session %q: ttl_ms must be positive", raw.session))
	}
	if raw.tokenHash == ([32]byte{}) {
		return failed(Errorf(InvalidParameter, "session %q: the token hash is all zeros, which no token hashes to", raw.session))
	}
	if m.sessions[string(raw.session)] != nil {
		return failed(Errorf(Conflict, "session %q already exists", raw.session))
	}
	if m.byToken[raw.tokenHash] != nil {
		return failed(Errorf(Conflict, "session %q: another session already has this token", raw.session))
	}

	s := &session{id: string(raw.session), tokenHash: raw.tokenHash, ttlMs: raw.ttlMs, opened: index}
	m.sessions[s.id] = s
	m.byToken[s.tokenHash] = s
	return Result{Code: OK, Session: s.info()}
}

// closeSession ends a session, by close or by expiry, and removes every item
// it owns in this one entry. Each removed item yields a delete event whose
// version is this index; each list that loses an item gets this index as its
// version. The cost is what the session owns plus the lengths of the lists
// it touches, never the size of the whole machine.
func (m *Machine) closeSession(index uint64, raw *rawCommand) (Result, []Event) {
	s := m.sessions[string(raw.session)]
	if s == nil {
		return failed(Errorf(SessionExpired, "session %q has already ended or never existed", raw.session)), nil
	}
	ended := s.info()

	// Visit the items by path, then version: the order events must have.
	// owned is sorted by version, so a stable sort by path keeps versions
	// ascending within each path.
	owned := slices.Clone(s.owned)
	slices.SortStableFunc(owned, func(a, b ownedItem) int { return strings.Compare(a.path, b.path) })

	var events []Event // nil when the session owned nothing
	if len(owned) > 0 {
		events = make([]Event, 0, len(owned))
	}
	for start := 0; start < len(owned); {
		path := owned[start].path
		end := start + 1
		for end < len(owned) && owned[end].path == path {
			end++
		}
		events = m.removeFromList(index, path, owned[start:end], events)
		start = end
	}

	delete(m.sessions, s.id)
	delete(m.byToken, s.tokenHash)
	return Result{Code: OK, Session: ended, Expired: raw.expired}, events
}

// Removes is how many items applying data would remove: for a session's
// close or expiry, every item the session owns now; 0 for any other
// command, and for what does not decode (Apply refuses it). It decodes
// only a close's header, so a host may ask it of every entry it is about
// to apply, to bound the work of one step (session.Core does, through
// raft's ApplyCost). Closing a session also copies the surviving items of
// the lists it shares with others, which this does not count.
func (m *Machine) Removes(data []byte) int {
	if len(data) < 2 || data[0] != commandFormat || commandKind(data[1]) != kindCloseSession {
		return 0
	}
	r := commandReader{rest: data[2:]}
	id := r.bytes("id")
	if r.err != nil {
		return 0
	}
	if s := m.sessions[string(id)]; s != nil {
		return len(s.owned)
	}
	return 0
}

// removeFromList removes the items gone (sorted by version, all in the list
// at path) in one copy-on-write pass, appending a delete event for each.
func (m *Machine) removeFromList(index uint64, path string, gone []ownedItem, events []Event) []Event {
	l := m.lists[path]
	if l == nil || len(gone) > l.items.n {
		panic(fmt.Sprintf("fsm: a session owns %d items in %s, which holds fewer", len(gone), path))
	}
	next := 0 // the next of gone to find; both sides ascend by version
	l.items.removeEach(func(item Item) bool {
		return next < len(gone) && item.Version == gone[next].version
	}, func(item Item) {
		events = append(events, Event{Path: l.path, Version: index, Kind: EventDelete, Item: item})
		m.itemCount--
		m.dataBytes -= len(item.Data)
		next++
	})
	if next != len(gone) {
		panic(fmt.Sprintf("fsm: a session owns item %d in %s, which the list does not hold", gone[next].version, path))
	}
	l.version = index
	return events
}

// renewAll records that the leader of raw.term granted every session a fresh
// ttl. Terms only grow along the log (Raft §5.1), so a renewal naming an
// older term than one already applied is a proposer's mistake, refused.
func (m *Machine) renewAll(index uint64, raw *rawCommand) Result {
	if raw.term < m.renewalTerm {
		return failed(Errorf(Conflict, "renewal for term %d after one for term %d", raw.term, m.renewalTerm))
	}
	m.renewalIndex = index
	m.renewalTerm = raw.term
	return Result{Code: OK}
}
