package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/havenproject/haven/linearizability"
	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/netproto/client"
)

// options of one run of the suite.
type options struct {
	bin      string        // the havend binary
	seed     uint64        // draws the faults and the workload
	nodes    int           // cluster size
	workers  int           // concurrent worker clients
	duration time.Duration // of faults and load; then heal and check
	recovery time.Duration // bound on recovery after healing
	deadline time.Duration // bound on the whole run
	// faults forces the kinds of fault (a comma list of faultKinds);
	// empty: drawn per run.
	faults string
	// powerLoss forces power-loss mode on ("1") or off ("0"); empty:
	// drawn per run, on three times in four.
	powerLoss string
	logf      func(string, ...any)
}

// result of a run: its directory (kept when it failed) and the verdicts.
type result struct {
	dir      string
	swarm    string
	verdicts verdicts
	ops      int
	faults   int
}

func (r *result) failed() bool { return len(r.verdicts.failures) > 0 }

// run starts a cluster, drives it with clients while the nemesis injects
// faults, heals, and checks. It fails only through result.verdicts (or an
// error when the run itself could not be made).
func run(o options) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.deadline)
	defer cancel()
	dir, err := os.MkdirTemp("", "haven-nemesis-*")
	if err != nil {
		return nil, err
	}
	res := &result{dir: dir}
	v := &res.verdicts
	rng := rand.New(rand.NewPCG(o.seed, 0x6e656d))
	kinds, err := drawKinds(rng, o.faults)
	if err != nil {
		return res, err
	}
	powerLoss := rng.IntN(4) != 0
	if o.powerLoss != "" {
		powerLoss = o.powerLoss == "1"
	}
	res.swarm = fmt.Sprintf("faults %v, power loss at kill -9 %v", kinds, powerLoss)
	o.logf("nemesis: swarm: %s", res.swarm)
	c, err := newCluster(o.bin, dir, o.nodes, rng)
	if err != nil {
		return res, err
	}
	c.powerLoss, c.clockHook = powerLoss, slices.Contains(kinds, "clock")
	defer c.stopAll()
	for i := range c.nodes {
		if err := c.start(i); err != nil {
			return res, err
		}
	}
	if err := waitLeader(ctx, c, 60*time.Second); err != nil {
		return res, fmt.Errorf("no leader at start: %w", err)
	}
	eps := c.endpoints()
	r := &recorder{t0: time.Now()}

	// Observers: one long-lived watch per path, the reference stream.
	observers := map[string]*watchRec{}
	var obsMu sync.Mutex
	var obsClients []*client.Client
	for _, p := range paths {
		oc, err := client.Connect(ctx, client.Config{Endpoints: eps, TTL: 30 * time.Second})
		if err != nil {
			return res, fmt.Errorf("observer: %w", err)
		}
		obsClients = append(obsClients, oc)
		w, err := oc.Watch(ctx, p)
		if err != nil {
			return res, fmt.Errorf("observer watch: %w", err)
		}
		rec := &watchRec{row: -1, session: oc.SessionID(), path: p, at: time.Now(), version: w.Version, items: w.Items}
		observers[p] = rec
		go rec.receive(&obsMu, w)
	}
	defer func() {
		for _, oc := range obsClients {
			oc.Abandon()
		}
	}()

	// Load and faults.
	tl := &timeline{}
	loadCtx, stopLoad := context.WithTimeout(ctx, o.duration)
	defer stopLoad()
	var wg sync.WaitGroup
	for w := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(loadCtx, r, w, eps, o.seed, o.logf)
		}()
	}
	// The truth: every node's data dir dumped every few seconds (compaction
	// drops what a later dump would miss), and once more at the end.
	clog := newCommittedLog()
	dumpDone := make(chan struct{})
	go func() {
		defer close(dumpDone)
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-time.After(3 * time.Second):
				clog.dumpAll(c, true)
			}
		}
	}()
	nemDone := make(chan struct{})
	var exits, faultFailures []string
	go func() {
		exits, faultFailures = nemesis(loadCtx, c, rng, kinds, tl, o.logf)
		close(nemDone)
	}()
	<-nemDone
	for _, e := range exits {
		v.fail("node stopped with no fault of its disk: %s", e)
	}
	for _, f := range faultFailures {
		v.fail("%s", f)
	}
	wg.Wait()
	<-dumpDone
	res.faults = len(tl.all())
	healed := time.Now()
	// liveFrom is when the faults had healed and a leader was stable (the
	// recovery write below succeeded): from then on nothing but its own
	// silence may keep a session alive (history.CheckDeadSessions). Until
	// then a new leader may rightly give every session a fresh ttl. If the
	// cluster never recovers (a failure of its own), no session is judged.
	var liveFrom time.Time

	// Recovery: a leader, and a write that succeeds, within the bound.
	checkRow := o.workers
	chk, err := client.Connect(ctx, client.Config{Endpoints: eps, TTL: 30 * time.Second})
	if err != nil {
		v.fail("recovery: no session within the deadline after healing: %v", err)
	} else {
		defer chk.Abandon()
		recovered := false
		for time.Since(healed) < o.recovery && ctx.Err() == nil {
			in := linearizability.ListsInput{Op: linearizability.PushItem, Path: paths[0], Session: chk.SessionID(), Data: encodeData("recovery")}
			op := r.begin(checkRow, in)
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			w, err := chk.Push(wctx, paths[0], "recovery")
			cancel()
			r.end(op, outcome(&w.List, err, false))
			if err == nil && c.leader(ctx) >= 0 {
				recovered, liveFrom = true, time.Now()
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !recovered {
			v.fail("recovery: no leader and successful write within %v of healing", o.recovery)
		} else {
			v.note("recovered %v after healing", time.Since(healed).Round(time.Millisecond))
		}
	}

	readAll := func() (map[string]client.List, bool) {
		out := map[string]client.List{}
		if chk == nil {
			return out, false
		}
		for _, p := range paths {
			op := r.begin(checkRow, linearizability.ListsInput{Op: linearizability.ReadList, Path: p})
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			l, err := chk.Get(rctx, p)
			cancel()
			r.end(op, outcome(&l, err, true))
			if err != nil {
				v.fail("final read of %s: %v", p, err)
				return out, false
			}
			out[p] = l
		}
		return out, true
	}
	catchUp := func(final map[string]client.List) bool {
		until := time.Now().Add(30 * time.Second)
		for time.Now().Before(until) {
			obsMu.Lock()
			behind := false
			for p, l := range final {
				obs := observers[p]
				last := obs.version
				if n := len(obs.events); n > 0 {
					last = obs.events[n-1].Version
				}
				if last < l.Version && !obs.reset() {
					behind = true
				}
			}
			obsMu.Unlock()
			if !behind {
				return true
			}
			time.Sleep(100 * time.Millisecond)
		}
		return false
	}

	// Sessions that expired under a client still using them; the last
	// sessions are checked before the end below.
	r.mu.Lock()
	for _, s := range r.sessions {
		if s.how == "live" && isExpired(s.client) {
			s.how, s.endCall = "expired", s.start
		}
	}
	failovers := 0
	for _, s := range r.sessions {
		failovers += s.client.Failovers()
	}
	v.note("%d worker sessions, %d failovers (resumed on another node)", len(r.sessions), failovers)
	r.mu.Unlock()
	// No acknowledged write lost: read while the last sessions live
	// (checked once the committed log is known).
	first, firstOK := readAll()
	// End the live sessions, half closed, half dropped as by a crash;
	// history.CheckDeadSessions judges how long they lived after. The log
	// is read well after their ttl plus the bound: one never ended fails.
	r.mu.Lock()
	var live []*session
	for _, s := range r.sessions {
		if s.how == "live" {
			live = append(live, s)
		}
	}
	r.mu.Unlock()
	for i, s := range live {
		endSession(r, s, i%2 == 0)
	}
	const deadBound = 15 * time.Second
	time.Sleep(5*time.Second + deadBound)
	final, ok := readAll()
	if ok && !catchUp(final) {
		v.note("the observers did not catch up with the final read within 30 s")
	}

	// Barrier writes: a WAL records a rise of the commit index with its
	// node's next write, so two writes, one after the other, make every
	// earlier entry (the last session ends, above all) recorded committed
	// on the leader at least.
	var recorded uint64 // the first barrier's index: every WAL-recorded commit must reach it
	if chk != nil && ok {
		for i := range 2 {
			in := linearizability.ListsInput{Op: linearizability.PushItem, Path: paths[0], Session: chk.SessionID(), Data: encodeData(fmt.Sprintf("barrier%d", i))}
			op := r.begin(checkRow, in)
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			w, err := chk.Push(wctx, paths[0], fmt.Sprintf("barrier%d", i))
			cancel()
			r.end(op, outcome(&w.List, err, false))
			if err != nil {
				v.fail("barrier write after the checks: %v", err)
				continue
			}
			if i == 0 {
				recorded = w.Item.Version
			}
			// The observers' streams are checked to be complete through
			// the whole log, the barriers included.
			final[paths[0]] = w.List
		}
		if !catchUp(final) {
			v.note("the observers did not catch up with the barrier writes within 30 s")
		}
		time.Sleep(500 * time.Millisecond) // the followers' appends of the second
	}
	// The committed log: every node killed (-9, the last crash its WAL
	// must recover from), dumped, merged.
	for i := range c.nodes {
		c.pause(i, false)
		c.kill(i)
	}
	end := time.Now()
	clog.dumpAll(c, false)
	k := clog.apply(recorded)
	log := clog.prefix()
	r.mu.Lock()
	checkLog(v, clog, k, r.ops, r.sessions, recorded)
	if firstOK {
		kk := k
		if !k.complete {
			kk = nil
		}
		checkLost(v, r.ops, r.sessions, first, kk)
	}
	r.mu.Unlock()

	// When the dumps do not make a whole log, checkLog has failed the run
	// and checkOnDisk judged lost writes from the dumps; the checkers below
	// still run, on the log's prefix from index 1 to the first gap, so that
	// the run reports every violation it can see (checkHistory says what
	// each gives up).
	partial := !k.complete
	if partial {
		v.note("committed log incomplete: the expiry, registration, watch, dead-session and linearizability checkers run on its prefix through %d", k.last)
	}
	in := recordInputs{log: log, k: k, decided: map[string]time.Time{}, partial: partial}
	for _, p := range paths {
		in.observers = append(in.observers, observers[p])
	}
	// Every expiry the prefix holds is a real one: it is judged against
	// the pings (all recorded) as in a whole log; those past it are not.
	r.mu.Lock()
	in.pingExpiry, in.decided = checkExpiries(v, c, r, k, log)
	r.mu.Unlock()
	obsMu.Lock()
	r.mu.Lock()
	// Registrations answered past the log's last index are not judged.
	checkRegistrations(v, log, append(append([]*watchRec(nil), r.watches...), in.observers...))
	recs := buildRecords(r, in)
	res.ops = len(r.ops)
	r.mu.Unlock()
	obsMu.Unlock()
	// The history goes to disk before porcupine searches it: a search that
	// runs out of memory or time still leaves what it searched.
	writeHistory(dir, recs)
	checkHistory(v, recs, tl.all(), r.t0, liveFrom, end, o, dir, partial)
	writeArtifacts(dir, r, tl.all(), observers, res, recs)
	return res, nil
}

// deadBounds are the dead-session check's tolerances here: havend's 10 ms
// tick, the clock fault's 1% (2% allowed, as for expiries), a commit of up
// to 1 s (an election timeout is 100–200 ms, but fsync on a loaded
// two-core machine is slow), and 1 s for the observer to hear of it (its
// long poll answers at once when an event is pending).
var deadBounds = history.DeadSessionBounds{Drift: 0.02, Tick: 10 * time.Millisecond, Commit: time.Second, Delay: time.Second}

// checkHistory runs linearizability/history's checkers on the run's
// history: the watch streams, the dead sessions (from liveFrom, the
// history ending at end), and linearizability by porcupine over
// history.ListsHistory.
//
// partial says the history's log is only the committed log's prefix
// (buildRecords with partial). Each checker then judges what the prefix
// can tell, and nothing past it:
//   - the watch checker as it is: every delivery through the prefix's
//     last index (the later ones are not in the records) must be the next
//     change there, and a stream still open must have had every change in
//     the prefix, which a whole log would require too;
//   - the dead-session checker on the sessions the prefix ends only: one
//     it does not end may have ended past it, at a time the records do not
//     give, so judging it "never ended" would fail a sound run;
//   - porcupine over history.ListsHistoryOfPrefix: the answers past the
//     prefix are checked against each other, not the log, and every
//     session it does not end may end at any time after its last write.
func checkHistory(v *verdicts, recs []history.Record, tl []fault, t0, liveFrom, end time.Time, o options, dir string, partial bool) {
	ns := func(t time.Time) int64 { return int64(t.Sub(t0)) }
	deliveries := 0
	for _, r := range recs {
		if r.Delivery != nil {
			deliveries++
		}
	}
	if err := history.CheckWatches(recs); err != nil {
		v.fail("%v", err)
	} else {
		v.note("watch streams exact: %d deliveries", deliveries)
	}
	if liveFrom.IsZero() {
		liveFrom = end
	}
	dead, lists := recs, history.ListsHistory
	if partial {
		dead = slices.DeleteFunc(slices.Clone(recs), func(r history.Record) bool { return r.Session != nil && r.Session.Ended == 0 })
		lists = history.ListsHistoryOfPrefix
	}
	if err := history.CheckDeadSessions(dead, deadBounds, ns(liveFrom), ns(end)); err != nil {
		v.fail("%v", err)
	}
	h, err := lists(recs)
	if err != nil {
		v.fail("lists history: %v", err)
		return
	}
	for _, f := range tl {
		h.Annotate(linearizability.Annotation{Start: ns(f.Start), End: ns(f.End), Text: f.Text, Color: "#ff9191"})
	}
	limit := 90*time.Second + o.duration // long runs make long histories
	lin, err := linearizability.Check(linearizability.ListsModel, h.Operations(), limit,
		linearizability.VisualizeTo(filepath.Join(dir, "history.html")),
		linearizability.WithAnnotations(h.Annotations()...))
	if err != nil {
		v.note("visualization: %v", err)
	}
	switch lin.Verdict {
	case linearizability.VerdictIllegal:
		v.fail("not linearizable: %s; see %s", lin.Culprit, lin.VisualizationPath)
	case linearizability.VerdictUnknown:
		v.note("porcupine timed out after %v: linearizability undecided", limit)
	default:
		v.note("linearizable (porcupine, %d operations)", len(h.Operations()))
	}
}

func waitLeader(ctx context.Context, c *cluster, bound time.Duration) error {
	until := time.Now().Add(bound)
	for time.Now().Before(until) {
		if c.leader(ctx) >= 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("none within %v", bound)
}

// writeHistory leaves the history in the shared format of
// linearizability/history, as the checkers read it, in dir/history.jsonl.
func writeHistory(dir string, recs []history.Record) {
	var b strings.Builder
	hw := history.NewWriter(&b)
	for _, rec := range recs {
		_ = hw.Write(rec)
	}
	_ = hw.Flush()
	_ = os.WriteFile(filepath.Join(dir, "history.jsonl"), []byte(b.String()), 0o644)
}

// writeArtifacts leaves the watch deliveries,
// the fault timeline and the verdicts in dir, beside the nodes' logs.
func writeArtifacts(dir string, r *recorder, tl []fault, observers map[string]*watchRec, res *result, recs []history.Record) {
	var b strings.Builder
	for _, s := range r.sessions {
		fmt.Fprintf(&b, "session %s ttl %v start %v end %s at %v\n", s.id, s.ttl, s.start.Sub(r.t0), s.how, s.death.Sub(r.t0))
	}
	_ = os.WriteFile(filepath.Join(dir, "sessions.txt"), []byte(b.String()), 0o644)
	b.Reset()
	for _, w := range append(r.watches, observers[paths[0]], observers[paths[1]], observers[paths[2]]) {
		if w == nil {
			continue
		}
		fmt.Fprintf(&b, "watch row %d session %s path %s from v%d (%d items) reset=%v\n", w.row, w.session, w.path, w.version, len(w.items), w.reset())
		for _, ev := range w.events {
			fmt.Fprintf(&b, "  %s @%d item %d owner %s\n", ev.Kind, ev.Version, ev.Item.Version, ev.Item.Owner)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "watches.txt"), []byte(b.String()), 0o644)
	b.Reset()
	fmt.Fprintf(&b, "swarm: %s\n", res.swarm)
	for _, f := range tl {
		fmt.Fprintf(&b, "%v .. %v  %s\n", f.Start.Sub(r.t0).Round(time.Millisecond), f.End.Sub(r.t0).Round(time.Millisecond), f.Text)
	}
	_ = os.WriteFile(filepath.Join(dir, "faults.txt"), []byte(b.String()), 0o644)
	b.Reset()
	for _, f := range res.verdicts.failures {
		fmt.Fprintf(&b, "FAIL %s\n", f)
	}
	for _, n := range res.verdicts.notes {
		fmt.Fprintf(&b, "note %s\n", n)
	}
	_ = os.WriteFile(filepath.Join(dir, "verdicts.txt"), []byte(b.String()), 0o644)
}
