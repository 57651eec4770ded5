package linearizability

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// KVOp names an operation of the key-value store that the simulator runs as a
// simple replicated workload while the list service is being built.
type KVOp uint8

const (
	// KVGet reads a key; a key never written reads as "".
	KVGet KVOp = iota + 1
	// KVPut replaces a key's value.
	KVPut
	// KVAppend appends to a key's value. Appends make histories much easier to
	// judge than puts, because every value read names every write before it.
	KVAppend
	// KVCompareAndSwap replaces a key's value only if it equals Expected.
	KVCompareAndSwap
)

// String names the operation as the visualization shows it.
func (op KVOp) String() string {
	switch op {
	case KVGet:
		return "get"
	case KVPut:
		return "put"
	case KVAppend:
		return "append"
	case KVCompareAndSwap:
		return "cas"
	default:
		return fmt.Sprintf("KVOp(%d)", uint8(op))
	}
}

// KVInput is the input of a key-value operation.
type KVInput struct {
	Op  KVOp
	Key string
	// Value is what KVPut writes, what KVAppend appends, and what
	// KVCompareAndSwap writes when it swaps.
	Value string
	// Expected is the value KVCompareAndSwap requires the key to hold.
	Expected string
}

// KVOutput is the answer to a key-value operation.
//
// A nil output means the same as Unknown: true; it is what
// [History.Unknown] records.
type KVOutput struct {
	// Value is what KVGet read.
	Value string
	// Swapped says whether KVCompareAndSwap replaced the value.
	Swapped bool
	// Failed says the request certainly had no effect (it was refused before
	// it could be committed, or the simulator knows it never was). A failed
	// operation is legal at any point and is left out of the check.
	Failed bool
	// Unknown says the client never learned the outcome: a write may or may
	// not have taken effect, a read tells nothing.
	Unknown bool
}

// KVModel is the porcupine model of the key-value store, partitioned by key:
// the state of one partition is the value of its key.
var KVModel = porcupine.Model{
	Partition:         partitionKVOperations,
	PartitionEvent:    partitionKVEvents,
	Init:              func() any { return "" },
	Step:              stepKV,
	Equal:             func(a, b any) bool { return a.(string) == b.(string) },
	Hash:              hashKV,
	DescribeOperation: describeKVOperation,
	DescribeState:     func(state any) string { return fmt.Sprintf("%q", state.(string)) },
}

// kvOutcome reads an output as (answer, known, wellFormed). An answer the
// client never learned reads as known == false; anything but nil or a
// KVOutput is not well formed, and the model rejects it rather than guess.
func kvOutcome(output any) (KVOutput, bool, bool) {
	if output == nil {
		return KVOutput{}, false, true
	}
	out, ok := output.(KVOutput)
	if !ok {
		return KVOutput{}, false, false
	}
	return out, !out.Unknown, true
}

// stepKV is the sequential specification of one key.
func stepKV(state, input, output any) (bool, any) {
	value := state.(string)
	in, ok := input.(KVInput)
	out, known, wellFormed := kvOutcome(output)
	if !ok || !wellFormed {
		return false, value
	}
	if known && out.Failed {
		return true, value
	}
	switch in.Op {
	case KVGet:
		// A read whose answer was lost constrains nothing.
		return !known || out.Value == value, value
	case KVPut:
		// An unknown write is applied here; porcupine may instead place it
		// after everything else (its return time is infinite), which is the
		// same as it never having happened.
		return true, in.Value
	case KVAppend:
		return true, value + in.Value
	case KVCompareAndSwap:
		swaps := value == in.Expected
		if known && out.Swapped != swaps {
			return false, value
		}
		if swaps {
			return true, in.Value
		}
		return true, value
	default:
		return false, value
	}
}

func hashKV(state any) uint64 {
	return fnvString(fnvOffset, state.(string))
}

func describeKVOperation(input, output any) string {
	in, ok := input.(KVInput)
	if !ok {
		return fmt.Sprintf("%v (not a KVInput) -> %v", input, output)
	}
	var call string
	switch in.Op {
	case KVGet:
		call = fmt.Sprintf("get(%q)", in.Key)
	case KVPut, KVAppend:
		call = fmt.Sprintf("%s(%q, %q)", in.Op, in.Key, in.Value)
	case KVCompareAndSwap:
		call = fmt.Sprintf("cas(%q, %q -> %q)", in.Key, in.Expected, in.Value)
	default:
		call = fmt.Sprintf("%s(%q)", in.Op, in.Key)
	}
	out, known, wellFormed := kvOutcome(output)
	switch {
	case !wellFormed:
		return fmt.Sprintf("%s -> %v (not a KVOutput)", call, output)
	case !known:
		return call + " -> ?"
	case out.Failed:
		return call + " -> failed"
	case in.Op == KVGet:
		return fmt.Sprintf("%s -> %q", call, out.Value)
	case in.Op == KVCompareAndSwap:
		return fmt.Sprintf("%s -> swapped=%t", call, out.Swapped)
	default:
		return call
	}
}

// routeKV sends each operation to the partition of its key. Operations that
// constrain nothing are left out so that the search does not have to place
// them: reads whose answer was lost and requests that certainly failed.
func routeKV(inputs, outputs []any) [][]string {
	keys := make([][]string, len(inputs))
	for i, input := range inputs {
		in, ok := input.(KVInput)
		out, known, wellFormed := kvOutcome(outputs[i])
		if !ok || !wellFormed {
			keys[i] = []string{malformedPartition}
			continue
		}
		if (known && out.Failed) || (!known && in.Op == KVGet) {
			continue
		}
		keys[i] = []string{in.Key}
	}
	return keys
}

func partitionKVOperations(history []porcupine.Operation) [][]porcupine.Operation {
	return partitionOperations(history, routeKV)
}

func partitionKVEvents(history []porcupine.Event) [][]porcupine.Event {
	return partitionEvents(history, routeKV)
}
