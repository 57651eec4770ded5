package sim

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The timing model, havend's defaults. One tick is 10 ms of virtual time. A
// follower waits a random 10..19 ticks (100..190 ms) without hearing from a
// leader before it campaigns (§5.2), and a leader sends heartbeats every
// other tick (20 ms), so broadcastTime ≪ electionTimeout (§5.6) holds with a
// factor of five even for the slow messages of the heavy tail's bulk.
const (
	TickInterval   = 10 * time.Millisecond
	ElectionTicks  = 10
	HeartbeatTicks = 2
	// ElectionTimeout is the longest randomized election timeout.
	ElectionTimeout = 2 * ElectionTicks * TickInterval
	// LivenessBound is how long, after every fault is healed, the cluster
	// has to elect a leader and acknowledge a new client write: ten
	// election timeouts.
	LivenessBound = 10 * ElectionTimeout
)

// FaultProfile chooses how faulty a run's world is.
type FaultProfile uint8

const (
	// FaultsNone: a calm network and disks; only ordinary delays.
	FaultsNone FaultProfile = iota
	// FaultsLight: rare, mild faults of every kind.
	FaultsLight
	// FaultsHeavy: frequent, severe faults of every kind.
	FaultsHeavy
	// FaultsSwarm: each seed draws which kinds of fault it injects and how
	// hard (swarm testing, Groce et al. 2012): a run that leaves some
	// faults out stresses the others in ways an everything-at-once mix
	// never does.
	FaultsSwarm
)

var faultProfileNames = []string{"none", "light", "heavy", "swarm"}

func (p FaultProfile) String() string {
	if int(p) < len(faultProfileNames) {
		return faultProfileNames[p]
	}
	return fmt.Sprintf("FaultProfile(%d)", uint8(p))
}

// ParseFaultProfile reads "none", "light", "heavy" or "swarm".
func ParseFaultProfile(s string) (FaultProfile, error) {
	for i, name := range faultProfileNames {
		if s == name {
			return FaultProfile(i), nil
		}
	}
	return 0, fmt.Errorf("sim: unknown fault profile %q (want %s)", s, strings.Join(faultProfileNames, ", "))
}

// Config describes one simulated run. The zero values of the optional
// fields choose the defaults shown.
type Config struct {
	Seed  uint64
	Nodes int // default 5
	// Duration is the fault phase in virtual time (default 60 s). The
	// liveness and settling phases follow it.
	Duration time.Duration
	Faults   FaultProfile
	// ClientRate is the offered client load in operations per virtual
	// second (default 100), spread over Clients clients (default 10) and
	// Keys keys (default 100; the lists of the sessions workload).
	ClientRate float64
	Clients    int
	Keys       int
	// Params, if set, replaces the parameters the profile would draw.
	Params *Params
	// Lease overrides whether the run reads by leader lease.
	Lease LeaseMode
	// CompactEvery, if set, overrides how often hosts compact their log
	// (every this many applied entries).
	CompactEvery uint64
	// Knobs, if set, turn on corners of the fault model in every run,
	// whatever the profile drew: a comma-separated list of knobNames
	// (e.g. "membership,transfer,no-prevote").
	Knobs string
	// Schedule, if set, replaces the fault schedule the parameters would
	// draw (the property test shrinks schedules this way).
	Schedule []Fault
	// Trace, if set, receives one line per event.
	Trace io.Writer
	// VisualizationPath, if set, is where the porcupine HTML of the
	// history goes. VisualizeAlways writes it even when the history is
	// linearizable.
	VisualizationPath string
	VisualizeAlways   bool
	// HistoryPath, if set, is where the run's history goes, as JSON lines
	// in the format of package linearizability/history.
	HistoryPath string
	// CheckTimeout bounds the linearizability check (default 30 s).
	CheckTimeout time.Duration
	// Workload names the application, one registered with
	// RegisterWorkload: "kv" (the default: a key-value store above raft,
	// package sim/kv), or "sessions" (the Haven service core itself,
	// package sim/sessions).
	// NewWorkload, if set, is used instead: it is how another application
	// plugs in.
	Workload    string
	NewWorkload func(cfg *Config) Workload
}

func (c *Config) setDefaults() {
	if c.Nodes <= 0 {
		c.Nodes = 5
	}
	if c.Duration <= 0 {
		c.Duration = 60 * time.Second
	}
	if c.ClientRate <= 0 {
		c.ClientRate = 100
	}
	if c.Clients <= 0 {
		c.Clients = 10
	}
	if c.Keys <= 0 {
		c.Keys = 100
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = 30 * time.Second
	}
	if c.Workload == "" {
		c.Workload = "kv"
	}
}

// workloads maps each name Config.Workload accepts to the function that
// makes the workload. The workload packages fill it from their init
// functions (sim/kv registers "kv", sim/sessions "sessions"), so a program
// offers the workloads whose packages it imports, and the engine imports
// none of them.
var workloads = map[string]func(cfg *Config) Workload{}

// RegisterWorkload makes newWorkload the workload that Config.Workload name
// selects. It is meant for a workload package's init function, and panics
// if name is taken.
func RegisterWorkload(name string, newWorkload func(cfg *Config) Workload) {
	if _, taken := workloads[name]; taken {
		panic("sim: workload " + strconv.Quote(name) + " registered twice")
	}
	workloads[name] = newWorkload
}

func newWorkload(cfg *Config) (Workload, error) {
	if cfg.NewWorkload != nil {
		return cfg.NewWorkload(cfg), nil
	}
	if newWorkload, ok := workloads[cfg.Workload]; ok {
		return newWorkload(cfg), nil
	}
	names := slices.Sorted(maps.Keys(workloads))
	return nil, fmt.Errorf("sim: unknown workload %q (want one of %s)", cfg.Workload, strings.Join(names, ", "))
}

// LeaseMode chooses which runs read by leader lease (§6.4.1).
type LeaseMode uint8

const (
	// LeaseAsDrawn leaves it to the parameters (the swarm draws lease
	// reads for a quarter of its seeds, half of them asking raft for the
	// forbidden lease-without-CheckQuorum).
	LeaseAsDrawn LeaseMode = iota
	// LeaseNever reads by ReadIndex only.
	LeaseNever
	// LeaseAlways reads by lease (with CheckQuorum) in every run.
	LeaseAlways
	// LeaseWithoutCheckQuorum reads by lease in every run and asks raft
	// for it without CheckQuorum, which raft must refuse (the run then
	// turns CheckQuorum on).
	LeaseWithoutCheckQuorum
)

var leaseModeNames = []string{"drawn", "never", "always", "no-checkquorum"}

func (m LeaseMode) String() string {
	if int(m) < len(leaseModeNames) {
		return leaseModeNames[m]
	}
	return fmt.Sprintf("LeaseMode(%d)", uint8(m))
}

// ParseLeaseMode reads "drawn", "never", "always" or "no-checkquorum".
func ParseLeaseMode(s string) (LeaseMode, error) {
	for i, name := range leaseModeNames {
		if s == name {
			return LeaseMode(i), nil
		}
	}
	return 0, fmt.Errorf("sim: unknown lease mode %q (want %s)", s, strings.Join(leaseModeNames, ", "))
}

func (m LeaseMode) apply(p *Params) {
	switch m {
	case LeaseNever:
		p.LeaseReads, p.LeaseWithoutCheckQuorum = false, false
	case LeaseAlways:
		p.LeaseReads, p.LeaseWithoutCheckQuorum = true, false
	case LeaseWithoutCheckQuorum:
		p.LeaseReads, p.LeaseWithoutCheckQuorum = true, true
	}
}

// MaxNodes bounds the cluster size (node sets are bit masks).
const MaxNodes = 16

// Params are a run's fault intensities and tunables. A profile draws them
// from the seed; they are printed with a failure so the reader knows which
// corner the seed stressed.
type Params struct {
	// One-way network delay: LatencyMin + Exp(LatencyMean); with
	// probability TailChance a message takes the heavy tail instead:
	// Pareto(TailScale, TailAlpha) capped at TailLimit.
	LatencyMin, LatencyMean time.Duration
	TailChance              float64
	TailScale               time.Duration
	TailAlpha               float64
	TailLimit               time.Duration
	// Loss, Duplicate and Reorder are per-message probabilities of being
	// dropped, delivered twice, or held back by an extra delay.
	Loss, Duplicate, Reorder float64

	// An fsync takes FsyncMin + Exp(FsyncMean).
	FsyncMin, FsyncMean time.Duration

	// Drift is the largest relative error of a node's clock: its ticks
	// come every TickInterval·(1±Drift).
	Drift float64

	// Mean virtual time between faults of each kind; zero disables the
	// kind. FaultLength is a fault's mean duration.
	PartitionEvery, ClogEvery, CrashEvery, PauseEvery time.Duration
	FaultLength                                       time.Duration
	// CrashPoint is the probability that a node crashes right after
	// sending a Ready's messages while some of its writes are not yet
	// synced — a leader's early messages before its fsync, or the others
	// with commit-only saves unsynced: the worst moment for a crash, which
	// random crash times almost never hit.
	CrashPoint float64

	// CompactEvery: hosts compact the log every this many applied entries.
	CompactEvery uint64
	// MaxMsgBytes and MaxInflight are raft's batching and pipelining caps
	// (64 bytes means one entry per message: catching up takes many).
	MaxMsgBytes uint64
	MaxInflight int
	// LeaseReads makes the nodes read by leader lease (§6.4.1) instead of
	// ReadIndex rounds. LeaseWithoutCheckQuorum asks raft for lease reads
	// without CheckQuorum: raft must refuse that configuration (the host
	// then turns CheckQuorum on); if it accepts, the run shows why it
	// should not have.
	LeaseReads              bool
	LeaseWithoutCheckQuorum bool

	// HotKeys is the share of client operations that go to a few hot keys
	// rather than spread over all of them: contention is what makes a
	// stale read visible, and spreading is what keeps porcupine fast.
	HotKeys float64

	// NoPreVote and NoCheckQuorum turn raft's PreVote (§9.6) and
	// CheckQuorum (§6.2) off: the configurations in which a disruptive
	// candidate really bumps terms and an isolated leader never steps down
	// by itself. (Lease reads keep CheckQuorum, which raft requires.)
	NoPreVote, NoCheckQuorum bool
	// MembershipEvery is the mean time between membership changes under
	// load (membership.go): add a learner, promote it, remove a follower
	// or the leader, add a removed node back with a new id. TransferEvery
	// is the mean time between leadership transfers (§3.10) to a random
	// voter, caught up or lagging; with it, a share of the TimeoutNow
	// messages arrive elections late (lateTimeoutNowChance). Zero disables
	// each.
	MembershipEvery, TransferEvery time.Duration
	// AdversarialDrift makes whichever node leads tick slowest (1+Drift)
	// and every other node fastest (1−Drift): the worst case for a leader
	// lease (§6.4.1). Drift is then capped at what the lease margin
	// tolerates (leaseSafeDrift).
	AdversarialDrift bool
	// DivergeEvery is the mean time between divergence faults: the leader
	// and a minority with it are cut off from the rest (so it writes
	// entries only a minority holds) and healed in an order that forces a
	// later leader to truncate them (FaultDiverge).
	DivergeEvery time.Duration
	// HoldBackEvery is the mean time between hold-back faults: for the
	// fault's length, a share of every message between nodes — raft's and
	// the service's alike — is held and only delivered seconds later,
	// across leader changes (FaultHoldBack).
	HoldBackEvery time.Duration
	// RestartReplayEvery is the mean time between late replays across a
	// restart (FaultRestartReplay). Only the restart-replay knob turns it
	// on: the swarm does not draw it, so that every seed keeps the fault
	// mix it had before it existed.
	RestartReplayEvery time.Duration
	// Backpressure runs every node with small bounds (BackpressureBounds):
	// raft's MaxUncommittedEntries and MaxCommittedBytesPerReady, and the
	// service core's MaxPendingWrites, MaxPendingReads and
	// MaxDeliveriesPerReady, so that the swarm hits them, and the bounds
	// checks (checks_config.go) see that none is exceeded. Only the
	// "backpressure" knob sets it.
	Backpressure bool
	// WipeEvery is the mean time between disk wipes (FaultWipe); only the
	// "wipe" knob sets it.
	WipeEvery time.Duration
	// WatchElsewhere has the sessions clients now and then start a watch
	// with since = a version of the list another client was shown
	// (sessionsWorkload.handedSince). Only the "watch-elsewhere" knob sets
	// it, so that every seed keeps the run it had before it existed.
	WatchElsewhere bool
	// SnapshotCrash crashes half the nodes that install a leader's
	// snapshot (a follower behind the leader's compaction) during its
	// fsync, while the faults run: the file may be published and its
	// marker lost. Only the "snapshot-crash" knob sets it.
	SnapshotCrash bool
}

func calmParams() Params {
	return Params{
		LatencyMin: 200 * time.Microsecond, LatencyMean: 300 * time.Microsecond,
		FsyncMin: 100 * time.Microsecond, FsyncMean: 200 * time.Microsecond,
		CompactEvery: 100, MaxMsgBytes: 64 << 10, MaxInflight: 64,
	}
}

// drawParams draws a run's parameters for a profile.
func drawParams(p FaultProfile, r *Rand) Params {
	ps := calmParams()
	switch p {
	case FaultsLight:
		ps.TailChance, ps.TailScale, ps.TailAlpha, ps.TailLimit = 0.01, 5*time.Millisecond, 1.5, 500*time.Millisecond
		ps.Loss, ps.Duplicate, ps.Reorder = 0.01, 0.005, 0.01
		ps.Drift = 0.01
		ps.PartitionEvery, ps.ClogEvery, ps.CrashEvery, ps.PauseEvery = 10*time.Second, 20*time.Second, 15*time.Second, 15*time.Second
		ps.FaultLength = time.Second
		ps.CompactEvery = 100
		ps.HotKeys = 0.2
	case FaultsHeavy:
		ps.TailChance, ps.TailScale, ps.TailAlpha, ps.TailLimit = 0.05, 10*time.Millisecond, 1.2, 2*time.Second
		ps.Loss, ps.Duplicate, ps.Reorder = 0.05, 0.02, 0.05
		ps.FsyncMean = 2 * time.Millisecond
		ps.Drift = 0.05
		ps.PartitionEvery, ps.ClogEvery, ps.CrashEvery, ps.PauseEvery = 2*time.Second, 5*time.Second, 3*time.Second, 4*time.Second
		ps.FaultLength = time.Second
		ps.CrashPoint = 0.002
		ps.CompactEvery, ps.MaxMsgBytes, ps.MaxInflight = 30, 64, 2
		ps.HotKeys = 0.4
	case FaultsSwarm:
		ps = drawSwarm(r)
	}
	return ps
}

// drawSwarm draws a seed's own mix: each kind of fault is on or off by a
// coin, and its intensity comes from a range.
func drawSwarm(r *Rand) Params {
	ms := func(lo, hi float64) time.Duration { return time.Duration(r.Range(lo, hi) * float64(time.Millisecond)) }
	sec := func(lo, hi float64) time.Duration { return time.Duration(r.Range(lo, hi) * float64(time.Second)) }
	ps := Params{
		LatencyMin: ms(0.05, 1), LatencyMean: ms(0.1, 3),
		FsyncMin: ms(0.05, 1), FsyncMean: ms(0.1, 8),
		FaultLength: ms(50, 3000),
	}
	if r.Chance(0.5) {
		ps.TailChance, ps.TailScale, ps.TailAlpha, ps.TailLimit = r.Range(0.001, 0.05), ms(2, 20), r.Range(1.1, 2.5), ms(200, 3000)
	}
	if r.Chance(0.5) {
		ps.Loss = r.Range(0, 0.15)
	}
	if r.Chance(0.5) {
		ps.Duplicate = r.Range(0, 0.05)
	}
	if r.Chance(0.5) {
		ps.Reorder = r.Range(0, 0.1)
	}
	if r.Chance(0.5) {
		ps.Drift = r.Range(0, 0.1)
	}
	if r.Chance(0.5) {
		ps.PartitionEvery = sec(0.5, 10)
	}
	if r.Chance(0.5) {
		ps.ClogEvery = sec(1, 15)
	}
	if r.Chance(0.5) {
		ps.CrashEvery = sec(0.5, 10)
	}
	if r.Chance(0.5) {
		ps.PauseEvery = sec(1, 15)
	}
	if r.Chance(0.25) {
		ps.CrashPoint = r.Range(0.0001, 0.005)
	}
	ps.CompactEvery = []uint64{10, 30, 100, 500}[r.Intn(4)]
	ps.MaxMsgBytes = []uint64{64, 256, 4096, 1 << 20}[r.Intn(4)]
	ps.MaxInflight = []int{1, 4, 64}[r.Intn(3)]
	if r.Chance(0.25) {
		ps.LeaseReads = true
		ps.LeaseWithoutCheckQuorum = r.Chance(0.5)
	}
	if r.Chance(0.5) {
		ps.HotKeys = r.Range(0.2, 0.8)
	}
	// Drawn after everything above, so that the seeds drawn before these
	// knobs existed keep their fault mix.
	ps.NoPreVote = r.Chance(0.25)
	ps.NoCheckQuorum = !ps.LeaseReads && r.Chance(0.25)
	if r.Chance(0.4) {
		ps.MembershipEvery = sec(1, 8)
	}
	if r.Chance(0.4) {
		ps.TransferEvery = sec(0.5, 6)
	}
	if ps.LeaseReads && r.Chance(0.5) {
		ps.AdversarialDrift = true
		ps.Drift = r.Range(0, leaseDriftBound)
	}
	if r.Chance(0.3) {
		ps.DivergeEvery = sec(1, 6)
	}
	if r.Chance(0.3) {
		ps.HoldBackEvery = sec(2, 15)
	}
	return ps
}

// leaseDriftBound is the drift the simulated nodes' leases tolerate: their
// raft runs with its default margin, Config.LeaseMarginTicks =
// max(1, ElectionTicks/4).
var leaseDriftBound = leaseSafeDrift(ElectionTicks, max(1, ElectionTicks/4))

// leaseSafeDrift is the largest clock drift a leader lease of
// electionTicks − marginTicks leader ticks tolerates against followers'
// promise of electionTicks − 1 of their own ticks (a follower's first tick
// after a heartbeat may come at once): (E−m)(1+d) ≤ (E−1)(1−d).
func leaseSafeDrift(electionTicks, marginTicks int) float64 {
	e, m := float64(electionTicks), float64(marginTicks)
	return (m - 1) / (2*e - m - 1)
}

// String shows the parameters compactly, for failure reports and traces.
func (p Params) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "latency=%v+exp(%v)", p.LatencyMin, p.LatencyMean)
	if p.TailChance > 0 {
		fmt.Fprintf(&b, " tail=%.3f·pareto(%v,%.2f)≤%v", p.TailChance, p.TailScale, p.TailAlpha, p.TailLimit)
	}
	fmt.Fprintf(&b, " loss=%.3f dup=%.3f reorder=%.3f fsync=%v+exp(%v) drift=%.3f",
		p.Loss, p.Duplicate, p.Reorder, p.FsyncMin, p.FsyncMean, p.Drift)
	fmt.Fprintf(&b, " partition/%v clog/%v crash/%v pause/%v length~%v crashpoint=%.4f",
		p.PartitionEvery, p.ClogEvery, p.CrashEvery, p.PauseEvery, p.FaultLength, p.CrashPoint)
	fmt.Fprintf(&b, " compact=%d maxmsg=%d inflight=%d lease=%t leaseNoCQ=%t hot=%.2f",
		p.CompactEvery, p.MaxMsgBytes, p.MaxInflight, p.LeaseReads, p.LeaseWithoutCheckQuorum, p.HotKeys)
	fmt.Fprintf(&b, " prevote=%t checkquorum=%t membership/%v transfer/%v adversarial-drift=%t diverge/%v holdback/%v",
		!p.NoPreVote, !p.NoCheckQuorum, p.MembershipEvery, p.TransferEvery, p.AdversarialDrift, p.DivergeEvery, p.HoldBackEvery)
	if p.RestartReplayEvery > 0 {
		fmt.Fprintf(&b, " restart-replay/%v", p.RestartReplayEvery)
	}
	if p.Backpressure {
		b.WriteString(" backpressure")
	}
	if p.WipeEvery > 0 {
		fmt.Fprintf(&b, " wipe/%v", p.WipeEvery)
	}
	if p.WatchElsewhere {
		b.WriteString(" watch-elsewhere")
	}
	if p.SnapshotCrash {
		b.WriteString(" snapshot-crash")
	}
	return b.String()
}

// knobNames are the corners Config.Knobs can force on.
var knobNames = []string{"no-prevote", "no-checkquorum", "membership", "transfer", "adversarial-drift", "diverge", "holdback", "restart-replay", "backpressure", "wipe", "watch-elsewhere", "snapshot-crash"}

// applyKnobs forces the knobs named in list on p.
func applyKnobs(list string, p *Params) error {
	if list == "" {
		return nil
	}
	for _, k := range strings.Split(list, ",") {
		switch strings.TrimSpace(k) {
		case "no-prevote":
			p.NoPreVote = true
		case "no-checkquorum":
			p.NoCheckQuorum = true
		case "membership":
			if p.MembershipEvery == 0 {
				p.MembershipEvery = 2 * time.Second
			}
		case "transfer":
			if p.TransferEvery == 0 {
				p.TransferEvery = time.Second
			}
		case "adversarial-drift":
			p.AdversarialDrift = true
			p.Drift = leaseDriftBound
		case "diverge":
			if p.DivergeEvery == 0 {
				p.DivergeEvery = 2 * time.Second
			}
		case "holdback":
			if p.HoldBackEvery == 0 {
				p.HoldBackEvery = 4 * time.Second
			}
		case "restart-replay":
			if p.RestartReplayEvery == 0 {
				p.RestartReplayEvery = 2 * time.Second
			}
		case "backpressure":
			p.Backpressure = true
		case "wipe":
			if p.WipeEvery == 0 {
				p.WipeEvery = 3 * time.Second
			}
		case "watch-elsewhere":
			p.WatchElsewhere = true
		case "snapshot-crash":
			p.SnapshotCrash = true
		default:
			return fmt.Errorf("sim: unknown knob %q (want %s)", k, strings.Join(knobNames, ", "))
		}
	}
	if p.LeaseReads {
		// Lease reads need CheckQuorum (§6.4.1); raft refuses them
		// without it.
		p.NoCheckQuorum = false
	}
	return nil
}

// CheckWorkload reports whether cfg names a workload that can run.
func CheckWorkload(cfg *Config) error {
	c := *cfg
	c.setDefaults()
	if err := applyKnobs(c.Knobs, &Params{}); err != nil {
		return err
	}
	_, err := newWorkload(&c)
	return err
}
