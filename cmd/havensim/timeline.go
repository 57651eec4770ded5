package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/havenproject/haven/sim"
	"github.com/havenproject/haven/sim/timeline"
)

// pictures writes what -timeline and -explain ask for, from the traces the
// campaign wrote: for a single seed always, for several only for the seeds
// that failed (the seed number put before the extension, as for -trace).
type pictures struct {
	timeline string // the HTML file to write, "" for none
	explain  bool
	// traceDir holds the traces when the user asked for none.
	traceDir string
}

// prepare makes sure the campaign writes the traces the pictures are
// drawn from.
func (p *pictures) prepare(camp *sim.Campaign) error {
	if p.timeline == "" && !p.explain {
		return nil
	}
	if camp.TracePath == "" {
		dir, err := os.MkdirTemp("", "havensim-trace-")
		if err != nil {
			return err
		}
		p.traceDir = dir
		camp.TracePath = filepath.Join(dir, "trace.txt")
	}
	return nil
}

func (p *pictures) write(camp *sim.Campaign, sum *sim.Summary, stdout, stderr io.Writer) error {
	if p.traceDir != "" {
		defer os.RemoveAll(p.traceDir)
	}
	if p.timeline == "" && !p.explain {
		return nil
	}
	single := len(camp.Seeds) == 1
	failed := map[uint64]*sim.Result{}
	for i := range sum.Failures {
		failed[sum.Failures[i].Seed] = &sum.Failures[i]
	}
	for _, seed := range camp.Seeds {
		r, fail := failed[seed]
		if !single && !fail {
			continue
		}
		f, err := os.Open(perSeed(camp.TracePath, seed, single))
		if err != nil {
			return fmt.Errorf("-timeline: the trace of seed %d: %w", seed, err)
		}
		run, err := timeline.Parse(f)
		f.Close()
		if err != nil {
			return err
		}
		if fail {
			run.Fail(r.FailedAt.Seconds(), r.Err.Error())
		}
		if p.explain {
			fmt.Fprint(stdout, timeline.Explain(run))
		}
		if p.timeline != "" {
			path := perSeed(p.timeline, seed, single)
			out, err := os.Create(path)
			if err != nil {
				return err
			}
			if err := timeline.Render(out, run); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "timeline of seed %d: %s\n", seed, path)
		}
	}
	return nil
}

// perSeed is the file for one seed: the path itself for a single seed,
// else the seed number put before the extension (trace-17.txt), as the
// campaign names its traces.
func perSeed(path string, seed uint64, single bool) string {
	if single {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + strconv.FormatUint(seed, 10) + ext
}
