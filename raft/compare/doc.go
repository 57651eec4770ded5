// Package compare runs Haven's Raft core (github.com/havenproject/haven/raft)
// and etcd-io/raft (go.etcd.io/raft/v3) side by side in one in-memory
// harness, so their cost per proposal can be compared on the same machine,
// in the same run. It is a module of its own, so the main module never
// depends on etcd; `go test ./...` from the repository root does not enter
// it. Run it from this directory:
//
//	go test -run XXX -bench . -count 6
//
// Each benchmark keeps `window` proposals outstanding on a 3-server
// cluster (no disk, no encoding: messages are handed from Ready to Step),
// counts a proposal once every server applied it, compacts every 4096
// entries on both sides, and reports proposals per CPU-second
// (user+system time of the process, so the garbage collector counts) and
// allocations per proposal. docs/benchmarks.md has the table.
package compare
