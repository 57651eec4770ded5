package sim

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestMain runs the package's campaigns and benchmarks with the collector
// setting havensim uses (cmd/havensim/main.go): the simulator allocates
// briskly and keeps little, and runs about a fifth faster when the heap may
// grow to five times its live data (GOGC=400) than at Go's default of
// twice. An explicit GOGC in the environment still wins.
func TestMain(m *testing.M) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(m.Run())
}
