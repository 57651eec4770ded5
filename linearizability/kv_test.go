package linearizability

import (
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

func kvOp(client int, call, ret int64, in KVInput, out any) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func get(key string) KVInput        { return KVInput{Op: KVGet, Key: key} }
func put(key, value string) KVInput { return KVInput{Op: KVPut, Key: key, Value: value} }
func appendKV(key, value string) KVInput {
	return KVInput{Op: KVAppend, Key: key, Value: value}
}
func cas(key, expected, value string) KVInput {
	return KVInput{Op: KVCompareAndSwap, Key: key, Expected: expected, Value: value}
}
func read(value string) KVOutput { return KVOutput{Value: value} }

const never = math.MaxInt64

func TestKVModel(t *testing.T) {
	tests := []struct {
		name string
		ops  []porcupine.Operation
		want bool
	}{
		{"read after write sees it", []porcupine.Operation{
			kvOp(0, 0, 10, put("x", "1"), KVOutput{}),
			kvOp(1, 20, 30, get("x"), read("1")),
		}, true},
		{"stale read after a completed write", []porcupine.Operation{
			kvOp(0, 0, 10, put("x", "1"), KVOutput{}),
			kvOp(1, 20, 30, get("x"), read("")),
		}, false},
		{"concurrent read sees the old value", []porcupine.Operation{
			kvOp(0, 0, 10, put("x", "1"), KVOutput{}),
			kvOp(1, 5, 15, get("x"), read("")),
		}, true},
		{"concurrent read sees the new value", []porcupine.Operation{
			kvOp(0, 0, 10, put("x", "1"), KVOutput{}),
			kvOp(1, 5, 15, get("x"), read("1")),
		}, true},
		{"a value goes back in time", []porcupine.Operation{
			kvOp(0, 0, 10, put("x", "1"), KVOutput{}),
			kvOp(0, 20, 30, put("x", "2"), KVOutput{}),
			kvOp(1, 15, 40, get("x"), read("2")),
			kvOp(2, 45, 50, get("x"), read("1")),
		}, false},
		{"keys are independent", []porcupine.Operation{
			kvOp(0, 0, 10, put("x", "1"), KVOutput{}),
			kvOp(1, 20, 30, get("y"), read("")),
		}, true},
		{"appends in order", []porcupine.Operation{
			kvOp(0, 0, 10, appendKV("x", "a"), KVOutput{}),
			kvOp(0, 20, 30, appendKV("x", "b"), KVOutput{}),
			kvOp(1, 40, 50, get("x"), read("ab")),
		}, true},
		{"appends out of order", []porcupine.Operation{
			kvOp(0, 0, 10, appendKV("x", "a"), KVOutput{}),
			kvOp(0, 20, 30, appendKV("x", "b"), KVOutput{}),
			kvOp(1, 40, 50, get("x"), read("ba")),
		}, false},
		{"cas swaps when the value matches", []porcupine.Operation{
			kvOp(0, 0, 10, put("x", "1"), KVOutput{}),
			kvOp(0, 20, 30, cas("x", "1", "2"), KVOutput{Swapped: true}),
			kvOp(1, 40, 50, get("x"), read("2")),
		}, true},
		{"cas claims a swap that cannot happen", []porcupine.Operation{
			kvOp(0, 20, 30, cas("x", "1", "2"), KVOutput{Swapped: true}),
		}, false},
		{"cas refused although the value matched", []porcupine.Operation{
			kvOp(0, 20, 30, cas("x", "", "2"), KVOutput{Swapped: false}),
		}, false},
		{"unknown write seen", []porcupine.Operation{
			kvOp(0, 0, never, put("x", "1"), nil),
			kvOp(1, 20, 30, get("x"), read("1")),
		}, true},
		{"unknown write never seen", []porcupine.Operation{
			kvOp(0, 0, never, put("x", "1"), KVOutput{Unknown: true}),
			kvOp(1, 20, 30, get("x"), read("")),
		}, true},
		{"unknown write seen then unseen", []porcupine.Operation{
			kvOp(0, 0, never, put("x", "1"), nil),
			kvOp(1, 20, 30, get("x"), read("1")),
			kvOp(1, 40, 50, get("x"), read("")),
		}, false},
		{"unknown write cannot take effect before its call", []porcupine.Operation{
			kvOp(1, 0, 10, get("x"), read("1")),
			kvOp(0, 20, never, put("x", "1"), nil),
		}, false},
		{"unknown read constrains nothing", []porcupine.Operation{
			kvOp(0, 0, 10, put("x", "1"), KVOutput{}),
			kvOp(1, 20, never, get("x"), nil),
		}, true},
		{"failed write has no effect", []porcupine.Operation{
			kvOp(0, 0, 10, put("x", "1"), KVOutput{Failed: true}),
			kvOp(1, 20, 30, get("x"), read("1")),
		}, false},
		{"input of another type", []porcupine.Operation{
			kvOp(0, 0, 10, KVInput{Op: KVOp(99), Key: "x"}, KVOutput{}),
		}, false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			require.Equal(t, test.want, porcupine.CheckOperations(KVModel, test.ops))
		})
	}
}

func TestKVModelRejectsMalformedOperations(t *testing.T) {
	ops := []porcupine.Operation{
		{Input: "get x", Call: 0, Output: KVOutput{}, Return: 10},
		kvOp(0, 0, 10, get("x"), &KVOutput{}),
	}
	for _, op := range ops {
		require.False(t, porcupine.CheckOperations(KVModel, []porcupine.Operation{op}), "%v", op)
	}
}

func TestKVModelPartitionsByKeyLeavingOutWhatConstrainsNothing(t *testing.T) {
	ops := []porcupine.Operation{
		kvOp(0, 0, 10, put("b", "1"), KVOutput{}),
		kvOp(0, 20, 30, put("a", "1"), KVOutput{}),
		kvOp(1, 0, never, get("a"), nil),
		kvOp(1, 40, 50, put("a", "2"), KVOutput{Failed: true}),
		kvOp(2, 0, 10, get("b"), read("1")),
	}
	parts := KVModel.Partition(ops)
	require.Equal(t, [][]porcupine.Operation{{ops[1]}, {ops[0], ops[4]}}, parts)
}

func TestKVModelDescribesOperations(t *testing.T) {
	tests := []struct {
		in   KVInput
		out  any
		want string
	}{
		{get("x"), read("1"), `get("x") -> "1"`},
		{put("x", "1"), KVOutput{}, `put("x", "1")`},
		{appendKV("x", "a"), nil, `append("x", "a") -> ?`},
		{cas("x", "1", "2"), KVOutput{Swapped: true}, `cas("x", "1" -> "2") -> swapped=true`},
		{put("x", "1"), KVOutput{Failed: true}, `put("x", "1") -> failed`},
	}
	for _, test := range tests {
		require.Equal(t, test.want, KVModel.DescribeOperation(test.in, test.out))
	}
}
