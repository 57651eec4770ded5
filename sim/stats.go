package sim

import (
	"math"
	"time"
)

// counter names a kind of fault or event the summary counts.
type counter uint8

const (
	countLoss            counter = iota // messages dropped by loss
	countDuplicate                      // messages delivered twice
	countReorder                        // messages held back to arrive out of order
	countTail                           // messages that took the heavy tail
	countBlocked                        // messages dropped by a partition
	countClogged                        // messages held by a clog
	countCrashPoint                     // crashes right after sending with unsynced writes
	countUnsyncedLost                   // crashes that lost all unsynced writes
	countUnsyncedTorn                   // crashes that tore the unsynced writes
	countUnsyncedKept                   // crashes that kept all unsynced writes
	countConfigRefused                  // lease-without-CheckQuorum configurations refused
	countDiskFlip                       // bit flips in synced data (sim/simfs)
	countDiskMisdirect                  // writes landed at a wrong offset (sim/simfs)
	countDiskFailed                     // disks whose WAL refused them on restart (detected damage)
	countMembership                     // membership changes proposed
	countTransfer                       // leadership transfers begun
	countHeldBack                       // messages held back for seconds
	countTruncation                     // divergent log suffixes overwritten
	countLeaseRead                      // lease reads whose quorum promise was checked
	countReplayHeld                     // messages held for a node's next incarnation
	countCrashPointEarly                // crashes between a leader's early sends and its fsync
	countLateTimeoutNow                 // TimeoutNow messages delivered elections late
	countToldRemoved                    // removed nodes told so by a member (MsgRemoved)
	countCrashSnapshot                  // crashes during the fsync of a leader's snapshot (snapshot-crash)
	numCounters
)

var counterNames = [numCounters]string{
	"msg-loss", "msg-duplicate", "msg-reorder", "msg-slow-tail", "msg-partitioned",
	"msg-clogged", "crash-point", "unsynced-lost", "unsynced-torn", "unsynced-kept",
	"lease-config-refused", "disk-bit-flip", "disk-misdirected-write", "disk-failed",
	"membership-changes", "leader-transfers", "msg-held-back", "log-truncations", "lease-reads-checked",
	"msg-replayed-across-restart", "crash-point-early", "msg-timeoutnow-late", "told-removed",
	"crash-snapshot-install",
}

// Stats counts what happened in a run.
type Stats struct {
	Events      uint64
	Messages    uint64
	Elections   uint64 // (node, term) pairs seen leading
	Compactions uint64
	// TruncatedEntries counts the entries of divergent suffixes that
	// leaders made followers overwrite.
	TruncatedEntries uint64
	// PeakSends is the most messages one node sent to the others within
	// one stormWindow of virtual time (the message-storm check's measure).
	PeakSends uint64
	Faults    [numFaultKinds]uint64
	Counts    [numCounters]uint64
}

func (s *Stats) count(c counter) { s.Counts[c]++ }

func (s *Stats) add(o *Stats) {
	s.Events += o.Events
	s.Messages += o.Messages
	s.Elections += o.Elections
	s.Compactions += o.Compactions
	s.TruncatedEntries += o.TruncatedEntries
	s.PeakSends = max(s.PeakSends, o.PeakSends)
	for i := range s.Faults {
		s.Faults[i] += o.Faults[i]
	}
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
}

// FaultCounts lists the faults injected, by name, in a fixed order: the
// scheduled faults, then the per-message and per-crash ones.
func (s *Stats) FaultCounts() []NamedCount {
	var out []NamedCount
	for k := range numFaultKinds {
		out = append(out, NamedCount{FaultKind(k).String(), s.Faults[k]})
	}
	for c := range numCounters {
		out = append(out, NamedCount{counterNames[c], s.Counts[c]})
	}
	return out
}

// NamedCount is one line of a summary.
type NamedCount struct {
	Name  string
	Count uint64
}

// Histogram is a log-scale histogram of durations: ten buckets per decade
// from 10 µs, so percentiles are exact to about 12% and histograms of many
// runs merge by adding counts.
type Histogram struct {
	Buckets [histBuckets]uint64
	Count   uint64
	Sum     time.Duration
	Max     time.Duration
}

const (
	histBuckets = 90
	histBase    = 10 * time.Microsecond
)

func histBucket(d time.Duration) int {
	if d <= histBase {
		return 0
	}
	b := int(10 * math.Log10(float64(d)/float64(histBase)))
	return min(b, histBuckets-1)
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	h.Buckets[histBucket(d)]++
	h.Count++
	h.Sum += d
	h.Max = max(h.Max, d)
}

// Merge adds another histogram's observations.
func (h *Histogram) Merge(o *Histogram) {
	for i := range h.Buckets {
		h.Buckets[i] += o.Buckets[i]
	}
	h.Count += o.Count
	h.Sum += o.Sum
	h.Max = max(h.Max, o.Max)
}

// Percentile returns the upper edge of the bucket holding the p-th
// percentile (0 < p ≤ 100), or 0 for an empty histogram.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.Count)))
	var seen uint64
	for i, c := range h.Buckets {
		seen += c
		if seen >= rank {
			edge := time.Duration(float64(histBase) * math.Pow(10, float64(i+1)/10))
			return min(edge, h.Max)
		}
	}
	return h.Max
}
