package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/havenproject/haven/sim/simfs"
)

// With the damaging faults frequent, the WAL must refuse every damaged disk
// it cannot read truthfully, and never return wrong data: the runs pass
// (every check on), disks fail, and the nodes left settle without them.
func TestDamagedDisksFailAndTheRunGoesOn(t *testing.T) {
	saved := diskFaults
	diskFaults = simfs.Faults{FlipPerCrash: 0.5, MisdirectPerWrite: 1e-3}
	defer func() { diskFaults = saved }()
	camp := Campaign{
		Base:  Config{Nodes: 5, Duration: 20 * time.Second, Faults: FaultsSwarm},
		Seeds: seedRange(1, 12),
	}
	sum := camp.Run()
	requirePassed(t, sum)
	require.Positive(t, sum.Stats.Counts[countDiskFlip], "bits flipped")
	require.Positive(t, sum.Stats.Counts[countDiskMisdirect], "writes misdirected")
	require.Positive(t, sum.Stats.Counts[countDiskFailed], "damaged disks refused")
}
