package browsertest

import (
	"os"
	"testing"
	"time"
)

func TestDebugCluster(t *testing.T) {
	if os.Getenv("HAVEN_DEBUG_CLUSTER") == "" {
		t.Skip("debug only")
	}
	c := startCluster(t, 3)
	for _, p := range c.procs {
		t.Logf("%s %s", p.id, p.url())
		println(p.id, p.url(), p.logPath)
	}
	time.Sleep(100 * time.Second)
}
