package sim_test

// The engine's tests run the workloads by name (Config.Workload): linking
// the workload packages into the test binary registers them, as
// cmd/havensim does. The engine itself imports neither.
import (
	_ "github.com/havenproject/haven/sim/kv"
	_ "github.com/havenproject/haven/sim/sessions"
)
