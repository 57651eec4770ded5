package wal

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// segmentMagic opens every segment file: the format's name and version.
const segmentMagic = "HVNWAL1\n"

// tempSuffix marks a file still being written. Recovery deletes such files:
// a file is only ever published by renaming it to its final name.
const tempSuffix = ".tmp"

// segmentName is what a segment file's name says about it.
type segmentName struct {
	// seq orders the segments; it rises by one with each new segment.
	seq uint64
	// firstIndex is the log's last index plus one when the segment was
	// started. Every entry still live in the earlier segments is below it,
	// which is what lets compaction delete a segment by its successor's
	// name without reading it.
	firstIndex uint64
}

func (s segmentName) String() string {
	return fmt.Sprintf("wal-%016x-%016x.log", s.seq, s.firstIndex)
}

// parseSegmentName accepts exactly the names String produces.
func parseSegmentName(name string) (segmentName, bool) {
	a, b, ok := parseTwoHex(name, "wal-", ".log")
	return segmentName{seq: a, firstIndex: b}, ok
}

// parseTwoHex parses prefix + 16 hex digits + "-" + 16 hex digits +
// suffix, the shape of every file name the WAL writes, in lower case as
// String writes it. (By hand: it runs at every compaction, for every file.)
func parseTwoHex(name, prefix, suffix string) (a, b uint64, ok bool) {
	rest, found := strings.CutPrefix(name, prefix)
	if !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, suffix)
	if !found || len(rest) != 33 || rest[16] != '-' {
		return 0, 0, false
	}
	a, okA := parseHex16(rest[:16])
	b, okB := parseHex16(rest[17:])
	return a, b, okA && okB
}

func parseHex16(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// listSegments returns the segment files of dir, oldest first. Compaction
// deletes the oldest segments only, so the survivors must be consecutive; a
// hole means a file was lost, and replaying around it would make up a log.
func listSegments(fsys FS, dir string) ([]segmentName, error) {
	names, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: listing %s: %w", dir, err)
	}
	var segments []segmentName
	for _, name := range names {
		if s, ok := parseSegmentName(name); ok {
			segments = append(segments, s)
		}
	}
	slices.SortFunc(segments, func(a, b segmentName) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	for i := 1; i < len(segments); i++ {
		if segments[i].seq != segments[i-1].seq+1 {
			return nil, fmt.Errorf("wal: %w: segments %s and %s are not consecutive (a segment is missing)",
				ErrCorrupt, segments[i-1], segments[i])
		}
	}
	return segments, nil
}

// removeTempFiles deletes what a crash left half-written. Only this
// package's own names are touched.
func removeTempFiles(fsys FS, dir string) error {
	names, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("wal: listing %s: %w", dir, err)
	}
	for _, name := range names {
		ours := strings.HasPrefix(name, "wal-") || strings.HasPrefix(name, "snap-")
		if ours && strings.HasSuffix(name, tempSuffix) {
			if err := fsys.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("wal: removing leftover %s: %w", name, err)
			}
		}
	}
	return nil
}

// scanSegment decodes the records of one segment file and hands each to
// visit with its byte offset. It returns the offset just past the last good
// record.
//
// isLast says whether this is the newest segment, the only place where a
// crash can have left a torn write. There, a record that fails its framing
// (incomplete, impossible length, checksum mismatch) is a torn tail if no
// valid record follows it anywhere in the file; the caller truncates the
// file at the returned offset. Everything else is corruption and an error:
// a failing record in an older segment, a failing record with a valid one
// after it, and a record whose checksum holds but whose body does not parse
// (it was written whole, so it was written wrong).
func scanSegment(path string, data []byte, isLast bool, visit func(rec *record, offset int64) error) (int64, error) {
	if len(data) < len(segmentMagic) || string(data[:len(segmentMagic)]) != segmentMagic {
		return 0, &CorruptionError{Path: path, Offset: 0, Err: errors.New("not a segment file (bad magic)")}
	}
	offset := len(segmentMagic)
	for offset < len(data) {
		rec, size, err := decodeRecord(data[offset:])
		if err != nil {
			if isFrameError(err) {
				switch {
				case !isLast:
					err = fmt.Errorf("%w in a segment that is not the newest", err)
				case validFrameAfter(data, offset):
					err = fmt.Errorf("%w, and a valid record follows it", err)
				default:
					return int64(offset), nil // torn tail
				}
			}
			return int64(offset), &CorruptionError{Path: path, Offset: int64(offset), Err: err}
		}
		if err := visit(&rec, int64(offset)); err != nil {
			return int64(offset), &CorruptionError{Path: path, Offset: int64(offset), Err: err}
		}
		offset += size
	}
	return int64(offset), nil
}

// isFrameError reports whether err says the frame itself is damaged, as a
// torn write would leave it.
func isFrameError(err error) bool {
	return errors.Is(err, errFrameShort) || errors.Is(err, errFrameLength) || errors.Is(err, errFrameChecksum)
}

// validFrameAfter reports whether a record with a valid frame starts at any
// offset after the failing one. The length field of a damaged record cannot
// be trusted, so every offset is tried. Zero-filled space (preallocation, or
// a file extended before its data reached the disk) is recognised at once.
func validFrameAfter(data []byte, failed int) bool {
	if allZero(data[failed:]) {
		return false
	}
	for p := failed + 1; p+frameHeaderSize < len(data); p++ {
		if _, _, err := readFrame(data[p:]); err == nil {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// createSegment publishes a new segment holding the magic and head, the
// bytes every segment starts with: written under a temporary name, synced,
// renamed, and the directory synced, so that a crash leaves either no
// segment or a whole one. The returned file is open for appending.
func createSegment(fsys FS, dir string, name segmentName, head []byte, sync bool) (File, int64, error) {
	path := filepath.Join(dir, name.String())
	tmp := path + tempSuffix
	f, err := fsys.Create(tmp)
	if err != nil {
		return nil, 0, fmt.Errorf("wal: creating segment: %w", err)
	}
	content := append([]byte(segmentMagic), head...)
	if err := writeAndSync(f, content, sync); err != nil {
		_ = f.Close()
		_ = fsys.Remove(tmp)
		return nil, 0, fmt.Errorf("wal: writing segment %s: %w", name, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		_ = f.Close()
		_ = fsys.Remove(tmp)
		return nil, 0, fmt.Errorf("wal: publishing segment %s: %w", name, err)
	}
	if sync {
		if err := syncDir(fsys, dir); err != nil {
			_ = f.Close()
			return nil, 0, err
		}
	}
	return f, int64(len(content)), nil
}

// openSegmentForAppend opens the newest segment, cutting it at end when
// recovery found a torn tail there, so that the next record follows the
// last good one directly.
func openSegmentForAppend(fsys FS, path string, size, end int64, sync bool) (File, error) {
	f, err := fsys.OpenAppend(path)
	if err != nil {
		return nil, fmt.Errorf("wal: opening %s: %w", path, err)
	}
	if end < size {
		if err := f.Truncate(end); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("wal: truncating torn tail of %s at offset %d: %w", path, end, err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				_ = f.Close()
				return nil, fmt.Errorf("wal: syncing %s after truncation: %w", path, err)
			}
		}
	}
	return f, nil
}

func writeAndSync(f File, data []byte, sync bool) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if sync {
		return f.Sync()
	}
	return nil
}
