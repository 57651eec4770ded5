package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/havenproject/haven/linearizability/history"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/raft/wal"
)

const dumpUsage = `havend dump: print the committed log of a data dir, read-only.

  havend dump -data DIR

prints every entry of the log held in DIR's WAL (segments over the newest
snapshot) up to the commit index it recorded, one JSON line each in the
history format of linearizability/history: {"entry":{"index":..,"term":..,
"data":..}} (data base64; "type":"confchange" for a configuration change).
Entries a snapshot compacted are not in the WAL any more: the first line is
then the entry after the snapshot, which a summary on stderr names. The
commit index a WAL records can lag what the node applied: a rise of the
commit index alone is written with the node's next write, not by itself
(docs/host.md). Nothing in DIR is written; a node running on it may have
appended since.

Flags:
`

// runDump is havend dump: the committed log of a data dir as history
// records, the truth a test of a real cluster reads after its run.
func runDump(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("havend dump", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), dumpUsage); fs.PrintDefaults() }
	data := fs.String("data", "", "the node's data dir (data_dir of its config)")
	group := fs.Uint64("group", 1, "the Raft group")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *data == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	d := &dataDir{path: *data}
	dir := d.groupDir(*group)
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintln(stderr, "havend dump:", err)
		return 1
	}
	st, err := wal.Read(dir, nil)
	if err != nil {
		fmt.Fprintln(stderr, "havend dump:", err)
		return 1
	}
	hw := history.NewWriter(stdout)
	printed := 0
	for _, e := range st.Entries {
		if e.Index > st.HardState.Commit {
			break
		}
		rec := &history.Entry{Index: e.Index, Term: e.Term, Data: e.Data}
		if e.Type == raft.EntryConfChange {
			rec.Type = "confchange"
		}
		if err := hw.Write(history.Record{Entry: rec}); err != nil {
			fmt.Fprintln(stderr, "havend dump:", err)
			return 1
		}
		printed++
	}
	if err := hw.Flush(); err != nil {
		fmt.Fprintln(stderr, "havend dump:", err)
		return 1
	}
	snap := "no snapshot"
	if st.Snapshot != nil {
		snap = fmt.Sprintf("snapshot at index %d (term %d)", st.Snapshot.Meta.Index, st.Snapshot.Meta.Term)
	}
	fmt.Fprintf(stderr, "havend dump: %s: term %d, commit %d, %s, %d entries in the log, %d committed printed\n",
		dir, st.HardState.Term, st.HardState.Commit, snap, len(st.Entries), printed)
	return 0
}
