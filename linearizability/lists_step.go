package linearizability

import "math"

// stepList is the sequential specification of one list: it returns the
// states the list can be in after the operation, given its answer, and none
// if the answer is impossible in state s. known is false when the client
// never learned the answer.
//
// For an answer the client never learned, a write is applied here whenever
// it could succeed here. It never has to be "not applied" here: its return
// time is infinite, so porcupine may also place it after every other
// operation, where nothing observes it, which is the same as it never having
// taken effect (or having failed).
func stepList(s listState, in ListsInput, out ListsOutput, known bool) []listState {
	if known && out.Code.withoutEffect() {
		return []listState{s}
	}
	switch in.Op {
	case ReadList:
		return stepRead(s, out, known)
	case PushItem:
		return stepPush(s, in, out, known)
	case UpdateItem, DeleteItem:
		return stepChange(s, in, out, known)
	case EndSession:
		return stepEnd(s, in, out, known)
	default:
		return nil
	}
}

// oneIf is the usual answer of a step that leaves the state as it is:
// legal exactly when possible.
func oneIf(s listState, possible bool) []listState {
	if !possible {
		return nil
	}
	return []listState{s}
}

// withAnswer checks the list a write's answer carries, when it carries one.
func withAnswer(s listState, out ListsOutput) []listState {
	if !out.HasItems {
		return []listState{s}
	}
	next, ok := s.matchAnswer(out.Items, out.Version)
	return oneIf(next, ok)
}

// stepRead: a linearizable read shows exactly the list and its version.
func stepRead(s listState, out ListsOutput, known bool) []listState {
	if !known {
		return []listState{s}
	}
	if out.Code != CodeOK {
		return nil
	}
	next, ok := s.matchAnswer(out.Items, out.Version)
	return oneIf(next, ok)
}

// stepPush: a push by a live session whose condition holds appends its item,
// whose version is the push's log index.
func stepPush(s listState, in ListsInput, out ListsOutput, known bool) []listState {
	expired := s.hasEnded(in.Session)
	if !known {
		if expired {
			return []listState{s}
		}
		next := s.clone()
		if in.IfVersion != nil && !next.learnVersion(*in.IfVersion) {
			return []listState{s} // it would have been a Conflict
		}
		next.advanceUnknown()
		next.items = append(next.items, listEntry{
			Item:       Item{Owner: in.Session, Data: in.Data},
			minVersion: next.version,
			maxVersion: math.MaxUint64,
		})
		return []listState{next}
	}
	switch out.Code {
	case CodeOK:
		if expired {
			return nil
		}
		next := s.clone()
		if in.IfVersion != nil && !next.learnVersion(*in.IfVersion) {
			return nil
		}
		if !next.advance(out.Version) {
			return nil
		}
		next.items = append(next.items, listEntry{Item: Item{Version: out.Version, Owner: in.Session, Data: in.Data}})
		return withAnswer(next, out)
	case CodeConflict:
		return oneIf(s, s.couldConflict(in.IfVersion))
	case CodeSessionExpired:
		return oneIf(s, expired)
	default:
		return nil
	}
}

// ownTargets returns the positions of the entries an update or delete by
// in.Session can act on: the item with version in.Item if the session owns
// it, or else every item of the session whose unknown version can be
// in.Item (the client may have learned a version the history never showed).
func (s listState) ownTargets(in ListsInput) []int {
	if found := s.knownItem(in.Item); found >= 0 {
		if s.items[found].Owner != in.Session {
			return nil
		}
		return []int{found}
	}
	var targets []int
	for i, entry := range s.items {
		if entry.Owner == in.Session && s.couldBe(i, in.Item) {
			targets = append(targets, i)
		}
	}
	return targets
}

// couldBeForbidden reports whether in.Item can be an item that another
// session owns.
func (s listState) couldBeForbidden(in ListsInput) bool {
	if found := s.knownItem(in.Item); found >= 0 {
		return s.items[found].Owner != in.Session
	}
	for i, entry := range s.items {
		if entry.Owner != in.Session && s.couldBe(i, in.Item) {
			return true
		}
	}
	return false
}

// changeItem applies an update or delete to the entry at target, which
// ownTargets returned. index is the write's log index, 0 if unknown.
func (s listState) changeItem(target int, in ListsInput, index uint64) (listState, bool) {
	next := s.clone()
	if in.IfVersion != nil && !next.learnVersion(*in.IfVersion) {
		return s, false
	}
	if next.items[target].versionUnknown() && !next.bindVersion(target, in.Item) {
		return s, false
	}
	if index == 0 {
		next.advanceUnknown()
	} else if !next.advance(index) {
		return s, false
	}
	if in.Op == UpdateItem {
		next.items[target].Data = in.Data
	} else {
		next.items = append(next.items[:target], next.items[target+1:]...)
	}
	return next, true
}

// stepChange: an update or delete by a live session, of an item it owns,
// whose condition holds, changes or removes the item. When several failures
// apply at once any of their codes is accepted: the contract fixes no
// precedence among them.
func stepChange(s listState, in ListsInput, out ListsOutput, known bool) []listState {
	expired := s.hasEnded(in.Session)
	if !known {
		if expired {
			return []listState{s}
		}
		var next []listState
		for _, target := range s.ownTargets(in) {
			if changed, ok := s.changeItem(target, in, 0); ok {
				next = append(next, changed)
			}
		}
		if len(next) == 0 {
			return []listState{s} // it would have failed
		}
		return next
	}
	switch out.Code {
	case CodeOK:
		if expired {
			return nil
		}
		var next []listState
		for _, target := range s.ownTargets(in) {
			changed, ok := s.changeItem(target, in, out.Version)
			if ok {
				next = append(next, withAnswer(changed, out)...)
			}
		}
		return next
	case CodeNotFound:
		return oneIf(s, s.knownItem(in.Item) < 0)
	case CodeForbidden:
		return oneIf(s, s.couldBeForbidden(in))
	case CodeConflict:
		return oneIf(s, s.couldConflict(in.IfVersion))
	case CodeSessionExpired:
		return oneIf(s, expired)
	default:
		return nil
	}
}

// stepEnd: ending a live session removes its items from the list in one
// change, at the end's index, and makes its later writes fail. Ending a
// session that already ended changes nothing (a close can race an expiry).
func stepEnd(s listState, in ListsInput, out ListsOutput, known bool) []listState {
	if s.hasEnded(in.Session) {
		return oneIf(s, !known || out.Code == CodeOK || out.Code == CodeSessionExpired)
	}
	next := s.clone()
	removed := next.removeOwnedBy(in.Session)
	next.markEnded(in.Session)
	if !known {
		if removed {
			next.advanceUnknown()
		}
		return []listState{next}
	}
	if out.Code != CodeOK {
		return nil
	}
	if !next.precede(out.Version) {
		return nil
	}
	if removed {
		next.version, next.versionKnown = out.Version, true
	}
	return []listState{next}
}
