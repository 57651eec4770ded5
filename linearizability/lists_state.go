package linearizability

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// listState is what the model knows about one list (one partition) at one
// point of a linearization. Porcupine keeps old states to backtrack to, so a
// state is never changed once built: every step works on a clone.
//
// Versions are Raft log indexes chosen by the system, so the model does not
// predict them; it learns them from answers and checks that they are
// consistent: applied in log order, the changes to a list carry growing
// indexes. When a write's answer was lost, the model does not know the index
// it got, and keeps bounds on it instead until a read shows it.
type listState struct {
	// items in version order, which is also the order they were pushed in,
	// since a later push gets a larger log index.
	items []listEntry
	// version is the list version when versionKnown. Otherwise the list was
	// last changed by a write whose index nobody learned, and version is the
	// least value it can have.
	version      uint64
	versionKnown bool
	// ended holds, sorted, the sessions whose end is already linearized;
	// their writes fail with SessionExpired from then on. The slice is
	// shared between states and replaced, never modified, when it grows.
	ended []string
	// endedHash is the XOR of the hashes of ended, kept so that hashing a
	// state does not walk every session that ever ended.
	endedHash uint64
}

// listEntry is an item of the model's list. A push whose answer was lost
// leaves an item whose version is unknown: Version is 0 (no log entry has
// index 0) and the version is known to lie in [minVersion, maxVersion] until
// a read or a write on it shows it.
type listEntry struct {
	Item
	minVersion uint64
	maxVersion uint64
}

func (e listEntry) versionUnknown() bool { return e.Version == 0 }

func (s listState) clone() listState {
	s.items = slices.Clone(s.items)
	return s
}

func (s listState) hasEnded(session string) bool {
	i := sort.SearchStrings(s.ended, session)
	return i < len(s.ended) && s.ended[i] == session
}

func (s *listState) markEnded(session string) {
	if s.hasEnded(session) {
		return
	}
	i := sort.SearchStrings(s.ended, session)
	s.ended = slices.Insert(slices.Clip(s.ended), i, session)
	s.endedHash ^= fnvString(fnvOffset, session)
}

// versionCouldBe reports whether the list version can be v.
func (s listState) versionCouldBe(v uint64) bool {
	if s.versionKnown {
		return s.version == v
	}
	return v >= s.version
}

// couldConflict reports whether a write conditional on ifVersion can have
// been refused with Conflict.
func (s listState) couldConflict(ifVersion *uint64) bool {
	if ifVersion == nil {
		return false
	}
	// An unknown version can differ from any value.
	return !s.versionKnown || s.version != *ifVersion
}

// learnVersion records that the list version is v, because an answer showed
// it or a write conditional on it succeeded. It reports false if v is
// impossible.
func (s *listState) learnVersion(v uint64) bool {
	if !s.versionCouldBe(v) {
		return false
	}
	s.version, s.versionKnown = v, true
	// Every item was created at or before the list's last change.
	return s.capUnknownVersions(v)
}

// precede records that the log entry at index comes after every change made
// to the list so far. Every node applies committed entries in index order
// (Figure 2, lastApplied; §5.3), so a write linearized after the list's last
// change has a larger index, whether or not it changes this list itself.
func (s *listState) precede(index uint64) bool {
	// With an unknown version, the last change has some index >= version,
	// and one below index exists exactly when index > version.
	if index <= s.version {
		return false
	}
	return s.capUnknownVersions(index - 1)
}

// advance records a change made to the list by the log entry at index.
func (s *listState) advance(index uint64) bool {
	if !s.precede(index) {
		return false
	}
	s.version, s.versionKnown = index, true
	return true
}

// advanceUnknown records a change made by an entry whose index the client
// never learned: larger than the last change's, by how much nobody knows.
func (s *listState) advanceUnknown() {
	s.version, s.versionKnown = s.version+1, false
}

// capUnknownVersions records that every unknown item version is at most
// limit, and reports false if one can no longer have any value.
func (s *listState) capUnknownVersions(limit uint64) bool {
	for i := range s.items {
		entry := &s.items[i]
		if entry.versionUnknown() && entry.maxVersion > limit {
			entry.maxVersion = limit
			if entry.minVersion > entry.maxVersion {
				return false
			}
		}
	}
	return true
}

// knownItem returns the position of the item whose version is known to be
// version, or -1.
func (s listState) knownItem(version uint64) int {
	for i, entry := range s.items {
		if entry.Version == version && !entry.versionUnknown() {
			return i
		}
	}
	return -1
}

// couldBe reports whether the entry at i has an unknown version that can be
// version.
func (s listState) couldBe(i int, version uint64) bool {
	entry := s.items[i]
	return entry.versionUnknown() && entry.minVersion <= version && version <= entry.maxVersion
}

// bindVersion records that the unknown version of the entry at i is
// version, and reports false if that is impossible. Versions order the list,
// so the entries before it get smaller versions and those after it larger.
func (s *listState) bindVersion(i int, version uint64) bool {
	if !s.couldBe(i, version) || version == 0 {
		return false
	}
	if s.versionKnown && version > s.version {
		return false
	}
	if !s.versionKnown && version > s.version {
		// The list's last change is no older than this item.
		s.version = version
	}
	for j := range s.items {
		other := &s.items[j]
		switch {
		case j == i:
			continue
		case j < i && other.versionUnknown():
			other.maxVersion = min(other.maxVersion, version-1)
		case j < i && other.Version >= version:
			return false
		case j > i && other.versionUnknown():
			other.minVersion = max(other.minVersion, version+1)
		case j > i && !other.versionUnknown() && other.Version <= version:
			return false
		}
		if other.versionUnknown() && other.minVersion > other.maxVersion {
			return false
		}
	}
	s.items[i] = listEntry{Item: Item{Version: version, Owner: s.items[i].Owner, Data: s.items[i].Data}}
	return true
}

// matchAnswer checks that an answer (a read's, or a write's that carries
// the list) shows exactly this list: the same items, in the same order, with
// the same versions, owners and data, and the same list version. Items
// whose version was unknown learn it from the answer. The receiver is not
// changed; the state with what was learned is returned.
func (s listState) matchAnswer(items []Item, version uint64) (listState, bool) {
	if len(items) != len(s.items) {
		return s, false
	}
	next := s.clone()
	for i, got := range items {
		if i > 0 && got.Version <= items[i-1].Version {
			return s, false // a list is ordered by version, ascending
		}
		want := next.items[i]
		if got.Owner != want.Owner || got.Data != want.Data {
			return s, false
		}
		if want.versionUnknown() {
			if !next.bindVersion(i, got.Version) {
				return s, false
			}
		} else if got.Version != want.Version {
			return s, false
		}
	}
	if len(items) > 0 && items[len(items)-1].Version > version {
		return s, false // an item is never newer than its list
	}
	if !next.learnVersion(version) {
		return s, false
	}
	return next, true
}

// removeOwnedBy removes every item of session and reports whether there
// was one.
func (s *listState) removeOwnedBy(session string) bool {
	before := len(s.items)
	s.items = slices.DeleteFunc(s.items, func(entry listEntry) bool { return entry.Owner == session })
	return len(s.items) != before
}

func (s listState) equal(other listState) bool {
	return s.version == other.version &&
		s.versionKnown == other.versionKnown &&
		s.endedHash == other.endedHash &&
		slices.Equal(s.items, other.items) &&
		slices.Equal(s.ended, other.ended)
}

func (s listState) hash() uint64 {
	h := fnvUint64(fnvOffset, s.version)
	if s.versionKnown {
		h = fnvUint64(h, 1)
	}
	for _, entry := range s.items {
		h = fnvUint64(h, entry.Version)
		h = fnvString(h, entry.Owner)
		h = fnvString(h, entry.Data)
		h = fnvUint64(h, entry.minVersion)
		h = fnvUint64(h, entry.maxVersion)
	}
	return h ^ s.endedHash
}

// String describes the state for the visualization, e.g.
// `v>=13 [#5 s1 "a", #? (13..15) s2 "b"] ended: s3`.
func (s listState) String() string {
	var b strings.Builder
	if s.versionKnown {
		fmt.Fprintf(&b, "v%d [", s.version)
	} else {
		fmt.Fprintf(&b, "v>=%d [", s.version)
	}
	for i, entry := range s.items {
		if i > 0 {
			b.WriteString(", ")
		}
		switch {
		case !entry.versionUnknown():
			fmt.Fprintf(&b, "#%d", entry.Version)
		case entry.maxVersion == math.MaxUint64:
			fmt.Fprintf(&b, "#? (>=%d)", entry.minVersion)
		default:
			fmt.Fprintf(&b, "#? (%d..%d)", entry.minVersion, entry.maxVersion)
		}
		fmt.Fprintf(&b, " %s %q", entry.Owner, entry.Data)
	}
	b.WriteString("]")
	if len(s.ended) > 0 {
		fmt.Fprintf(&b, " ended: %s", strings.Join(s.ended, ", "))
	}
	return b.String()
}
