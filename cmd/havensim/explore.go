package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/havenproject/haven/sim/explore"
)

const exploreUsage = `havensim -explore searches every order of events within a bound, instead of
drawing one per seed: for a cluster of the real raft core it tries, from each
state, every delivery of a message in flight, every duplication and drop (up
to their budgets), an election timeout on every node, a heartbeat from the
leader, a client proposal, and a crash and restart that loses unsynced
writes; it checks Raft's safety properties (Election Safety, Log Matching,
Leader Completeness, State Machine Safety, the commit rule of §5.4.2, the
core's invariants, and that nothing is promised before it is on disk) in
every state it reaches. Equal states are explored once (whole-state hashes).
The search deepens one step at a time, so a violation it prints is a
shortest one, as a timeline: one line per step, each node as role, term and
log terms, "|" after its committed prefix.

Usage:
  havensim -explore [flags]

Examples:
  havensim -explore                                   # CI's bound: 3 nodes, depth 12, 3 timeouts
  havensim -explore -depth 16 -timeouts 4 -crashes 1  # deeper
  havensim -explore -nodes 5 -depth 9

Flags:
`

func runExplore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("havensim -explore", flag.ContinueOnError)
	b := explore.DefaultBounds()
	fs.Bool("explore", true, "explore exhaustively (this mode)")
	fs.IntVar(&b.Nodes, "nodes", b.Nodes, "number of nodes (3 or 5)")
	fs.IntVar(&b.Depth, "depth", b.Depth, "most actions on one path")
	fs.IntVar(&b.Timeouts, "timeouts", b.Timeouts, "most election timeouts on one path")
	fs.IntVar(&b.Heartbeats, "heartbeats", b.Heartbeats, "most leader heartbeat rounds on one path")
	fs.IntVar(&b.Proposals, "proposals", b.Proposals, "most client proposals on one path")
	fs.IntVar(&b.Crashes, "crashes", b.Crashes, "most crashes (with restart) on one path")
	fs.IntVar(&b.Duplicates, "duplicates", b.Duplicates, "most duplicated deliveries on one path")
	fs.IntVar(&b.Drops, "drops", b.Drops, "most dropped messages on one path")
	fs.BoolVar(&b.PreVote, "prevote", b.PreVote, "run PreVote (thesis §9.6)")
	fs.BoolVar(&b.CheckQuorum, "checkquorum", b.CheckQuorum, "run CheckQuorum (thesis §6.2)")
	limit := fs.Duration("time-limit", 10*time.Minute, "give up (exit 3) if the search is not done by then")
	asJSON := fs.Bool("json", false, "print one JSON object summarizing the search as the last line")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), exploreUsage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\nExit status: 0 if no state within the bounds violates a property, 1 if one does, 2 for bad usage, 3 if the time limit ran out first.\n")
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var bad string
	switch {
	case b.Nodes != 3 && b.Nodes != 5:
		bad = fmt.Sprintf("-nodes %d: want 3 or 5", b.Nodes)
	case b.Depth < 1:
		bad = fmt.Sprintf("-depth %d: want 1 or more", b.Depth)
	case fs.NArg() > 0:
		bad = fmt.Sprintf("unexpected argument %q", fs.Arg(0))
	}
	if bad != "" {
		fmt.Fprintf(fs.Output(), "havensim -explore: %s (havensim -explore -help)\n", bad)
		return 2
	}
	rep, err := explore.Explore(b, time.Now().Add(*limit))
	code := 0
	switch {
	case err != nil:
		code = 3
	case rep.Violation != "":
		code = 1
	}
	if *asJSON {
		out := exploreJSON{
			Explored: rep.Explored, Distinct: rep.Distinct, Depth: rep.Depth, Seconds: rep.Elapsed.Seconds(),
			Complete: err == nil, Violation: rep.Violation, Steps: rep.Steps, Timeline: rep.Timeline,
		}
		if rep.Violation != "" {
			out.Failures = 1
			out.FailedSeeds = []exploreFailure{{Error: rep.Violation + "\n" + strings.Join(rep.Timeline, "\n")}}
		}
		line, _ := json.Marshal(out)
		fmt.Fprintln(stdout, string(line))
		return code
	}
	fmt.Fprintln(stdout, rep.String())
	if err != nil {
		fmt.Fprintln(stderr, err)
	}
	return code
}

// exploreJSON is havensim -explore -json's summary. failures and
// failed_seeds have the shape of a seed campaign's (with seed 0), so that
// tools reading one read the other.
type exploreJSON struct {
	Explored    int              `json:"explored"`
	Distinct    int              `json:"distinct"`
	Depth       int              `json:"depth"`
	Seconds     float64          `json:"seconds"`
	Complete    bool             `json:"complete"`
	Violation   string           `json:"violation,omitempty"`
	Steps       int              `json:"steps,omitempty"`
	Timeline    []string         `json:"timeline,omitempty"`
	Failures    int              `json:"failures"`
	FailedSeeds []exploreFailure `json:"failed_seeds,omitempty"`
}

type exploreFailure struct {
	Seed      uint64  `json:"seed"`
	AtSeconds float64 `json:"at_seconds"`
	Error     string  `json:"error"`
}
