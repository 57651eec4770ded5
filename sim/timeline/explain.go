package timeline

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	nodeRefRe  = regexp.MustCompile(`\b(?:node |n)(\d+)\b`)
	termRefRe  = regexp.MustCompile(`\bterms? (\d+)`)
	indexRefRe = regexp.MustCompile(`\bindex (\d+)`)
)

// Explain tells, in words, the part of the run that matters to its failed
// check: the nodes, terms and indices the check names, who led those terms
// and from when to when, the crashes, pauses and faults that touched those
// nodes meanwhile, when the indices named were first announced committed,
// and the failure itself. It is the shortest story the trace tells, not a
// proof: read it beside the timeline.
func Explain(run *Run) string {
	if run.Failure == nil {
		return "The run passed every check: nothing to explain.\n"
	}
	text := run.Failure.Text
	nodes := refs(nodeRefRe, text)
	terms := refs(termRefRe, text)
	indices := refs(indexRefRe, text)

	// The story starts where the earliest term named began (or a few
	// seconds before the failure when none is named).
	start := max(0, run.Failure.At-2)
	for _, b := range run.Bands {
		if b.Kind == "leader" && slices.Contains(terms, int(b.Term)) {
			start = min(start, b.From)
		}
	}
	type event struct {
		at   float64
		text string
	}
	var story []event
	add := func(at float64, format string, args ...any) {
		story = append(story, event{at, fmt.Sprintf(format, args...)})
	}
	involved := func(n int) bool { return len(nodes) == 0 || slices.Contains(nodes, n) }
	for _, b := range run.Bands {
		if b.To < start || b.From > run.Failure.At {
			continue
		}
		switch {
		case b.Kind == "leader" && (slices.Contains(terms, int(b.Term)) || involved(b.Node)):
			how := "until the end"
			if b.To < run.Failure.At {
				how = fmt.Sprintf("until %.6fs", b.To)
			}
			add(b.From, "n%d became leader of term %d (%s).", b.Node, b.Term, how)
		case b.Kind == "down" && involved(b.Node):
			add(b.From, "n%d crashed, losing or tearing what it had not synced, and restarted at %.6fs.", b.Node, b.To)
		case b.Kind == "paused" && involved(b.Node):
			add(b.From, "n%d was paused until %.6fs.", b.Node, b.To)
		}
	}
	for _, f := range run.Faults {
		if f.To >= start && f.From <= run.Failure.At && mentionsAny(f.Text, nodes) {
			add(f.From, "Fault: %s.", f.Text)
		}
	}
	for _, idx := range indices {
		for _, p := range run.Commits {
			if p.Value >= uint64(idx) && p.At <= run.Failure.At {
				add(p.At, "n%d was first seen with index %d committed (commit index %d).", p.Node, idx, p.Value)
				break
			}
		}
	}
	slices.SortStableFunc(story, func(a, b event) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", run.Title)
	if len(nodes) > 0 || len(terms) > 0 || len(indices) > 0 {
		fmt.Fprintf(&b, "The check names %s.\n", describeRefs(nodes, terms, indices))
	}
	for _, e := range story {
		fmt.Fprintf(&b, "  %10.6fs  %s\n", e.at, e.text)
	}
	fmt.Fprintf(&b, "  %10.6fs  The check failed: %s\n", run.Failure.At, run.Failure.Text)
	return b.String()
}

func refs(re *regexp.Regexp, text string) []int {
	var out []int
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if v, err := strconv.Atoi(m[1]); err == nil && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func mentionsAny(text string, nodes []int) bool {
	if len(nodes) == 0 {
		return true
	}
	for _, n := range nodes {
		if regexp.MustCompile(`\bn` + strconv.Itoa(n) + `\b`).MatchString(text) {
			return true
		}
	}
	return false
}

func describeRefs(nodes, terms, indices []int) string {
	var parts []string
	list := func(prefix string, xs []int) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = prefix + strconv.Itoa(x)
		}
		return strings.Join(s, ", ")
	}
	if len(nodes) > 0 {
		parts = append(parts, "node(s) "+list("n", nodes))
	}
	if len(terms) > 0 {
		parts = append(parts, "term(s) "+list("", terms))
	}
	if len(indices) > 0 {
		parts = append(parts, "index(es) "+list("", indices))
	}
	return strings.Join(parts, "; ")
}
