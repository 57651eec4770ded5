// Package wal is the durable storage of a Raft server: the hard state
// (currentTerm, votedFor, commit), the log, and snapshots, kept in one
// directory per Raft group. Figure 2 of the Raft paper asks that this state
// be "updated on stable storage before responding to RPCs"; Save returns
// only once a new term, vote or entries are fsynced, and the host acts on
// them only after.
//
// # Which writes are synced
//
// Figure 2 names three persistent fields: currentTerm, votedFor and log[].
// A Save that changes any of them (a new term, a vote, entries) is fsynced
// before it returns, always: the WAL decides this from what it writes, not
// from the host's Ready.MustSync, so a host cannot get it wrong. A Save that
// only raises the commit index is written but not fsynced: commitIndex is
// volatile state in Figure 2, a restarted server learns it again from the
// leader, and raft sets MustSync false for exactly those Readys. It becomes
// durable with the next fsync of its segment (every synced record after it,
// the rotation to a new segment, which syncs the old one first, or Close).
// A crash can therefore lose a commit index that was never fsynced, and
// recovery may report a lower commit than the server last saved; never a
// lower term, another vote, or fewer acknowledged entries.
//
// Snapshot files, snapshot markers, new segments, truncations at recovery
// and every rename or removal (with a sync of the directory) are always
// synced: each is the base that later deletions stand on.
//
// With Options.NoSync nothing is fsynced (tests of the in-memory path
// only). Files are reached through the FS interface (fs.go); OSFS is the
// operating system's, and the simulator runs the WAL on a simulated disk.
//
// The format is written by hand, with encoding/binary and nothing else, so
// that it fits on this page: a reader can check a file with a hex dump, a
// test can damage any byte of it on purpose, and nothing (no reflection, no
// schema compiler, no third-party library) stands between the code and the
// bytes it promises to keep.
//
// # Files
//
// The directory holds segment files and snapshot files:
//
//	wal-<seq>-<firstIndex>.log      seq and firstIndex as 16 hex digits
//	snap-<index>-<term>.snap        index and term as 16 hex digits
//
// A segment starts with the 8 bytes "HVNWAL1\n", then records, back to
// back. Each record is
//
//	length  uint32 little-endian   bytes in the body (kind + payload), > 0
//	crc     uint32 little-endian   CRC32C (Castagnoli) of the body
//	kind    byte
//	payload length-1 bytes
//
// and there are two kinds (varint = unsigned LEB128, encoding/binary's
// Uvarint):
//
//	1 save:      flags byte (bit 0: a hard state follows)
//	             [term, vote, commit varints]
//	             firstIndex varint, count varint (0, 0 for no entries)
//	             count × (term varint, type byte, data length varint, data)
//	2 snapshot:  index varint, term varint,
//	             log byte (0: entries after index kept, 1: log discarded)
//
// One Save is one save record, so a torn write loses a whole Save or
// nothing; entries never survive without the hard state written with them.
// Entries in a record are contiguous, so only the first index is stored.
// A snapshot record marks the place in the log where a snapshot was saved,
// and what that did to the log (Figure 13, InstallSnapshot steps 6 and 7:
// if the log holds the snapshot's last entry with the snapshot's term, the
// entries after it stay; otherwise the whole log is discarded). The outcome
// is written down rather than decided again at recovery, because the entry
// it was decided on may since have been compacted away.
//
// Segments rotate, at record boundaries, once one holds SegmentBytes. A new
// segment is written under a temporary name, fsynced and renamed, and its
// first record repeats the current hard state. firstIndex in its name is
// the log's last index plus one at that moment, so every live entry of the
// segments before it lies below that index: when a snapshot covers
// firstIndex-1 of a segment's successor, the segment can be deleted without
// being read. The newest segment is never deleted, and it always holds the
// newest hard state (its own first record, or a later one), which is how
// the hard state outlives compaction without a file of its own.
//
// A snapshot file is the 8 bytes "HVNSNAP2", a uint32 little-endian CRC32C
// of the rest, then index, term, voter count, voters, learner count,
// learners, address count and per address (by id) the id, the length and
// the bytes, and data length as varints, then the data. It is written under
// a temporary name, fsynced, renamed into place and the directory fsynced.
// Only then does its marker go into the log; after that, the segments
// wholly at or below the snapshot are deleted, oldest first, and every
// snapshot file but the new one and the one before it (kept as a fallback,
// which works as long as the log still reaches back to it).
//
// # Recovery
//
// Open removes leftover temporary files, loads the newest snapshot that
// reads back whole (a damaged one is passed over for an older one, and
// reported in State.SkippedSnapshots; damaged ones only is an error), then
// replays every segment in order:
//
//   - A save record sets the hard state and, if it has entries starting at
//     index i, replaces the log from i on (§5.3: a conflicting entry and all
//     that follow it are deleted). Entries that start past the log's end
//     but no later than just after the chosen snapshot start the log
//     anew: that snapshot came from a leader, past the log, and a crash
//     lost the marker that said the log was discarded (a data dir that
//     builds before the repair below could leave).
//   - A snapshot record keeps the entries after its index, dropping those
//     it covers, or discards the whole log, as it says. At the end the
//     chosen snapshot is applied by Figure 13's rule once more, for a crash
//     between publishing its file and writing its marker. Open then
//     writes that lost marker, synced, before anything else is saved, so
//     that the next recovery cuts the log there and keeps what is saved
//     after it: replaying the old log and the later entries as one log
//     and cutting it again would, after a discard, drop the later entries
//     too.
//   - The log must then start at the snapshot's index plus one (or at 1
//     without a snapshot), and segment numbers must be consecutive;
//     anything else is an error. So is a log compacted through a newer
//     marker than the chosen snapshot (its file damaged) with no entry
//     after that marker: the entries in between are gone. Two markers of
//     the same index are fine: a snapshot saved again after recovery fell
//     back past its damaged file. A marker below an earlier one is not, so
//     after such a fall-back SaveSnapshot refuses a snapshot below the
//     newest marker in the log as too old (raft.ErrSnapshotTooOld), and
//     the log keeps its entries until one at or past that marker.
//
// A record that fails its framing (cut short, impossible length, CRC
// mismatch) is told apart as follows:
//
//   - In the newest segment, with no valid record starting at any later
//     offset of the file, it is a torn tail: the write a crash interrupted,
//     never acknowledged. Zero-filled space, as preallocation or a file
//     extended before its data reached the disk leaves, is tail too. The
//     file is truncated there, so that later appends follow the last good
//     record, and recovery goes on with exactly the records before it.
//   - Anywhere else (an older segment, or a valid record after it) it is
//     corruption, and Open fails with a *CorruptionError naming the file
//     and byte offset (errors.Is(err, ErrCorrupt) holds). A record whose
//     CRC holds but whose body does not parse is corruption as well: it was
//     written whole, and written wrong.
//
// Never skipping a damaged record is the point: it may be a vote or an
// entry this server already acknowledged, and a server that forgets one can
// elect two leaders in a term (§5.2) or lose a committed entry (§5.4).
//
// # Checks on the way in
//
// Save refuses what would make a log that recovery must reject or that
// breaks a rule of the raft package: entries that are not contiguous, that
// start at or below the snapshot or past the last index plus one, whose
// terms fall; a hard state whose term falls or whose vote changes within a
// term. After a failed write or fsync the WAL refuses all further calls:
// what reached the disk is unknown, and only reopening (recovery) finds
// out.
package wal
