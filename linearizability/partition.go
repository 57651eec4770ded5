package linearizability

import (
	"sort"

	"github.com/anishathalye/porcupine"
)

// A history is linearizable if and only if each of its independent parts is
// (Herlihy & Wing's locality), so the models split a history into parts that
// porcupine searches separately and in parallel. The search is exponential in
// the number of concurrent operations of one part, which is why splitting
// matters far more than how fast a single step is.

// malformedPartition collects operations whose input or output is not of the
// model's types. Their partition fails the check, and the visualization shows
// them, instead of the check silently ignoring a harness bug. Real keys and
// paths never contain a NUL byte, so the name cannot clash.
const malformedPartition = "\x00malformed"

// A router names the partitions each operation belongs to, given the inputs
// and outputs of the whole history (a session end needs to know which lists
// its session appears in). No partition means the operation constrains
// nothing and is left out; several mean it is copied into each.
type router func(inputs, outputs []any) [][]string

// partitionOperations splits a history of operations by route, in a
// deterministic order (sorted by partition name) so that visualizations of
// the same history always look the same.
func partitionOperations(history []porcupine.Operation, route router) [][]porcupine.Operation {
	inputs := make([]any, len(history))
	outputs := make([]any, len(history))
	for i, op := range history {
		inputs[i] = op.Input
		outputs[i] = op.Output
	}
	parts := make(map[string][]porcupine.Operation)
	for i, names := range route(inputs, outputs) {
		for _, name := range names {
			parts[name] = append(parts[name], history[i])
		}
	}
	return sortedParts(parts)
}

// partitionEvents is partitionOperations for histories of call and return
// events; both events of one operation go wherever the operation goes.
func partitionEvents(history []porcupine.Event, route router) [][]porcupine.Event {
	operationOf := make(map[int]int) // event id -> index into inputs/outputs
	var inputs, outputs []any
	for _, event := range history {
		index, seen := operationOf[event.Id]
		if !seen {
			index = len(inputs)
			operationOf[event.Id] = index
			inputs = append(inputs, nil)
			outputs = append(outputs, nil)
		}
		if event.Kind == porcupine.CallEvent {
			inputs[index] = event.Value
		} else {
			outputs[index] = event.Value
		}
	}
	names := route(inputs, outputs)
	parts := make(map[string][]porcupine.Event)
	for _, event := range history {
		for _, name := range names[operationOf[event.Id]] {
			parts[name] = append(parts[name], event)
		}
	}
	return sortedParts(parts)
}

func sortedParts[T any](parts map[string][]T) [][]T {
	names := make([]string, 0, len(parts))
	for name := range parts {
		names = append(names, name)
	}
	sort.Strings(names)
	sorted := make([][]T, len(names))
	for i, name := range names {
		sorted[i] = parts[name]
	}
	return sorted
}
