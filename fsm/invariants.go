package fsm

import (
	"fmt"
	"iter"
	"maps"
	"slices"
)

// CheckInvariants verifies the machine's internal consistency and returns
// the first violation found, or nil. It walks the whole state, so it is for
// tests, the simulator (after every applied entry) and Restore, not for the
// hot path. A violation means a bug in this package, never bad input.
//
// The invariants:
//   - every list sits under its own path, was written (version > 0), and its
//     version is at most the applied index;
//   - a list's items ascend strictly by version, and each has
//     0 < version <= modified <= the list's version;
//   - every item's owner is a live session that lists the item among its
//     owned items, and every owned item is in that list, owned by it: so an
//     item disappears exactly when its session ends;
//   - each session's owned items ascend strictly by version, and each was
//     created after the session opened;
//   - the token index and the session table agree, one to one;
//   - the counters Stats reports match the state;
//   - the latest renewal is not after the applied index.
func (m *Machine) CheckInvariants() error {
	// The walk goes in map order, which costs no sort; only when it finds a
	// violation is it walked again in sorted order, so that the violation
	// reported is the same every run (the simulator calls this after every
	// applied entry, and its failures must replay).
	if err := m.checkInvariants(false); err != nil {
		return m.checkInvariants(true)
	}
	return nil
}

// checkInvariants is CheckInvariants' walk, over lists and sessions in
// sorted order or in map order.
func (m *Machine) checkInvariants(sorted bool) error {
	if m.renewalIndex > m.applied {
		return fmt.Errorf("fsm invariant: renewal index %d after applied index %d", m.renewalIndex, m.applied)
	}
	items, dataBytes := 0, 0
	for path, l := range inOrder(m.lists, sorted) {
		if l.path != path {
			return fmt.Errorf("fsm invariant: list under %q says its path is %q", path, l.path)
		}
		if l.version == 0 || l.version > m.applied {
			return fmt.Errorf("fsm invariant: list %s has version %d (applied %d)", path, l.version, m.applied)
		}
		if err := l.items.check(); err != nil {
			return fmt.Errorf("fsm invariant: list %s: %w", path, err)
		}
		var previous uint64
		for item := range l.items.each {
			if previous != 0 && previous >= item.Version {
				return fmt.Errorf("fsm invariant: list %s: item %d follows item %d", path, item.Version, previous)
			}
			if item.Version == 0 || item.Modified < item.Version || item.Modified > l.version {
				return fmt.Errorf("fsm invariant: list %s (version %d): item %d modified at %d", path, l.version, item.Version, item.Modified)
			}
			owner := m.sessions[item.Owner]
			if owner == nil {
				return fmt.Errorf("fsm invariant: list %s: item %d is owned by %q, which is not a live session", path, item.Version, item.Owner)
			}
			if !owner.owns(item.Version, path) {
				return fmt.Errorf("fsm invariant: list %s: item %d is not among the owned items of %q", path, item.Version, item.Owner)
			}
			previous = item.Version
			items++
			dataBytes += len(item.Data)
		}
	}

	owned := 0
	for id, s := range inOrder(m.sessions, sorted) {
		if s.id != id {
			return fmt.Errorf("fsm invariant: session under %q says its id is %q", id, s.id)
		}
		if m.byToken[s.tokenHash] != s {
			return fmt.Errorf("fsm invariant: session %q is not found by its token hash", id)
		}
		for i, o := range s.owned {
			if i > 0 && s.owned[i-1].version >= o.version {
				return fmt.Errorf("fsm invariant: session %q: owned item %d follows %d", id, o.version, s.owned[i-1].version)
			}
			if o.version <= s.opened {
				return fmt.Errorf("fsm invariant: session %q opened at %d owns item %d, created before", id, s.opened, o.version)
			}
		}
		owned += len(s.owned)
	}
	if items != owned {
		// The walk of the lists found each item among its owner's owned
		// items, and no two items the same one (a list's versions ascend
		// strictly, and so do a session's): the counts agree exactly when
		// every owned item is in its list, so only a mismatch needs the
		// lookups, to name the one missing.
		if err := m.checkOwnedHeld(sorted); err != nil {
			return err
		}
	}
	if len(m.byToken) != len(m.sessions) {
		return fmt.Errorf("fsm invariant: %d token hashes for %d sessions", len(m.byToken), len(m.sessions))
	}
	if items != owned || items != m.itemCount || dataBytes != m.dataBytes {
		return fmt.Errorf("fsm invariant: %d items in lists, %d owned by sessions, %d counted; %d data bytes, %d counted",
			items, owned, m.itemCount, dataBytes, m.dataBytes)
	}
	return nil
}

// checkOwnedHeld finds an owned item that its list does not hold as its
// owner's.
func (m *Machine) checkOwnedHeld(sorted bool) error {
	for id, s := range inOrder(m.sessions, sorted) {
		for _, o := range s.owned {
			l := m.lists[o.path]
			if l == nil {
				return fmt.Errorf("fsm invariant: session %q owns item %d in %s, which was never written", id, o.version, o.path)
			}
			position, found := l.find(o.version)
			if !found || l.items.at(position).Owner != id {
				return fmt.Errorf("fsm invariant: session %q owns item %d in %s, which the list does not hold as its", id, o.version, o.path)
			}
		}
	}
	return nil
}

// owns reports whether the session's index holds the item.
func (s *session) owns(version uint64, path string) bool {
	position, found := s.position(version)
	return found && s.owned[position].path == path
}

// inOrder yields a map's entries in key order when sorted, else in map
// order, which costs no sort.
func inOrder[V any](m map[string]V, sorted bool) iter.Seq2[string, V] {
	if !sorted {
		return maps.All(m)
	}
	return func(yield func(string, V) bool) {
		for _, key := range slices.Sorted(maps.Keys(m)) {
			if !yield(key, m[key]) {
				return
			}
		}
	}
}
