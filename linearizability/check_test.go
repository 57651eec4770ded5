package linearizability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

var staleReadHistory = []porcupine.Operation{
	listOp(0, 0, 10, pushIn("/data/a", "s1", "x"), okAt(5)),
	listOp(1, 20, 30, readIn("/data/a"), listed(0)),
}

func TestCheckWritesVisualizationOfIllegalHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.html")
	fault := Annotation{Start: 12, End: 25, Text: "partition {n1} {n2 n3}", Details: "leader isolated"}
	result, err := Check(ListsModel, staleReadHistory, time.Minute, VisualizeTo(path), WithAnnotations(fault))
	require.NoError(t, err)
	require.Equal(t, VerdictIllegal, result.Verdict)
	require.Equal(t, path, result.VisualizationPath)

	html, err := os.ReadFile(path)
	require.NoError(t, err)
	page := string(html)
	require.Contains(t, page, "<title>Porcupine</title>")
	require.Contains(t, page, "function render(", "the page carries porcupine's renderer")
	// The data embedded for the renderer names the operations as the model
	// describes them, the state it reached, and the fault.
	require.Contains(t, page, `push(/data/a, s1, \"x\") -\u003e OK @5`)
	require.Contains(t, page, `read(/data/a) -\u003e v0 []`)
	require.Contains(t, page, `v5 [#5 s1 \"x\"]`)
	require.Contains(t, page, `"Tag":"faults"`)
	require.Contains(t, page, "partition {n1} {n2 n3}")
	require.Contains(t, page, "leader isolated")
}

func TestCheckWritesToATemporaryFileByDefault(t *testing.T) {
	result, err := Check(ListsModel, staleReadHistory, 0)
	require.NoError(t, err)
	require.Equal(t, VerdictIllegal, result.Verdict)
	require.NotEmpty(t, result.VisualizationPath)
	t.Cleanup(func() { os.Remove(result.VisualizationPath) })
	require.True(t, strings.HasSuffix(result.VisualizationPath, ".html"))
	info, err := os.Stat(result.VisualizationPath)
	require.NoError(t, err)
	require.Positive(t, info.Size())
}

func TestCheckLegalHistoryWritesNothingUnlessAsked(t *testing.T) {
	legal := []porcupine.Operation{
		listOp(0, 0, 10, pushIn("/data/a", "s1", "x"), okAt(5)),
		listOp(1, 20, 30, readIn("/data/a"), listed(5, item(5, "s1", "x"))),
	}
	path := filepath.Join(t.TempDir(), "history.html")
	result, err := Check(ListsModel, legal, 0, VisualizeTo(path))
	require.NoError(t, err)
	require.Equal(t, VerdictOk, result.Verdict)
	require.Empty(t, result.VisualizationPath)
	require.NoFileExists(t, path)

	result, err = Check(ListsModel, legal, 0, VisualizeTo(path), VisualizeAlways())
	require.NoError(t, err)
	require.Equal(t, VerdictOk, result.Verdict)
	require.Equal(t, path, result.VisualizationPath)
	require.FileExists(t, path)
}

func TestCheckReportsAFailureToWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-directory", "history.html")
	result, err := Check(ListsModel, staleReadHistory, 0, VisualizeTo(path))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Equal(t, VerdictIllegal, result.Verdict, "the verdict stands even when the file cannot be written")
}

func TestCheckEventsWritesVisualizationOfIllegalHistory(t *testing.T) {
	events := []porcupine.Event{
		{ClientId: 0, Kind: porcupine.CallEvent, Value: put("x", "1"), Id: 0},
		{ClientId: 0, Kind: porcupine.ReturnEvent, Value: KVOutput{}, Id: 0},
		{ClientId: 1, Kind: porcupine.CallEvent, Value: get("x"), Id: 1},
		{ClientId: 1, Kind: porcupine.ReturnEvent, Value: read(""), Id: 1},
	}
	path := filepath.Join(t.TempDir(), "events.html")
	result, err := CheckEvents(KVModel, events, 0, VisualizeTo(path))
	require.NoError(t, err)
	require.Equal(t, VerdictIllegal, result.Verdict)
	html, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(html), `get(\"x\") -\u003e \"\"`)

	events[3].Value = read("1")
	result, err = CheckEvents(KVModel, events, 0, VisualizeTo(path))
	require.NoError(t, err)
	require.Equal(t, VerdictOk, result.Verdict)
}

func TestCheckEmptyHistoryIsLinearizable(t *testing.T) {
	result, err := Check(KVModel, nil, 0)
	require.NoError(t, err)
	require.Equal(t, VerdictOk, result.Verdict)
}

func TestCheckTimesOut(t *testing.T) {
	// Many unknown appends to one key, and a read that matches none of
	// their orders: deciding that takes a search of all subsets and orders,
	// far longer than a nanosecond.
	var ops []porcupine.Operation
	for i := range 12 {
		ops = append(ops, kvOp(i, 0, never, appendKV("x", string(rune('a'+i))), nil))
	}
	ops = append(ops, kvOp(20, 1, 2, get("x"), read("no such order")))
	result, err := Check(KVModel, ops, time.Nanosecond)
	require.NoError(t, err)
	require.Equal(t, VerdictUnknown, result.Verdict)
}

func TestPorcupineAnnotationsDefaultTheRow(t *testing.T) {
	converted := porcupineAnnotations([]Annotation{
		{Start: 1, End: 2, Text: "crash n2"},
		{Start: 3, End: 3, Text: "leader n1", Tag: "n1", Color: "#efaefc"},
	})
	require.Equal(t, []porcupine.Annotation{
		{Tag: "faults", Start: 1, End: 2, Description: "crash n2"},
		{Tag: "n1", Start: 3, End: 3, Description: "leader n1", BackgroundColor: "#efaefc"},
	}, converted)
}

func TestCheckNamesTheListAndOperationThatFail(t *testing.T) {
	ops := append([]porcupine.Operation{
		listOp(2, 0, 5, pushIn("/data/b", "s2", "y"), okAt(3)),
		listOp(2, 6, 9, readIn("/data/b"), listed(3, item(3, "s2", "y"))),
	}, staleReadHistory...)
	result, err := Check(ListsModel, ops, time.Minute, VisualizeTo(filepath.Join(t.TempDir(), "h.html")))
	require.NoError(t, err)
	require.Equal(t, VerdictIllegal, result.Verdict)
	require.Contains(t, result.Culprit, "read(/data/a) -> v0 []", "the stale read is the operation that cannot be placed")
	require.Contains(t, result.Culprit, `push(/data/a, s1, "x") -> OK @5`, "after the push it should have seen")
	require.NotContains(t, result.Culprit, "/data/b", "the other list is linearizable")
}
