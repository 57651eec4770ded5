package linearizability

import (
	"math"
	"sync"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

func TestHistoryRecordsOutcomes(t *testing.T) {
	var h History
	answered := h.Begin(0, put("x", "1"), 10)
	gaveUp := h.Begin(1, put("x", "2"), 11)
	resolved := h.Begin(2, put("x", "3"), 12)
	h.Begin(3, get("x"), 13) // still pending when the history is taken
	late := h.Begin(4, put("x", "4"), 14)
	h.End(answered, KVOutput{}, 20)
	h.Unknown(gaveUp)
	h.Unknown(resolved)
	h.Resolve(resolved, KVOutput{})
	h.Unknown(late)
	h.End(late, KVOutput{}, 40)

	ops := h.Operations()
	require.Equal(t, 5, h.Len())
	require.Equal(t, []porcupine.Operation{
		{ClientId: 0, Input: put("x", "1"), Call: 10, Output: KVOutput{}, Return: 20},
		{ClientId: 1, Input: put("x", "2"), Call: 11, Output: nil, Return: math.MaxInt64, Metadata: "outcome unknown"},
		{ClientId: 2, Input: put("x", "3"), Call: 12, Output: KVOutput{}, Return: math.MaxInt64,
			Metadata: "client never learned the outcome; resolved afterwards"},
		{ClientId: 3, Input: get("x"), Call: 13, Output: nil, Return: math.MaxInt64, Metadata: "outcome unknown"},
		{ClientId: 4, Input: put("x", "4"), Call: 14, Output: KVOutput{}, Return: 40},
	}, ops)
	require.Equal(t, gaveUp+1, resolved, "ids number operations in the order they began")
}

func TestHistoryPanicsOnMisuse(t *testing.T) {
	tests := []struct {
		name   string
		misuse func(h *History, id OpID)
	}{
		{"end twice", func(h *History, id OpID) { h.End(id, KVOutput{}, 5); h.End(id, KVOutput{}, 6) }},
		{"return before call", func(h *History, id OpID) { h.End(id, KVOutput{}, 0) }},
		{"unknown after an answer", func(h *History, id OpID) { h.End(id, KVOutput{}, 5); h.Unknown(id) }},
		{"resolve after an answer", func(h *History, id OpID) { h.End(id, KVOutput{}, 5); h.Resolve(id, KVOutput{}) }},
		{"no such operation", func(h *History, id OpID) { h.End(id+1, KVOutput{}, 5) }},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var h History
			id := h.Begin(0, get("x"), 1)
			require.Panics(t, func() { test.misuse(&h, id) })
		})
	}
}

func TestHistoryIsSafeForConcurrentClients(t *testing.T) {
	var h History
	var wg sync.WaitGroup
	const clients, perClient = 8, 50
	for client := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				at := int64(client*1000 + 10*i)
				id := h.Begin(client, appendKV("x", "a"), at)
				h.End(id, KVOutput{}, at+5)
			}
		}()
	}
	wg.Wait()
	ops := h.Operations()
	require.Len(t, ops, clients*perClient)
	perClientSeen := make(map[int]int)
	for _, op := range ops {
		require.Equal(t, op.Call+5, op.Return)
		perClientSeen[op.ClientId]++
	}
	for client := range clients {
		require.Equal(t, perClient, perClientSeen[client])
	}
	result, err := Check(KVModel, ops, 0)
	require.NoError(t, err)
	require.Equal(t, VerdictOk, result.Verdict)
}

func TestHistoryResolveMakesAnUnknownWriteCount(t *testing.T) {
	// The client never learned whether its push worked; the log says it did,
	// at index 7. Unresolved, a read that misses it is fine; resolved, it
	// is not, since its version below the read's proves it came first.
	record := func(resolve bool) []porcupine.Operation {
		var h History
		push := h.Begin(0, pushIn("/a", "s1", "x"), 0)
		h.Unknown(push)
		if resolve {
			h.Resolve(push, okAt(7))
		}
		h.End(h.Begin(1, pushIn("/a", "s2", "y"), 10), okAt(8), 20)
		h.End(h.Begin(1, readIn("/a"), 30), listed(8, item(8, "s2", "y")), 40)
		return h.Operations()
	}
	require.True(t, porcupine.CheckOperations(ListsModel, record(false)))
	require.False(t, porcupine.CheckOperations(ListsModel, record(true)))
}

func TestHistoryKeepsAnnotations(t *testing.T) {
	var h History
	h.Annotate(Annotation{Start: 1, End: 5, Text: "partition {n1} {n2 n3}"})
	annotations := h.Annotations()
	require.Equal(t, []Annotation{{Start: 1, End: 5, Text: "partition {n1} {n2 n3}"}}, annotations)
	annotations[0].Text = "changed"
	require.Equal(t, "partition {n1} {n2 n3}", h.Annotations()[0].Text, "Annotations returns a copy")
}
