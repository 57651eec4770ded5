package fsm

import (
	"cmp"
	"fmt"
	"slices"
)

// This file holds the three writes to a list: push, update and delete. Each
// runs every check before it touches anything, so a refused write leaves no
// partial change behind (PROTOCOL.md, "Response codes").

// push creates an item whose version is this entry's index (DESIGN.md, "One
// entry per write": the index is the item's id and fencing token).
func (m *Machine) push(index uint64, raw *rawCommand) (Result, []Event) {
	if err := validatePath(raw.path); err != nil {
		return failed(err), nil
	}
	if err := ValidateData(raw.data, m.maxItemBytes); err != nil {
		return failed(err), nil
	}
	writer, err := m.writer(raw)
	if err != nil {
		return failed(err), nil
	}
	l := m.lists[string(raw.path)] // the conversion does not allocate
	if err := checkIfVersion(raw, l); err != nil {
		return failed(err), nil
	}

	if l == nil {
		path := string(raw.path)
		l = &list{path: path}
		m.lists[path] = l
	}
	item := Item{Version: index, Modified: index, Owner: writer.id, Data: string(raw.data)}
	// Appending writes past the end of every frozen view, so none changes.
	l.items.push(item)
	l.version = index
	writer.owned = append(writer.owned, ownedItem{version: index, path: l.path})
	m.itemCount++
	m.dataBytes += len(item.Data)

	event := Event{Path: l.path, Version: index, Kind: EventPush, Item: item}
	return Result{Code: OK, Item: item, Version: index, items: l.snapshot()}, []Event{event}
}

// update replaces an item's data; the item keeps its version and position.
func (m *Machine) update(index uint64, raw *rawCommand) (Result, []Event) {
	if err := validatePath(raw.path); err != nil {
		return failed(err), nil
	}
	if err := ValidateData(raw.data, m.maxItemBytes); err != nil {
		return failed(err), nil
	}
	writer, err := m.writer(raw)
	if err != nil {
		return failed(err), nil
	}
	l, position, err := m.ownedItem(raw, writer)
	if err != nil {
		return failed(err), nil
	}

	before := l.items.at(position)
	item := Item{Version: before.Version, Modified: index, Owner: before.Owner, Data: string(raw.data)}
	// Copy-on-write: frozen views keep the old chunk.
	l.items.replace(position, item)
	l.version = index
	m.dataBytes += len(item.Data) - len(before.Data)

	event := Event{Path: l.path, Version: index, Kind: EventUpdate, Item: item}
	return Result{Code: OK, Item: item, Version: index, items: l.snapshot()}, []Event{event}
}

// delete removes one item before its session ends.
func (m *Machine) delete(index uint64, raw *rawCommand) (Result, []Event) {
	if err := validatePath(raw.path); err != nil {
		return failed(err), nil
	}
	writer, err := m.writer(raw)
	if err != nil {
		return failed(err), nil
	}
	l, position, err := m.ownedItem(raw, writer)
	if err != nil {
		return failed(err), nil
	}

	item := l.items.at(position)
	// Copy-on-write: a new chunk without the item.
	l.items.remove(position)
	l.version = index
	writer.forget(item.Version)
	m.itemCount--
	m.dataBytes -= len(item.Data)

	event := Event{Path: l.path, Version: index, Kind: EventDelete, Item: item}
	return Result{Code: OK, Item: item, Version: index, items: l.snapshot()}, []Event{event}
}

// writer finds the live session a write comes from. An unknown session is
// answered SessionExpired, as a closed one is: the machine keeps no record
// of ended sessions (ids are random and never reused), and for the client
// the two are the same thing, its session is gone.
func (m *Machine) writer(raw *rawCommand) (*session, error) {
	s := m.sessions[string(raw.session)]
	if s == nil {
		return nil, Errorf(SessionExpired, "session %q has ended or never existed", raw.session)
	}
	return s, nil
}

// ownedItem finds the item an update or delete names and checks that the
// writer may change it, in the fixed order NotFound, Forbidden, Conflict.
func (m *Machine) ownedItem(raw *rawCommand, writer *session) (*list, position, error) {
	l := m.lists[string(raw.path)]
	if l == nil {
		return nil, position{}, Errorf(NotFound, "no item %d in %s: the list is empty", raw.item, raw.path)
	}
	at, found := l.find(raw.item)
	if !found {
		return nil, position{}, Errorf(NotFound, "no item %d in %s", raw.item, raw.path)
	}
	if owner := l.items.at(at).Owner; owner != writer.id {
		return nil, position{}, Errorf(Forbidden, "item %d in %s belongs to session %q, not %q", raw.item, raw.path, owner, writer.id)
	}
	if err := checkIfVersion(raw, l); err != nil {
		return nil, position{}, err
	}
	return l, at, nil
}

// checkIfVersion is the etag test-and-set: with if_version, the write goes
// ahead only if the list's version still equals it. l is nil for a list
// never written, whose version is 0.
func checkIfVersion(raw *rawCommand, l *list) error {
	if !raw.hasIfVersion {
		return nil
	}
	var version uint64
	if l != nil {
		version = l.version
	}
	if version != raw.ifVersion {
		return Errorf(Conflict, "list %s is at version %d, not if_version %d", raw.path, version, raw.ifVersion)
	}
	return nil
}

// forget removes version from the session's owned items.
func (s *session) forget(version uint64) {
	position, found := s.position(version)
	if !found {
		panic(fmt.Sprintf("fsm: item %d is not among the owned items of its owner %q", version, s.id))
	}
	s.owned = slices.Delete(s.owned, position, position+1)
}

// position finds version in the session's owned items.
func (s *session) position(version uint64) (int, bool) {
	return slices.BinarySearchFunc(s.owned, version, func(o ownedItem, v uint64) int {
		return cmp.Compare(o.version, v)
	})
}
