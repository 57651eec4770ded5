package linearizability

import (
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// Builders for hand-made list histories. Paths are short ("/a") because
// the model does not validate them.

func listOp(client int, call, ret int64, in ListsInput, out any) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func readIn(path string) ListsInput { return ListsInput{Op: ReadList, Path: path} }

func pushIn(path, session, data string) ListsInput {
	return ListsInput{Op: PushItem, Path: path, Session: session, Data: data}
}

func updateIn(path, session string, item uint64, data string) ListsInput {
	return ListsInput{Op: UpdateItem, Path: path, Session: session, Item: item, Data: data}
}

func deleteIn(path, session string, item uint64) ListsInput {
	return ListsInput{Op: DeleteItem, Path: path, Session: session, Item: item}
}

func endIn(session string) ListsInput { return ListsInput{Op: EndSession, Session: session} }

// onlyIf makes a write conditional on the list version.
func onlyIf(in ListsInput, version uint64) ListsInput {
	in.IfVersion = &version
	return in
}

func okAt(index uint64) ListsOutput { return ListsOutput{Code: CodeOK, Version: index} }

func failed(code Code) ListsOutput { return ListsOutput{Code: code} }

func listed(version uint64, items ...Item) ListsOutput {
	return ListsOutput{Code: CodeOK, Version: version, Items: items}
}

func item(version uint64, owner, data string) Item {
	return Item{Version: version, Owner: owner, Data: data}
}

type listsCase struct {
	name string
	ops  []porcupine.Operation
	want bool
}

func runListsCases(t *testing.T, tests []listsCase) {
	t.Helper()
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			require.Equal(t, test.want, porcupine.CheckOperations(ListsModel, test.ops))
		})
	}
}

func TestListsModelReads(t *testing.T) {
	runListsCases(t, []listsCase{
		{"a list never written is empty at version 0", []porcupine.Operation{
			listOp(0, 0, 10, readIn("/a"), listed(0)),
		}, true},
		{"read after push sees it", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 20, 30, readIn("/a"), listed(5, item(5, "s1", "x"))),
		}, true},
		{"stale read after a completed push", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 20, 30, readIn("/a"), listed(0)),
		}, false},
		{"concurrent read sees the list before the push", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 5, 15, readIn("/a"), listed(0)),
		}, true},
		{"concurrent read sees the list after the push", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 5, 15, readIn("/a"), listed(5, item(5, "s1", "x"))),
		}, true},
		{"read with the wrong list version", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 20, 30, readIn("/a"), listed(6, item(5, "s1", "x"))),
		}, false},
		{"read with the wrong data", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 20, 30, readIn("/a"), listed(5, item(5, "s1", "y"))),
		}, false},
		{"read with the wrong owner", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 20, 30, readIn("/a"), listed(5, item(5, "s2", "x"))),
		}, false},
		{"read out of version order", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, 30, pushIn("/a", "s1", "y"), okAt(7)),
			listOp(1, 40, 50, readIn("/a"), listed(7, item(7, "s1", "y"), item(5, "s1", "x"))),
		}, false},
		{"lists are independent", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 20, 30, readIn("/b"), listed(0)),
		}, true},
		{"a failed read constrains nothing", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 20, 30, readIn("/a"), failed(CodeUnavailable)),
		}, true},
		{"a read cannot answer Conflict", []porcupine.Operation{
			listOp(1, 20, 30, readIn("/a"), failed(CodeConflict)),
		}, false},
	})
}

func TestListsModelPushVersions(t *testing.T) {
	runListsCases(t, []listsCase{
		{"versions grow with pushes", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, 30, pushIn("/a", "s1", "y"), okAt(9)),
			listOp(1, 40, 50, readIn("/a"), listed(9, item(5, "s1", "x"), item(9, "s1", "y"))),
		}, true},
		{"a later push gets a smaller version", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, 30, pushIn("/a", "s1", "y"), okAt(3)),
		}, false},
		{"a push reuses a version", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 20, 30, pushIn("/a", "s2", "y"), okAt(5)),
		}, false},
		{"concurrent pushes linearize in version order", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 5, 15, pushIn("/a", "s2", "y"), okAt(3)),
			listOp(2, 20, 30, readIn("/a"), listed(5, item(3, "s2", "y"), item(5, "s1", "x"))),
		}, true},
		{"a push gets version 0", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(0)),
		}, false},
		{"a push below a version already read", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, 30, deleteIn("/a", "s1", 5), okAt(8)),
			listOp(1, 40, 50, readIn("/a"), listed(8)),
			listOp(0, 60, 70, pushIn("/a", "s1", "y"), okAt(7)),
		}, false},
	})
}

func TestListsModelConditionalWrites(t *testing.T) {
	runListsCases(t, []listsCase{
		{"a conditional push on the current version succeeds", []porcupine.Operation{
			listOp(0, 0, 10, onlyIf(pushIn("/a", "s1", "x"), 0), okAt(4)),
			listOp(1, 20, 30, readIn("/a"), listed(4, item(4, "s1", "x"))),
		}, true},
		{"a conditional push on another version succeeds", []porcupine.Operation{
			listOp(0, 0, 10, onlyIf(pushIn("/a", "s1", "x"), 3), okAt(4)),
		}, false},
		{"a conflict when the version matched", []porcupine.Operation{
			listOp(0, 0, 10, onlyIf(pushIn("/a", "s1", "x"), 0), failed(CodeConflict)),
		}, false},
		{"a conflict on an unconditional write", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), failed(CodeConflict)),
		}, false},
		{"a push that returned Conflict has no effect", []porcupine.Operation{
			listOp(0, 0, 10, onlyIf(pushIn("/a", "s1", "x"), 3), failed(CodeConflict)),
			listOp(1, 20, 30, readIn("/a"), listed(0)),
		}, true},
		{"a push that returned Conflict shows up", []porcupine.Operation{
			listOp(0, 0, 10, onlyIf(pushIn("/a", "s1", "x"), 3), failed(CodeConflict)),
			listOp(1, 20, 30, readIn("/a"), listed(4, item(4, "s1", "x"))),
		}, false},
		{"an update that returned Conflict has no effect", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, 30, onlyIf(updateIn("/a", "s1", 5, "y"), 4), failed(CodeConflict)),
			listOp(1, 40, 50, readIn("/a"), listed(7, item(5, "s1", "y"))),
		}, false},
		{"a conditional push races a push: either wins", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 5, 15, onlyIf(pushIn("/a", "s2", "y"), 0), failed(CodeConflict)),
		}, true},
		{"a refused write leaves no change behind", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), failed(CodeTooLarge)),
			listOp(1, 20, 30, readIn("/a"), listed(0)),
		}, true},
		{"a refused write shows up", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), failed(CodeUnavailable)),
			listOp(1, 20, 30, readIn("/a"), listed(2, item(2, "s1", "x"))),
		}, false},
	})
}

func TestListsModelUpdatesAndDeletes(t *testing.T) {
	pushed := listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5))
	runListsCases(t, []listsCase{
		{"the owner updates", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, updateIn("/a", "s1", 5, "y"), okAt(6)),
			listOp(1, 40, 50, readIn("/a"), listed(6, item(5, "s1", "y"))),
		}, true},
		{"a read misses a completed update", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, updateIn("/a", "s1", 5, "y"), okAt(6)),
			listOp(1, 40, 50, readIn("/a"), listed(5, item(5, "s1", "x"))),
		}, false},
		{"another session updates", []porcupine.Operation{
			pushed,
			listOp(1, 20, 30, updateIn("/a", "s2", 5, "y"), okAt(6)),
		}, false},
		{"another session is forbidden", []porcupine.Operation{
			pushed,
			listOp(1, 20, 30, updateIn("/a", "s2", 5, "y"), failed(CodeForbidden)),
			listOp(1, 40, 50, readIn("/a"), listed(5, item(5, "s1", "x"))),
		}, true},
		{"the owner is forbidden", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, updateIn("/a", "s1", 5, "y"), failed(CodeForbidden)),
		}, false},
		{"an existing item is not found", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, deleteIn("/a", "s1", 5), failed(CodeNotFound)),
		}, false},
		{"a missing item is not found", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, deleteIn("/a", "s1", 6), failed(CodeNotFound)),
		}, true},
		{"a missing item is updated", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, updateIn("/a", "s1", 6, "y"), okAt(7)),
		}, false},
		{"the owner deletes", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, deleteIn("/a", "s1", 5), okAt(8)),
			listOp(1, 40, 50, readIn("/a"), listed(8)),
		}, true},
		{"a deleted item comes back", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, deleteIn("/a", "s1", 5), okAt(8)),
			listOp(1, 40, 50, readIn("/a"), listed(5, item(5, "s1", "x"))),
		}, false},
		{"a delete is deleted twice", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, deleteIn("/a", "s1", 5), okAt(8)),
			listOp(0, 40, 50, deleteIn("/a", "s1", 5), okAt(9)),
		}, false},
		{"several failures apply: any of their codes", []porcupine.Operation{
			pushed,
			listOp(1, 20, 30, onlyIf(updateIn("/a", "s2", 5, "y"), 1), failed(CodeConflict)),
			listOp(1, 40, 50, onlyIf(updateIn("/a", "s2", 5, "y"), 1), failed(CodeForbidden)),
		}, true},
		{"a write answer carries the list after it", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, updateIn("/a", "s1", 5, "y"), ListsOutput{
				Code: CodeOK, Version: 6, Items: []Item{item(5, "s1", "y")}, HasItems: true,
			}),
		}, true},
		{"a write answer carries the list before it", []porcupine.Operation{
			pushed,
			listOp(0, 20, 30, updateIn("/a", "s1", 5, "y"), ListsOutput{
				Code: CodeOK, Version: 6, Items: []Item{item(5, "s1", "x")}, HasItems: true,
			}),
		}, false},
	})
}

func TestListsModelSessionEnd(t *testing.T) {
	setup := []porcupine.Operation{
		listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
		listOp(0, 20, 30, pushIn("/b", "s1", "y"), okAt(6)),
		listOp(1, 40, 50, pushIn("/b", "s2", "z"), okAt(7)),
	}
	with := func(ops ...porcupine.Operation) []porcupine.Operation {
		return append(append([]porcupine.Operation(nil), setup...), ops...)
	}
	runListsCases(t, []listsCase{
		{"an end removes the session's items everywhere", with(
			listOp(0, 60, 70, endIn("s1"), okAt(9)),
			listOp(2, 80, 90, readIn("/a"), listed(9)),
			listOp(2, 80, 90, readIn("/b"), listed(9, item(7, "s2", "z"))),
		), true},
		{"an item outlives its session's end", with(
			listOp(0, 60, 70, endIn("s1"), okAt(9)),
			listOp(2, 80, 90, readIn("/a"), listed(9)),
			listOp(2, 80, 90, readIn("/b"), listed(7, item(6, "s1", "y"), item(7, "s2", "z"))),
		), false},
		{"an end leaves the list version of lists it did not touch", with(
			listOp(1, 60, 70, endIn("s2"), okAt(9)),
			listOp(2, 80, 90, readIn("/a"), listed(5, item(5, "s1", "x"))),
			listOp(2, 80, 90, readIn("/b"), listed(9, item(6, "s1", "y"))),
		), true},
		{"an end gives a touched list another version", with(
			listOp(0, 60, 70, endIn("s1"), okAt(9)),
			listOp(2, 80, 90, readIn("/a"), listed(5)),
		), false},
		{"an end's index precedes the list's last change", with(
			listOp(0, 60, 70, endIn("s1"), okAt(6)),
		), false},
		{"an end concurrent with a read", with(
			listOp(0, 60, 70, endIn("s1"), okAt(9)),
			listOp(2, 65, 75, readIn("/a"), listed(5, item(5, "s1", "x"))),
		), true},
		{"a push after the end succeeds", with(
			listOp(0, 60, 70, endIn("s1"), okAt(9)),
			listOp(0, 80, 90, pushIn("/a", "s1", "w"), okAt(10)),
		), false},
		{"a push after the end expires", with(
			listOp(0, 60, 70, endIn("s1"), okAt(9)),
			listOp(0, 80, 90, pushIn("/a", "s1", "w"), failed(CodeSessionExpired)),
			listOp(0, 80, 90, deleteIn("/b", "s1", 6), failed(CodeSessionExpired)),
		), true},
		{"a live session expires", with(
			listOp(0, 60, 70, pushIn("/a", "s1", "w"), failed(CodeSessionExpired)),
		), false},
		{"a session ends twice", with(
			listOp(0, 60, 70, endIn("s1"), okAt(9)),
			listOp(3, 60, 70, endIn("s1"), failed(CodeSessionExpired)),
		), true},
		{"an unknown end happened", with(
			listOp(0, 60, never, endIn("s1"), nil),
			listOp(2, 80, 90, readIn("/a"), listed(12)),
			listOp(2, 80, 90, readIn("/b"), listed(12, item(7, "s2", "z"))),
		), true},
		{"an unknown end did not happen", with(
			listOp(0, 60, never, endIn("s1"), nil),
			listOp(2, 80, 90, readIn("/a"), listed(5, item(5, "s1", "x"))),
		), true},
		{"an unknown end happened at an impossible index", with(
			listOp(0, 60, never, endIn("s1"), nil),
			listOp(2, 80, 90, readIn("/b"), listed(7, item(7, "s2", "z"))),
		), false},
	})
}

func TestListsModelUnknownOutcomes(t *testing.T) {
	runListsCases(t, []listsCase{
		{"an unknown push took effect", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, never, pushIn("/a", "s1", "y"), nil),
			listOp(1, 40, 50, readIn("/a"), listed(8, item(5, "s1", "x"), item(8, "s1", "y"))),
		}, true},
		{"an unknown push did not take effect", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, never, pushIn("/a", "s1", "y"), ListsOutput{Unknown: true}),
			listOp(1, 40, 50, readIn("/a"), listed(5, item(5, "s1", "x"))),
		}, true},
		{"an unknown push got a version below the list's", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, never, pushIn("/a", "s1", "y"), nil),
			listOp(1, 40, 50, readIn("/a"), listed(5, item(4, "s1", "y"), item(5, "s1", "x"))),
		}, false},
		{"an unknown push appears then disappears", []porcupine.Operation{
			listOp(0, 20, never, pushIn("/a", "s1", "y"), nil),
			listOp(1, 40, 50, readIn("/a"), listed(8, item(8, "s1", "y"))),
			listOp(1, 60, 70, readIn("/a"), listed(0)),
		}, false},
		{"an unknown push precedes a known one", []porcupine.Operation{
			listOp(0, 0, never, pushIn("/a", "s1", "y"), nil),
			listOp(1, 20, 30, pushIn("/a", "s2", "z"), okAt(9)),
			listOp(1, 40, 50, readIn("/a"), listed(9, item(8, "s1", "y"), item(9, "s2", "z"))),
		}, true},
		{"an unknown push read before a later push is newer than it", []porcupine.Operation{
			listOp(0, 0, never, pushIn("/a", "s1", "y"), nil),
			listOp(1, 20, 30, readIn("/a"), listed(8, item(8, "s1", "y"))),
			listOp(1, 40, 50, pushIn("/a", "s2", "z"), okAt(6)),
		}, false},
		{"an unknown conditional push on the wrong version", []porcupine.Operation{
			listOp(0, 0, never, onlyIf(pushIn("/a", "s1", "y"), 3), nil),
			listOp(1, 40, 50, readIn("/a"), listed(8, item(8, "s1", "y"))),
		}, false},
		{"an unknown push is updated by a version learned elsewhere", []porcupine.Operation{
			listOp(0, 0, never, pushIn("/a", "s1", "y"), nil),
			listOp(0, 20, 30, updateIn("/a", "s1", 7, "w"), okAt(8)),
			listOp(1, 40, 50, readIn("/a"), listed(8, item(7, "s1", "w"))),
		}, true},
		{"an unknown update took effect", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, never, updateIn("/a", "s1", 5, "y"), nil),
			listOp(1, 40, 50, readIn("/a"), listed(6, item(5, "s1", "y"))),
		}, true},
		{"an unknown update changed the wrong data", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, never, updateIn("/a", "s1", 5, "y"), nil),
			listOp(1, 40, 50, readIn("/a"), listed(6, item(5, "s1", "z"))),
		}, false},
		{"an unknown delete by another session took effect", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(1, 20, never, deleteIn("/a", "s2", 5), nil),
			listOp(1, 40, 50, readIn("/a"), listed(6)),
		}, false},
		{"a resolved push pins its version", []porcupine.Operation{
			listOp(0, 0, 10, pushIn("/a", "s1", "x"), okAt(5)),
			listOp(0, 20, never, pushIn("/a", "s1", "y"), okAt(7)),
			listOp(1, 40, 50, readIn("/a"), listed(8, item(5, "s1", "x"), item(8, "s1", "y"))),
		}, false},
		// Two unknown pushes by one session, then a delete by a version only
		// the client knew: either of them can be the one deleted.
		{"an ambiguous delete removed the second", []porcupine.Operation{
			listOp(0, 0, never, pushIn("/a", "s1", "a"), nil),
			listOp(1, 0, never, pushIn("/a", "s1", "b"), nil),
			listOp(2, 20, 30, deleteIn("/a", "s1", 5), okAt(9)),
			listOp(3, 40, 50, readIn("/a"), listed(9, item(4, "s1", "a"))),
		}, true},
		{"an ambiguous delete removed the first", []porcupine.Operation{
			listOp(0, 0, never, pushIn("/a", "s1", "a"), nil),
			listOp(1, 0, never, pushIn("/a", "s1", "b"), nil),
			listOp(2, 20, 30, deleteIn("/a", "s1", 5), okAt(9)),
			listOp(3, 40, 50, readIn("/a"), listed(9, item(6, "s1", "b"))),
		}, true},
		{"an ambiguous delete removed neither", []porcupine.Operation{
			listOp(0, 0, never, pushIn("/a", "s1", "a"), nil),
			listOp(1, 0, never, pushIn("/a", "s1", "b"), nil),
			listOp(2, 20, 30, deleteIn("/a", "s1", 5), okAt(9)),
			listOp(3, 40, 50, readIn("/a"), listed(9, item(4, "s1", "a"), item(6, "s1", "b"))),
		}, false},
	})
}

func TestListsModelRejectsMalformedOperations(t *testing.T) {
	ops := []porcupine.Operation{
		{Input: "read /a", Call: 0, Output: listed(0), Return: 10},
		listOp(0, 0, 10, readIn("/a"), &ListsOutput{Code: CodeOK}),
		listOp(0, 0, 10, readIn("/a"), ListsOutput{}),
		listOp(0, 0, 10, ListsInput{Op: ListOp(42), Path: "/a"}, okAt(1)),
	}
	for _, op := range ops {
		require.False(t, porcupine.CheckOperations(ListsModel, []porcupine.Operation{op}), "%v", op)
	}
}

func TestListsModelPartitionsByPathCopyingSessionEnds(t *testing.T) {
	ops := []porcupine.Operation{
		listOp(0, 0, 10, pushIn("/b", "s1", "x"), okAt(5)),
		listOp(1, 0, 10, readIn("/a"), listed(3, item(3, "s2", "y"))),
		listOp(2, 0, 10, pushIn("/c", "s3", "z"), failed(CodeUnavailable)),
		listOp(2, 20, never, readIn("/c"), nil),
		listOp(0, 20, 30, endIn("s1"), okAt(9)),
		listOp(1, 20, 30, endIn("s2"), okAt(10)),
		listOp(2, 20, 30, endIn("s3"), okAt(11)),
		listOp(3, 20, 30, pushIn("/a", "s1", "w"), failed(CodeSessionExpired)),
	}
	want := [][]porcupine.Operation{
		{ops[1], ops[4], ops[5], ops[7]}, // /a: s2 owns an item read, s1 writes
		{ops[0], ops[4]},                 // /b: s1 writes; s3's end is nowhere
	}
	require.Equal(t, want, ListsModel.Partition(ops))
}

func TestListsModelPartitionsEvents(t *testing.T) {
	events := []porcupine.Event{
		{ClientId: 0, Kind: porcupine.CallEvent, Value: pushIn("/a", "s1", "x"), Id: 0},
		{ClientId: 1, Kind: porcupine.CallEvent, Value: readIn("/b"), Id: 1},
		{ClientId: 0, Kind: porcupine.ReturnEvent, Value: okAt(5), Id: 0},
		{ClientId: 0, Kind: porcupine.CallEvent, Value: endIn("s1"), Id: 2},
		{ClientId: 1, Kind: porcupine.ReturnEvent, Value: listed(0), Id: 1},
		{ClientId: 0, Kind: porcupine.ReturnEvent, Value: okAt(6), Id: 2},
		{ClientId: 1, Kind: porcupine.CallEvent, Value: readIn("/a"), Id: 3},
		{ClientId: 1, Kind: porcupine.ReturnEvent, Value: listed(6), Id: 3},
	}
	want := [][]porcupine.Event{
		{events[0], events[2], events[3], events[5], events[6], events[7]},
		{events[1], events[4]},
	}
	require.Equal(t, want, ListsModel.PartitionEvent(events))
	require.True(t, porcupine.CheckEvents(ListsModel, events))

	stale := append([]porcupine.Event(nil), events...)
	stale[7].Value = listed(5, item(5, "s1", "x"))
	require.False(t, porcupine.CheckEvents(ListsModel, stale))
}

func TestListsModelDescribesOperationsAndStates(t *testing.T) {
	tests := []struct {
		in   ListsInput
		out  any
		want string
	}{
		{readIn("/a"), listed(5, item(5, "s1", "x")), `read(/a) -> v5 [#5 s1 "x"]`},
		{onlyIf(pushIn("/a", "s1", "x"), 3), okAt(5), `push(/a, s1, "x", if v3) -> OK @5`},
		{updateIn("/a", "s1", 5, "y"), failed(CodeForbidden), `update(/a, #5, s1, "y") -> Forbidden`},
		{deleteIn("/a", "s1", 5), nil, `delete(/a, #5, s1) -> ?`},
		{endIn("s1"), okAt(9), `end(s1) -> OK @9`},
	}
	for _, test := range tests {
		require.Equal(t, test.want, ListsModel.DescribeOperation(test.in, test.out))
	}

	state := listState{versionKnown: true}
	next := stepList(state, pushIn("/a", "s1", "x"), okAt(5), true)
	require.Len(t, next, 1)
	next = stepList(next[0], pushIn("/a", "s2", "y"), ListsOutput{}, false)
	require.Len(t, next, 1)
	next = stepList(next[0], endIn("s3"), okAt(9), true)
	require.Len(t, next, 1)
	require.Equal(t, `v>=6 [#5 s1 "x", #? (6..8) s2 "y"] ended: s3`, next[0].String())
}
