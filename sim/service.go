package sim

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/raft"
)

// The simulator drives raft the same way for any application. What runs on
// top — the replicated state machine on each node and the clients that use
// it — plugs in through the two interfaces below: the small key-value store
// of this package today, the Haven service core later.

// Service is what runs on a node above raft: the replicated state machine
// and the handling of client requests that arrive at the node. The node host
// makes a new Service for every incarnation of a node (a crash loses all
// volatile state) and calls it from the simulator's single thread.
type Service interface {
	// HandleRequest handles a request a client sent to this node. The
	// service answers through NodeHost.Reply, now or later.
	HandleRequest(client int, request any)
	// Apply applies one committed entry. Every committed entry comes
	// through, in log order, including a new leader's empty entry and
	// configuration changes, so the service can keep its applied index.
	Apply(entry raft.Entry)
	// ReadIndexReady hands over a read index raft granted for a context the
	// service passed to NodeHost.ReadIndex (§6.4). The read may be served
	// once the service has applied through state.Index.
	ReadIndexReady(state raft.ReadState)
	// Snapshot captures the state machine as of the last applied entry.
	Snapshot() []byte
	// Restore replaces the state machine with a snapshot's image.
	Restore(snapshot raft.Snapshot) error
	// Digest is a hash of the state machine, equal on two nodes exactly
	// when they have the same state: the simulator compares replicas with it.
	Digest() uint64
}

// NodeHost is what a Service may ask of the node it runs on.
type NodeHost interface {
	// ID is the node's raft id.
	ID() raft.NodeID
	// Propose appends data to the log if this node leads (raft.Propose).
	Propose(data []byte) (index, term uint64, err error)
	// ReadIndex asks raft for a read index for ctx (raft.ReadIndex); ctx
	// must be unique among the node's outstanding reads.
	ReadIndex(ctx []byte) error
	// Leader is the leader this node last reported, or raft.None.
	Leader() raft.NodeID
	// Incarnation counts the node's restarts; read contexts include it so
	// an answer meant for a previous incarnation is never mistaken for one
	// of the current one.
	Incarnation() uint32
	// Reply sends a reply to a client over the simulated network.
	Reply(client int, reply any)
	// Now is the virtual time.
	Now() time.Duration
}

// Workload is the clients' side of an application: it makes each node's
// Service, generates client operations, records their history, and checks
// it at the end.
type Workload interface {
	// NewService returns the service for a new incarnation of a node.
	NewService(host NodeHost) Service
	// Start is called once, at time zero, to schedule the first operations.
	Start(w *World)
	// ClientReceive delivers a reply that a node sent to a client.
	ClientReceive(client int, reply any)
	// ClientWake fires a timer the workload set with World.WakeClient.
	ClientWake(client int, token uint64)
	// ProgressSince reports whether a write that began at or after since
	// has been acknowledged: the liveness phase's test of client progress.
	ProgressSince(since time.Duration) bool
	// Quiesce asks the clients to start no new operation; Idle reports
	// when none is in flight any more.
	Quiesce()
	Idle() bool
	// Finish checks what the clients saw, once the run is over and the
	// nodes have settled. services holds the live nodes' services.
	Finish(w *World, services []Service) (WorkloadReport, error)
}

// WorkloadReport is what a workload tells about a run.
type WorkloadReport struct {
	// Ops is the number of operations in the checked history.
	Ops int
	// Acked counts writes acknowledged to clients; Unknown counts
	// operations whose client never learned the outcome.
	Acked, Unknown int
	// WriteLatency is the time from a write's call to its acknowledgment.
	WriteLatency Histogram
	// Verdict is the linearizability checker's verdict ("ok", "illegal" or
	// "unknown" when the search ran out of time).
	Verdict string
	// VisualizationPath is the porcupine HTML written, if any.
	VisualizationPath string
	// WatchEvents counts the watch events checked against the committed
	// log, and Sessions the sessions whose lifetime was checked (sessions
	// workload).
	WatchEvents int
	Sessions    int
	// Requests counts the client requests answered, of every kind (pings,
	// connects and watches included; sessions workload).
	Requests int
}

// CheckLinearizable checks a workload's history with porcupine, with the
// injected faults as annotations, and writes the visualization where the
// run asked for it (always for an illegal history). what names the
// operations in the error ("operations", "list operations"), and the
// verdict and the visualization's path go into report.
func CheckLinearizable(w *World, cfg *Config, model porcupine.Model, ops []porcupine.Operation, what string, report *WorkloadReport) error {
	opts := []linearizability.CheckOption{linearizability.WithAnnotations(w.Annotations()...)}
	if cfg.VisualizationPath != "" {
		opts = append(opts, linearizability.VisualizeTo(cfg.VisualizationPath))
		if cfg.VisualizeAlways {
			opts = append(opts, linearizability.VisualizeAlways())
		}
	}
	result, err := linearizability.Check(model, ops, cfg.CheckTimeout, opts...)
	report.Verdict, report.VisualizationPath = string(result.Verdict), result.VisualizationPath
	if err != nil {
		return err
	}
	if result.Verdict == linearizability.VerdictIllegal {
		where := ""
		if result.VisualizationPath != "" {
			where = " (visualization: " + result.VisualizationPath + ")"
		}
		culprit := ""
		if result.Culprit != "" {
			culprit = ": " + result.Culprit
		}
		return fmt.Errorf("linearizability violated: the history of %d %s has no linearization%s%s", len(ops), what, culprit, where)
	}
	return nil
}
