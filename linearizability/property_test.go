package linearizability

import (
	"slices"
	"testing"

	"github.com/anishathalye/porcupine"
	"pgregory.net/rapid"
)

// Histories of operations that do not overlap have exactly one candidate
// order, so the model must accept the reference's answers in that order and
// reject any single answer changed.

func TestPropertySequentialListsHistoriesAreLinearizable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 60).Draw(t, "operations")
		ops, _ := sequentialListsHistory(rapidChooser{t}, n, 3, 3, 8)
		if !porcupine.CheckOperations(ListsModel, ops) {
			t.Fatalf("a history of the reference was rejected:\n%s", describeHistory(ListsModel, ops))
		}
	})
}

// Overlapping operations, each taking effect at an instant inside its
// interval, some losing their answers: linearizable by construction.
func TestPropertyConcurrentListsHistoriesAreLinearizable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 80).Draw(t, "operations")
		ops := concurrentListsHistory(rapidChooser{t}, n, 4, 2, 10)
		if !porcupine.CheckOperations(ListsModel, ops) {
			t.Fatalf("a history of the reference was rejected:\n%s", describeHistory(ListsModel, ops))
		}
	})
}

func TestPropertySequentialKVHistoriesAreLinearizable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 60).Draw(t, "operations")
		ops := sequentialKVHistory(rapidChooser{t}, n, 3, 8)
		if !porcupine.CheckOperations(KVModel, ops) {
			t.Fatalf("a history of the reference was rejected:\n%s", describeHistory(KVModel, ops))
		}
	})
}

func TestPropertyOneCorruptedListReadIsIllegal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 60).Draw(t, "operations")
		ops, ref := sequentialListsHistory(rapidChooser{t}, n, 3, 3, 0)
		// Read a list at the end, so that there is a read to corrupt.
		last := ops[len(ops)-1].Return
		ops = append(ops, listOp(0, last+10, last+20, readIn("/data/p0"), ref.apply(readIn("/data/p0"))))

		var reads []int
		for i, op := range ops {
			if op.Input.(ListsInput).Op == ReadList {
				reads = append(reads, i)
			}
		}
		victim := reads[rapid.IntRange(0, len(reads)-1).Draw(t, "victim")]
		answer := ops[victim].Output.(ListsOutput)
		answer.Items = slices.Clone(answer.Items)
		corruptions := []string{"version+1", "add item"}
		if answer.Version > 0 {
			corruptions = append(corruptions, "version-1")
		}
		if len(answer.Items) > 0 {
			corruptions = append(corruptions, "drop item", "change data", "change owner", "change item version")
		}
		switch rapid.SampledFrom(corruptions).Draw(t, "corruption") {
		case "version+1":
			answer.Version++
		case "version-1":
			answer.Version--
		case "add item":
			answer.Items = append(answer.Items, Item{Version: answer.Version, Owner: "s1", Data: "forged"})
		case "drop item":
			answer.Items = slices.Delete(answer.Items, 0, 1)
		case "change data":
			answer.Items[0].Data += "!"
		case "change owner":
			answer.Items[0].Owner += "!"
		case "change item version":
			answer.Items[0].Version--
		}
		ops[victim].Output = answer
		if porcupine.CheckOperations(ListsModel, ops) {
			t.Fatalf("corrupting operation %d went unnoticed:\n%s", victim, describeHistory(ListsModel, ops))
		}
	})
}

func TestPropertyOneCorruptedKVReadIsIllegal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 60).Draw(t, "operations")
		ops := sequentialKVHistory(rapidChooser{t}, n, 3, 0)
		var reads []int
		for i, op := range ops {
			if op.Input.(KVInput).Op == KVGet {
				reads = append(reads, i)
			}
		}
		if len(reads) == 0 {
			return
		}
		victim := reads[rapid.IntRange(0, len(reads)-1).Draw(t, "victim")]
		answer := ops[victim].Output.(KVOutput)
		answer.Value += "!"
		ops[victim].Output = answer
		if porcupine.CheckOperations(KVModel, ops) {
			t.Fatalf("corrupting operation %d went unnoticed:\n%s", victim, describeHistory(KVModel, ops))
		}
	})
}

func describeHistory(model porcupine.Model, ops []porcupine.Operation) string {
	var lines []byte
	for _, op := range ops {
		lines = append(lines, []byte(model.DescribeOperation(op.Input, op.Output))...)
		lines = append(lines, '\n')
	}
	return string(lines)
}
