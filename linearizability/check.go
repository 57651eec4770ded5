package linearizability

import (
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of a linearizability check.
type Verdict string

const (
	// VerdictOk: the history is linearizable.
	VerdictOk Verdict = "ok"
	// VerdictIllegal: no linearization exists; the system is wrong (or the
	// history was recorded wrongly).
	VerdictIllegal Verdict = "illegal"
	// VerdictUnknown: the search ran out of time before deciding. Checking is
	// NP-complete; this is what too many concurrent or unknown-outcome
	// operations on one list look like.
	VerdictUnknown Verdict = "unknown"
)

// Annotation marks a span of time in the visualization, such as an injected
// fault, on a row of its own below the clients'.
type Annotation struct {
	// Start and End use the history's clock; End == Start marks an instant.
	Start, End int64
	// Text is drawn on the annotation, Details shown when hovering it.
	Text    string
	Details string
	// Tag names the row; annotations with the same tag share one. Empty
	// means "faults".
	Tag string
	// Color is an optional CSS background color, e.g. "#ff9191".
	Color string
}

// Result is what Check found.
type Result struct {
	Verdict Verdict
	// VisualizationPath is the HTML file written, or "" if none was.
	VisualizationPath string
	// Info is porcupine's linearization data when Check computed it (when it
	// wrote a visualization): partial linearizations, for further analysis.
	Info porcupine.LinearizationInfo
	// Culprit, for an illegal history of operations, names the first
	// partition that has no linearization (for the lists model, one list
	// path) and the first operation, by call time, that its longest
	// partial linearization leaves out: where to start reading.
	Culprit string
}

// CheckOption adjusts Check.
type CheckOption func(*checkConfig)

type checkConfig struct {
	visualizationPath string
	alwaysVisualize   bool
	annotations       []Annotation
}

// VisualizeTo sets the file the visualization is written to. Without it, a
// new file in the system's temporary directory is used.
func VisualizeTo(path string) CheckOption {
	return func(c *checkConfig) { c.visualizationPath = path }
}

// VisualizeAlways writes the visualization whatever the verdict, not only
// when the history is illegal (havensim writes it on request).
func VisualizeAlways() CheckOption {
	return func(c *checkConfig) { c.alwaysVisualize = true }
}

// WithAnnotations adds annotations to the visualization.
func WithAnnotations(annotations ...Annotation) CheckOption {
	return func(c *checkConfig) { c.annotations = append(c.annotations, annotations...) }
}

// Check checks whether ops is linearizable under model, giving up after
// timeout (0: no limit). When the history is illegal, or always with
// VisualizeAlways, it writes porcupine's HTML visualization and returns its
// path. The error is only about writing that file; the verdict is valid
// regardless.
//
// An illegal history is checked twice: first quickly, then again while
// recording the partial linearizations the visualization needs, so a
// failing check can take up to twice the timeout.
func Check(model porcupine.Model, ops []porcupine.Operation, timeout time.Duration, options ...CheckOption) (Result, error) {
	res, err := check(model, options,
		func() porcupine.CheckResult { return porcupine.CheckOperationsTimeout(model, ops, timeout) },
		func() (porcupine.CheckResult, porcupine.LinearizationInfo) {
			return porcupine.CheckOperationsVerbose(model, ops, timeout)
		})
	if res.Verdict == VerdictIllegal {
		res.Culprit = culprit(model, ops, &res.Info)
	}
	return res, err
}

// culprit finds the first partition without a linearization and the first
// operation its longest partial linearization cannot place. Porcupine
// checks the partitions model.Partition returns, in that order.
func culprit(model porcupine.Model, ops []porcupine.Operation, info *porcupine.LinearizationInfo) string {
	parts := [][]porcupine.Operation{ops}
	if model.Partition != nil {
		parts = model.Partition(ops)
	}
	partials := info.PartialLinearizationsOperations()
	type key struct {
		client        int
		call, return_ int64
	}
	describe := func(op porcupine.Operation) string {
		if model.DescribeOperation != nil {
			return model.DescribeOperation(op.Input, op.Output)
		}
		return fmt.Sprintf("%v -> %v", op.Input, op.Output)
	}
	for i, part := range parts {
		if i >= len(partials) {
			break
		}
		var best []porcupine.Operation
		for _, pl := range partials[i] {
			if len(pl) > len(best) {
				best = pl
			}
		}
		if len(best) >= len(part) {
			continue
		}
		placed := map[key]bool{}
		for _, op := range best {
			placed[key{op.ClientId, op.Call, op.Return}] = true
		}
		var first *porcupine.Operation
		for j := range part {
			op := &part[j]
			if !placed[key{op.ClientId, op.Call, op.Return}] && (first == nil || op.Call < first.Call) {
				first = op
			}
		}
		if first == nil {
			continue
		}
		last := "none"
		if len(best) > 0 {
			last = describe(best[len(best)-1])
		}
		return fmt.Sprintf("partition %d of %d (%d operations) has no linearization: the longest places %d, the last of them %s; it cannot place %s (client %d, called at %d, returned at %d)",
			i+1, len(parts), len(part), len(best), last, describe(*first), first.ClientId, first.Call, first.Return)
	}
	return ""
}

// CheckEvents is Check for a history of call and return events without
// timestamps, porcupine's other form of history (every call must have its
// return; give an unknown outcome a return event after all others, with a
// nil value).
func CheckEvents(model porcupine.Model, events []porcupine.Event, timeout time.Duration, options ...CheckOption) (Result, error) {
	return check(model, options,
		func() porcupine.CheckResult { return porcupine.CheckEventsTimeout(model, events, timeout) },
		func() (porcupine.CheckResult, porcupine.LinearizationInfo) {
			return porcupine.CheckEventsVerbose(model, events, timeout)
		})
}

func check(
	model porcupine.Model,
	options []CheckOption,
	quick func() porcupine.CheckResult,
	verbose func() (porcupine.CheckResult, porcupine.LinearizationInfo),
) (Result, error) {
	var config checkConfig
	for _, option := range options {
		option(&config)
	}
	var result Result
	if config.alwaysVisualize {
		var verdict porcupine.CheckResult
		verdict, result.Info = verbose()
		result.Verdict = verdictOf(verdict)
	} else {
		result.Verdict = verdictOf(quick())
		if result.Verdict != VerdictIllegal {
			return result, nil
		}
		// The first run proved the history illegal; if this one times
		// out, its partial linearizations are still worth drawing.
		_, result.Info = verbose()
	}
	result.Info.AddAnnotations(porcupineAnnotations(config.annotations))
	path, err := writeVisualization(model, result.Info, config.visualizationPath)
	if err != nil {
		return result, fmt.Errorf("linearizability: writing visualization: %w", err)
	}
	result.VisualizationPath = path
	return result, nil
}

func verdictOf(result porcupine.CheckResult) Verdict {
	switch result {
	case porcupine.Ok:
		return VerdictOk
	case porcupine.Illegal:
		return VerdictIllegal
	default:
		return VerdictUnknown
	}
}

func porcupineAnnotations(annotations []Annotation) []porcupine.Annotation {
	converted := make([]porcupine.Annotation, len(annotations))
	for i, a := range annotations {
		tag := a.Tag
		if tag == "" {
			// Porcupine draws an untagged annotation on the row of client
			// 0, where it would be mistaken for that client's operation.
			tag = "faults"
		}
		converted[i] = porcupine.Annotation{
			Tag:             tag,
			Start:           a.Start,
			End:             a.End,
			Description:     a.Text,
			Details:         a.Details,
			BackgroundColor: a.Color,
		}
	}
	return converted
}

// writeVisualization writes the HTML to path, or to a new temporary file
// when path is empty, and returns the path written.
func writeVisualization(model porcupine.Model, info porcupine.LinearizationInfo, path string) (string, error) {
	var file *os.File
	var err error
	if path == "" {
		file, err = os.CreateTemp("", "linearizability-*.html")
	} else {
		file, err = os.Create(path)
	}
	if err != nil {
		return "", err
	}
	if err := porcupine.Visualize(model, info, file); err != nil {
		file.Close()
		return "", fmt.Errorf("%s: %w", file.Name(), err)
	}
	if err := file.Close(); err != nil {
		return "", fmt.Errorf("%s: %w", file.Name(), err)
	}
	return file.Name(), nil
}
