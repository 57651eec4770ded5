package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"slices"

	"github.com/havenproject/haven/raft"
)

// snapshotMagic opens every snapshot file: the format's name and version.
// Version 2 added the members' addresses (ConfState.Addresses).
const snapshotMagic = "HVNSNAP2"

// snapshotHeaderSize is the magic and the checksum of everything after it.
const snapshotHeaderSize = len(snapshotMagic) + 4

// snapshotName is what a snapshot file's name says about it.
type snapshotName struct {
	index uint64
	term  uint64
}

func (s snapshotName) String() string {
	return fmt.Sprintf("snap-%016x-%016x.snap", s.index, s.term)
}

// parseSnapshotName accepts exactly the names String produces.
func parseSnapshotName(name string) (snapshotName, bool) {
	a, b, ok := parseTwoHex(name, "snap-", ".snap")
	return snapshotName{index: a, term: b}, ok
}

// listSnapshots returns the snapshot files of dir, newest first.
func listSnapshots(fsys FS, dir string) ([]snapshotName, error) {
	files, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: listing %s: %w", dir, err)
	}
	var names []snapshotName
	for _, file := range files {
		if s, ok := parseSnapshotName(file); ok {
			names = append(names, s)
		}
	}
	slices.SortFunc(names, func(a, b snapshotName) int {
		switch {
		case a.index != b.index:
			return compareDescending(a.index, b.index)
		default:
			return compareDescending(a.term, b.term)
		}
	})
	return names, nil
}

func compareDescending(a, b uint64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// encodeSnapshotMeta is the part of a snapshot file between the header and
// the data: index, term, voters, learners, addresses, data length, all
// uvarints. Addresses are a count, then per member (by id) its id and its
// address, length first: once the entries that added the members are
// compacted, the snapshot is the only place that holds them.
func encodeSnapshotMeta(s *raft.Snapshot) []byte {
	buf := make([]byte, 0, 64)
	buf = binary.AppendUvarint(buf, s.Meta.Index)
	buf = binary.AppendUvarint(buf, s.Meta.Term)
	buf = appendNodeIDs(buf, s.Meta.Conf.Voters)
	buf = appendNodeIDs(buf, s.Meta.Conf.Learners)
	ids := make([]raft.NodeID, 0, len(s.Meta.Conf.Addresses))
	for id := range s.Meta.Conf.Addresses {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	buf = binary.AppendUvarint(buf, uint64(len(ids)))
	for _, id := range ids {
		address := s.Meta.Conf.Addresses[id]
		buf = binary.AppendUvarint(buf, uint64(id))
		buf = binary.AppendUvarint(buf, uint64(len(address)))
		buf = append(buf, address...)
	}
	return binary.AppendUvarint(buf, uint64(len(s.Data)))
}

// readAddresses reads what encodeSnapshotMeta wrote of the addresses; none
// is nil, as raft keeps it.
func readAddresses(r *bodyReader) map[raft.NodeID]string {
	count := r.uvarint("address count")
	if r.err != nil || count == 0 {
		return nil
	}
	if count > uint64(len(r.rest))/2 { // each takes at least two bytes
		r.fail("address count %d exceeds what %d bytes can hold", count, len(r.rest))
		return nil
	}
	addresses := make(map[raft.NodeID]string, count)
	for range count {
		id := raft.NodeID(r.uvarint("address id"))
		addresses[id] = string(r.bytes(r.uvarint("address length"), "address"))
	}
	return addresses
}

func appendNodeIDs(buf []byte, ids []raft.NodeID) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ids)))
	for _, id := range ids {
		buf = binary.AppendUvarint(buf, uint64(id))
	}
	return buf
}

// decodeSnapshotFile parses a whole snapshot file.
func decodeSnapshotFile(content []byte) (*raft.Snapshot, error) {
	if len(content) < snapshotHeaderSize || string(content[:len(snapshotMagic)]) != snapshotMagic {
		return nil, errors.New("not a snapshot file (bad magic)")
	}
	body := content[snapshotHeaderSize:]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(content[len(snapshotMagic):]) {
		return nil, errFrameChecksum
	}
	r := bodyReader{rest: body}
	s := &raft.Snapshot{}
	s.Meta.Index = r.uvarint("index")
	s.Meta.Term = r.uvarint("term")
	s.Meta.Conf.Voters = readNodeIDs(&r, "voters")
	s.Meta.Conf.Learners = readNodeIDs(&r, "learners")
	s.Meta.Conf.Addresses = readAddresses(&r)
	dataLen := r.uvarint("data length")
	if r.err == nil && dataLen != uint64(len(r.rest)) {
		r.fail("data length %d but %d bytes follow", dataLen, len(r.rest))
	}
	if r.err != nil {
		return nil, r.err
	}
	// The file's buffer is ours alone, so the data can stay in it.
	if dataLen > 0 {
		s.Data = r.rest
	}
	return s, nil
}

func readNodeIDs(r *bodyReader, what string) []raft.NodeID {
	count := r.uvarint(what + " count")
	if r.err != nil {
		return nil
	}
	if count > uint64(len(r.rest)) { // each id takes at least one byte
		r.fail("%s count %d exceeds what %d bytes can hold", what, count, len(r.rest))
		return nil
	}
	if count == 0 {
		return nil
	}
	ids := make([]raft.NodeID, count)
	for i := range ids {
		ids[i] = raft.NodeID(r.uvarint(what))
	}
	return ids
}

// writeSnapshotFile publishes s atomically: written under a temporary name,
// synced, renamed, and the directory synced. A crash leaves either the old
// set of snapshot files or the old set plus a whole new one.
//
// published reports whether the rename happened: after it, a failure leaves
// the disk in a state the caller no longer knows.
func writeSnapshotFile(fsys FS, dir string, s *raft.Snapshot, sync bool) (published bool, err error) {
	tmp, err := writeSnapshotTemp(fsys, dir, s, sync)
	if err != nil {
		return false, err
	}
	return publishSnapshot(fsys, dir, s, tmp, sync)
}

// writeSnapshotTemp writes s under its temporary name and syncs it: the
// long part of saving a snapshot, which touches nothing the WAL's other
// methods use, so SaveSnapshot does it without holding the WAL's lock.
func writeSnapshotTemp(fsys FS, dir string, s *raft.Snapshot, sync bool) (tmp string, err error) {
	name := snapshotName{index: s.Meta.Index, term: s.Meta.Term}
	tmp = filepath.Join(dir, name.String()) + tempSuffix

	meta := encodeSnapshotMeta(s)
	checksum := crc32.Update(crc32.Checksum(meta, castagnoli), castagnoli, s.Data)
	header := make([]byte, 0, snapshotHeaderSize+len(meta))
	header = append(header, snapshotMagic...)
	header = binary.LittleEndian.AppendUint32(header, checksum)
	header = append(header, meta...)

	f, err := fsys.Create(tmp)
	if err != nil {
		return "", fmt.Errorf("wal: creating snapshot file: %w", err)
	}
	_, err = f.Write(header)
	if err == nil {
		err = writeAndSync(f, s.Data, sync)
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return "", fmt.Errorf("wal: writing snapshot %s: %w", name, err)
	}
	return tmp, nil
}

// publishSnapshot renames the synced temporary file tmp to s's name and
// syncs the directory.
func publishSnapshot(fsys FS, dir string, s *raft.Snapshot, tmp string, sync bool) (published bool, err error) {
	name := snapshotName{index: s.Meta.Index, term: s.Meta.Term}
	if err := fsys.Rename(tmp, filepath.Join(dir, name.String())); err != nil {
		_ = fsys.Remove(tmp)
		return false, fmt.Errorf("wal: publishing snapshot %s: %w", name, err)
	}
	if sync {
		if err := syncDir(fsys, dir); err != nil {
			return true, err
		}
	}
	return true, nil
}

// readSnapshotFile loads and checks one snapshot file. A file whose content
// is damaged, or disagrees with its name, gives a *CorruptionError; any
// other error is an I/O failure.
func readSnapshotFile(fsys FS, dir string, name snapshotName) (*raft.Snapshot, error) {
	path := filepath.Join(dir, name.String())
	content, err := fsys.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wal: reading snapshot: %w", err)
	}
	s, err := decodeSnapshotFile(content)
	if err == nil && (s.Meta.Index != name.index || s.Meta.Term != name.term) {
		err = fmt.Errorf("holds index %d term %d, not what its name says", s.Meta.Index, s.Meta.Term)
	}
	if err == nil && s.Meta.Index == 0 {
		err = errors.New("snapshot at index 0")
	}
	if err != nil {
		return nil, &CorruptionError{Path: path, Offset: 0, Err: err}
	}
	return s, nil
}

// loadNewestSnapshot returns the newest snapshot that reads back whole,
// falling back past damaged newer ones (which it lists in skipped). Having
// snapshot files but no good one is an error: starting from nothing would
// silently forget the compacted prefix of the log.
func loadNewestSnapshot(fsys FS, dir string) (snap *raft.Snapshot, skipped []error, err error) {
	names, err := listSnapshots(fsys, dir)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		s, err := readSnapshotFile(fsys, dir, name)
		var corrupt *CorruptionError
		switch {
		case err == nil:
			return s, skipped, nil
		case errors.As(err, &corrupt):
			skipped = append(skipped, err)
		default:
			return nil, nil, err
		}
	}
	if len(skipped) > 0 {
		return nil, nil, fmt.Errorf("wal: no readable snapshot: %w", errors.Join(skipped...))
	}
	return nil, nil, nil
}

// removeSnapshotsExcept deletes every snapshot file but the ones in keep.
func removeSnapshotsExcept(fsys FS, dir string, keep ...snapshotName) error {
	names, err := listSnapshots(fsys, dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		if slices.Contains(keep, name) {
			continue
		}
		err := fsys.Remove(filepath.Join(dir, name.String()))
		if err != nil && !isNotExist(err) {
			return fmt.Errorf("wal: removing old snapshot %s: %w", name, err)
		}
	}
	return nil
}
