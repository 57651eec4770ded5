package linearizability

import (
	"fmt"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// ListOp names an operation of Haven's data model (PROTOCOL.md, "Data
// model"): every path is a list of items owned by sessions.
type ListOp uint8

const (
	// ReadList is a linearizable read of one list: its items and version.
	// Stale reads (consistency "stale") are not linearizable and must not be
	// recorded.
	ReadList ListOp = iota + 1
	// PushItem appends an item owned by the session; its version is the index
	// of the log entry that created it.
	PushItem
	// UpdateItem replaces the data of an item the session owns.
	UpdateItem
	// DeleteItem removes an item the session owns.
	DeleteItem
	// EndSession ends a session (close or expiry): all its items, in every
	// list, are removed by one log entry.
	EndSession
)

// String names the operation as the visualization shows it.
func (op ListOp) String() string {
	switch op {
	case ReadList:
		return "read"
	case PushItem:
		return "push"
	case UpdateItem:
		return "update"
	case DeleteItem:
		return "delete"
	case EndSession:
		return "end"
	default:
		return fmt.Sprintf("ListOp(%d)", uint8(op))
	}
}

// ListsInput is the input of a list operation.
type ListsInput struct {
	Op ListOp
	// Path names the list; unused by EndSession.
	Path string
	// Session is the public id of the session making the request (the
	// owner of what it pushes), or, for EndSession, the session that ends.
	// Unused by ReadList.
	Session string
	// Item is the version of the item UpdateItem or DeleteItem targets.
	Item uint64
	// Data is what PushItem or UpdateItem writes. It is opaque to the model
	// and compared byte for byte, so encode it canonically.
	Data string
	// IfVersion, when set, makes a write conditional on the list's version
	// (the etag test-and-set of PROTOCOL.md): Conflict when it differs.
	IfVersion *uint64
}

// Item is one item of a list as the model sees it. The `modified` field of
// the protocol is not modelled.
type Item struct {
	// Version is the log index of the entry that created the item: its id,
	// unique in the cluster and never reused.
	Version uint64
	// Owner is the public id of the session that holds the item.
	Owner string
	// Data is the item's data in a canonical encoding, compared as bytes.
	Data string
}

// Code is a response code of PROTOCOL.md ("Response codes").
type Code string

// The codes the Lists model understands. OK, Conflict, NotFound, Forbidden
// and SessionExpired are checked against the state. The others say the
// request certainly had no effect, and are legal at any point; record a
// request whose effect is in doubt with [History.Unknown] instead.
const (
	CodeOK             Code = "OK"
	CodeConflict       Code = "Conflict"
	CodeNotFound       Code = "NotFound"
	CodeForbidden      Code = "Forbidden"
	CodeSessionExpired Code = "SessionExpired"

	CodeUnavailable      Code = "Unavailable"
	CodeInternalError    Code = "InternalError"
	CodeInvalidParameter Code = "InvalidParameter"
	CodeTooLarge         Code = "TooLarge"
	CodeUnsupported      Code = "Unsupported"
)

// withoutEffect reports whether a code says the request was refused before it
// could change anything. Unavailable and InternalError only qualify when the
// caller knows the write cannot commit later (the simulator knows from its
// ground truth); otherwise the outcome is unknown.
func (code Code) withoutEffect() bool {
	switch code {
	case CodeUnavailable, CodeInternalError, CodeInvalidParameter, CodeTooLarge, CodeUnsupported:
		return true
	default:
		return false
	}
}

// ListsOutput is the answer to a list operation.
//
// A nil output means the same as Unknown: true; it is what
// [History.Unknown] records.
type ListsOutput struct {
	Code Code
	// Version, when Code is OK: for ReadList the list's version; for a write
	// the log index of its entry, which is the new list version (for
	// PushItem also the new item's version, for UpdateItem the item's
	// `modified`); for EndSession the index of the entry that ended it.
	Version uint64
	// Items is the list a ReadList answered with, in the order answered.
	// For a write it is checked only when HasItems is set, and must then be
	// the list right after the write.
	Items    []Item
	HasItems bool
	// Unknown says the client never learned the outcome: a write may or may
	// not have taken effect, a read tells nothing.
	Unknown bool
}

// ListsModel is the porcupine model of Haven's lists, partitioned by path;
// see the package documentation for exactly what it checks.
//
// It is built from a nondeterministic model (porcupine's power-set
// construction): a state of ListsModel is a set of possible list states,
// almost always of one. Several arise only when an outcome the client never
// learned could be explained in more than one way.
var ListsModel = (&porcupine.NondeterministicModel{
	Partition:         partitionListsOperations,
	PartitionEvent:    partitionListsEvents,
	Init:              func() []any { return []any{listState{versionKnown: true}} },
	Step:              stepListsModel,
	Equal:             func(a, b any) bool { return a.(listState).equal(b.(listState)) },
	Hash:              func(state any) uint64 { return state.(listState).hash() },
	DescribeOperation: describeListsOperation,
	DescribeState:     func(state any) string { return state.(listState).String() },
}).ToModel()

// listsOutcome reads an output as (answer, known, wellFormed); see kvOutcome.
func listsOutcome(output any) (ListsOutput, bool, bool) {
	if output == nil {
		return ListsOutput{}, false, true
	}
	out, ok := output.(ListsOutput)
	if !ok {
		return ListsOutput{}, false, false
	}
	return out, !out.Unknown, true
}

func stepListsModel(state, input, output any) []any {
	in, ok := input.(ListsInput)
	out, known, wellFormed := listsOutcome(output)
	if !ok || !wellFormed {
		return nil
	}
	next := stepList(state.(listState), in, out, known)
	states := make([]any, len(next))
	for i, s := range next {
		states[i] = s
	}
	return states
}

// routeLists sends each operation to the partition of its path. A session
// end goes into the partition of every path whose history mentions its
// session, as the session of a request or as the owner of an item in an
// answer: there it can remove items, make that session's later writes fail,
// and its index orders it among the list's versions. Where the session is
// never mentioned, the end could only change the list's ordering constraints,
// so it is left out, which keeps partitions small.
//
// Operations that constrain nothing are left out as well: reads whose answer
// was lost, and requests refused without effect.
func routeLists(inputs, outputs []any) [][]string {
	names := make([][]string, len(inputs))
	pathsOfSession := make(map[string]map[string]bool)
	mention := func(session, path string) {
		if pathsOfSession[session] == nil {
			pathsOfSession[session] = make(map[string]bool)
		}
		pathsOfSession[session][path] = true
	}
	var ends []int
	for i, input := range inputs {
		in, ok := input.(ListsInput)
		out, known, wellFormed := listsOutcome(outputs[i])
		switch {
		case !ok || !wellFormed:
			names[i] = []string{malformedPartition}
		case known && out.Code.withoutEffect():
		case in.Op == EndSession:
			ends = append(ends, i)
		case in.Op == ReadList && !known:
		default:
			names[i] = []string{in.Path}
			if in.Op != ReadList {
				mention(in.Session, in.Path)
			}
			for _, item := range out.Items {
				mention(item.Owner, in.Path)
			}
		}
	}
	for _, i := range ends {
		session := inputs[i].(ListsInput).Session
		paths := make([]string, 0, len(pathsOfSession[session]))
		for path := range pathsOfSession[session] {
			paths = append(paths, path)
		}
		sort.Strings(paths)
		names[i] = paths
	}
	return names
}

func partitionListsOperations(history []porcupine.Operation) [][]porcupine.Operation {
	return partitionOperations(history, routeLists)
}

func partitionListsEvents(history []porcupine.Event) [][]porcupine.Event {
	return partitionEvents(history, routeLists)
}

func describeListsOperation(input, output any) string {
	in, ok := input.(ListsInput)
	if !ok {
		return fmt.Sprintf("%v (not a ListsInput) -> %v", input, output)
	}
	var call string
	switch in.Op {
	case ReadList:
		call = fmt.Sprintf("read(%s)", in.Path)
	case PushItem:
		call = fmt.Sprintf("push(%s, %s, %q%s)", in.Path, in.Session, in.Data, describeIfVersion(in.IfVersion))
	case UpdateItem:
		call = fmt.Sprintf("update(%s, #%d, %s, %q%s)", in.Path, in.Item, in.Session, in.Data, describeIfVersion(in.IfVersion))
	case DeleteItem:
		call = fmt.Sprintf("delete(%s, #%d, %s%s)", in.Path, in.Item, in.Session, describeIfVersion(in.IfVersion))
	case EndSession:
		call = fmt.Sprintf("end(%s)", in.Session)
	default:
		call = fmt.Sprintf("%s(%s)", in.Op, in.Path)
	}
	out, known, wellFormed := listsOutcome(output)
	switch {
	case !wellFormed:
		return fmt.Sprintf("%s -> %v (not a ListsOutput)", call, output)
	case !known:
		return call + " -> ?"
	case out.Code != CodeOK:
		return fmt.Sprintf("%s -> %s", call, out.Code)
	case in.Op == ReadList:
		return fmt.Sprintf("%s -> v%d %s", call, out.Version, describeItems(out.Items))
	case out.HasItems:
		return fmt.Sprintf("%s -> OK @%d %s", call, out.Version, describeItems(out.Items))
	default:
		return fmt.Sprintf("%s -> OK @%d", call, out.Version)
	}
}

func describeIfVersion(ifVersion *uint64) string {
	if ifVersion == nil {
		return ""
	}
	return fmt.Sprintf(", if v%d", *ifVersion)
}

func describeItems(items []Item) string {
	parts := make([]string, len(items))
	for i, item := range items {
		parts[i] = fmt.Sprintf("#%d %s %q", item.Version, item.Owner, item.Data)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
