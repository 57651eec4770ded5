package explore

import (
	"strings"
	"testing"
)

// A search that ran out of time before its last pass must not say it
// covered the bounds.
func TestReportOfAnUnfinishedSearchSaysHowFarItGot(t *testing.T) {
	done := Report{Depth: 12, Bounds: Bounds{Depth: 12}}.String()
	if !strings.Contains(done, "no violation within the bounds") {
		t.Fatalf("finished search: %q", done)
	}
	cut := Report{Depth: 9, Bounds: Bounds{Depth: 16}}.String()
	if strings.Contains(cut, "within the bounds") || !strings.Contains(cut, "no violation up to depth 9; depth 16 was not reached") {
		t.Fatalf("unfinished search: %q", cut)
	}
}
