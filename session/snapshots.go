package session

import (
	"errors"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
)

// Snapshots (§7). Serialising the whole state machine takes time in
// proportion to its size; done inside Advance it would hold up the host's
// loop, and with it heartbeats, for as long. So a snapshot is made in three
// steps:
//
//  1. Advance freezes the state machine once SnapshotEvery entries were
//     applied since the last snapshot: fsm.Machine.Freeze copies no item,
//     only the lists' copy-on-write views (about one slice header per list
//     and per 64 items). The next Ready carries it as its SnapshotJob.
//  2. The host calls SnapshotJob.Serialize wherever it likes (another
//     goroutine), then SnapshotDone on its loop with the bytes.
//  3. Once the node has applied SnapshotTail entries past the job's index,
//     the log is compacted to it (raft.Compact) and the snapshot goes out
//     as a Ready's SavedSnapshot for the host to store. The tail stays in
//     the log for followers a little behind.
//
// One snapshot is in the making at a time. A host that never calls
// SnapshotDone never compacts; a snapshot installed from the leader in the
// meantime makes an older job moot.

// SnapshotJob is the state machine frozen at Index, for the host to
// serialise off its loop.
type SnapshotJob struct {
	Index uint64
	state *fsm.Frozen
}

// Serialize renders the frozen state as snapshot bytes. It may run on any
// goroutine, while the core goes on; call it once per job.
func (j *SnapshotJob) Serialize() []byte { return j.state.Serialize() }

type serialisedSnapshot struct {
	index uint64
	data  []byte
}

// SnapshotDone hands the core the bytes of a job's snapshot. The host calls
// it on its loop, at any time (also between Ready and Advance).
func (c *Core) SnapshotDone(job *SnapshotJob, data []byte) {
	if job == nil || job != c.job {
		return // not the job in the making (an older one, or a restart's)
	}
	c.job = nil
	if job.Index <= c.lastSnapshot {
		return // a newer snapshot arrived from the leader meanwhile
	}
	c.serialised = &serialisedSnapshot{index: job.Index, data: data}
	if !c.readyOut {
		c.maybeCompact()
	}
}

// maybeCompact compacts the log to a serialised snapshot once the tail
// behind it is long enough, and freezes the next snapshot when it is due.
func (c *Core) maybeCompact() {
	applied := c.fsm.AppliedIndex()
	if s := c.serialised; s != nil && applied >= s.index+c.cfg.SnapshotTail {
		snap, err := c.raft.Compact(s.index, s.data)
		switch {
		case err == nil:
			c.lastSnapshot = s.index
			c.saved = &snap
			c.serialised = nil
		case errors.Is(err, raft.ErrSnapshotTooOld):
			c.serialised = nil
		default:
			// Raft has not recorded the apply yet: try after the next Ready.
		}
	}
	if c.newJob == nil && c.job == nil && c.serialised == nil && applied >= c.lastSnapshot+c.cfg.SnapshotEvery {
		c.newJob = &SnapshotJob{Index: applied, state: c.fsm.Freeze()}
	}
}

// dropSnapshotsBelow forgets the snapshots in the making that a snapshot
// installed from the leader at index supersedes.
func (c *Core) dropSnapshotsBelow(index uint64) {
	if c.newJob != nil && c.newJob.Index <= index {
		c.newJob = nil
	}
	if c.serialised != nil && c.serialised.index <= index {
		c.serialised = nil
	}
	// c.job is with the host; SnapshotDone drops it.
}
