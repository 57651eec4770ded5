package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/havenproject/haven/raft"
)

// castagnoli is CRC32C, the polynomial with hardware support on amd64 and
// arm64 and better error detection than IEEE for short bursts.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameHeaderSize is the length (uint32) and the checksum (uint32) that
// precede every record's body.
const frameHeaderSize = 8

// maxBodySize bounds one record. A frame claiming more is damaged; the bound
// also keeps a flipped length bit from asking for a huge allocation.
const maxBodySize = 1 << 30

// recordKind is the first byte of a record's body.
type recordKind uint8

const (
	// kindSave holds everything one Save persists: an optional hard state and
	// a (possibly empty) batch of contiguous entries. One Save is one record,
	// so a torn write loses a whole Save or nothing: never entries without
	// the term that came with them.
	kindSave recordKind = 1
	// kindSnapshot marks the point in the log where a snapshot was saved, so
	// that replay applies Figure 13's rule at the right moment (§7).
	kindSnapshot recordKind = 2
)

// Flags of a save record.
const (
	saveHasHardState = 1 << 0
	saveKnownFlags   = saveHasHardState
)

// record is one decoded record of either kind.
type record struct {
	kind recordKind

	// kindSave
	hasHardState bool
	hardState    raft.HardState
	entries      []raft.Entry

	// kindSnapshot
	snapshotIndex uint64
	snapshotTerm  uint64
	// logDiscarded records Figure 13's outcome as decided when the marker
	// was written: replay must not decide again, because compaction may
	// since have deleted the entry at snapshotIndex that the decision read.
	logDiscarded bool
}

// Frame errors. A frame that fails is not yet corruption: the segment reader
// decides, from where it sits, whether it is a torn tail or damage.
var (
	errFrameShort    = errors.New("incomplete record")
	errFrameLength   = errors.New("bad record length")
	errFrameChecksum = errors.New("checksum mismatch")
)

// appendFrame appends the framed encoding of rec to buf.
func appendFrame(buf []byte, rec *record) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeaderSize)...)
	buf = appendBody(buf, rec)
	body := buf[start+frameHeaderSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(body, castagnoli))
	return buf
}

// appendBody appends a record's body: its kind byte, then the payload.
func appendBody(buf []byte, rec *record) []byte {
	buf = append(buf, byte(rec.kind))
	switch rec.kind {
	case kindSave:
		var flags byte
		if rec.hasHardState {
			flags |= saveHasHardState
		}
		buf = append(buf, flags)
		if rec.hasHardState {
			buf = binary.AppendUvarint(buf, rec.hardState.Term)
			buf = binary.AppendUvarint(buf, uint64(rec.hardState.Vote))
			buf = binary.AppendUvarint(buf, rec.hardState.Commit)
		}
		var first uint64
		if len(rec.entries) > 0 {
			first = rec.entries[0].Index
		}
		buf = binary.AppendUvarint(buf, first)
		buf = binary.AppendUvarint(buf, uint64(len(rec.entries)))
		for i := range rec.entries {
			e := &rec.entries[i]
			buf = binary.AppendUvarint(buf, e.Term)
			buf = append(buf, byte(e.Type))
			buf = binary.AppendUvarint(buf, uint64(len(e.Data)))
			buf = append(buf, e.Data...)
		}
	case kindSnapshot:
		buf = binary.AppendUvarint(buf, rec.snapshotIndex)
		buf = binary.AppendUvarint(buf, rec.snapshotTerm)
		var discarded byte
		if rec.logDiscarded {
			discarded = 1
		}
		buf = append(buf, discarded)
	default:
		panic(fmt.Sprintf("wal: encoding a record of unknown kind %d", rec.kind))
	}
	return buf
}

// readFrame checks the frame at the start of buf and returns its body and
// the number of bytes the whole frame takes. It does not decode the body.
func readFrame(buf []byte) (body []byte, size int, err error) {
	if len(buf) < frameHeaderSize {
		return nil, 0, errFrameShort
	}
	length := binary.LittleEndian.Uint32(buf)
	if length == 0 || length > maxBodySize {
		return nil, 0, errFrameLength
	}
	if uint64(len(buf)-frameHeaderSize) < uint64(length) {
		return nil, 0, errFrameShort
	}
	body = buf[frameHeaderSize : frameHeaderSize+int(length)]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(buf[4:]) {
		return nil, 0, errFrameChecksum
	}
	return body, frameHeaderSize + int(length), nil
}

// decodeRecord reads one framed record from the start of buf. A frame whose
// checksum holds but whose body does not parse is reported as such: it was
// written whole, so it is not a torn write but a bug or a foreign file.
func decodeRecord(buf []byte) (rec record, size int, err error) {
	body, size, err := readFrame(buf)
	if err != nil {
		return record{}, 0, err
	}
	rec, err = decodeBody(body)
	if err != nil {
		return record{}, 0, err
	}
	return rec, size, nil
}

// bodyReader walks a body, remembering the first error so the decoders read
// straight through and check once.
type bodyReader struct {
	rest []byte
	err  error
}

func (r *bodyReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *bodyReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.rest)
	if n <= 0 {
		r.fail("bad %s varint", what)
		return 0
	}
	r.rest = r.rest[n:]
	return v
}

func (r *bodyReader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.rest) == 0 {
		r.fail("missing %s", what)
		return 0
	}
	b := r.rest[0]
	r.rest = r.rest[1:]
	return b
}

// bytes returns a copy, so that decoded entries never pin the buffer of a
// whole segment file in memory.
func (r *bodyReader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.rest)) {
		r.fail("%s length %d exceeds the %d bytes left", what, n, len(r.rest))
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	copy(out, r.rest[:n])
	r.rest = r.rest[n:]
	return out
}

// decodeBody parses a checksummed body.
func decodeBody(body []byte) (record, error) {
	r := bodyReader{rest: body}
	rec := record{kind: recordKind(r.byte("kind"))}
	switch rec.kind {
	case kindSave:
		decodeSave(&r, &rec)
	case kindSnapshot:
		rec.snapshotIndex = r.uvarint("snapshot index")
		rec.snapshotTerm = r.uvarint("snapshot term")
		switch discarded := r.byte("log discarded"); {
		case r.err != nil:
		case rec.snapshotIndex == 0:
			r.fail("snapshot marker at index 0")
		case discarded > 1:
			r.fail("log discarded flag %d", discarded)
		default:
			rec.logDiscarded = discarded == 1
		}
	default:
		return record{}, fmt.Errorf("unknown record kind %d", rec.kind)
	}
	if r.err == nil && len(r.rest) != 0 {
		r.fail("%d trailing bytes", len(r.rest))
	}
	if r.err != nil {
		return record{}, r.err
	}
	return rec, nil
}

// minEntrySize is the fewest bytes an encoded entry takes (term, type, data
// length); it bounds the count before anything is allocated.
const minEntrySize = 3

func decodeSave(r *bodyReader, rec *record) {
	flags := r.byte("flags")
	if flags&^saveKnownFlags != 0 {
		r.fail("unknown save flags %#x", flags)
		return
	}
	if flags&saveHasHardState != 0 {
		rec.hasHardState = true
		rec.hardState.Term = r.uvarint("hard state term")
		rec.hardState.Vote = raft.NodeID(r.uvarint("hard state vote"))
		rec.hardState.Commit = r.uvarint("hard state commit")
	}
	first := r.uvarint("first index")
	count := r.uvarint("entry count")
	if r.err != nil {
		return
	}
	switch {
	case count == 0 && first != 0:
		r.fail("first index %d on an empty batch", first)
		return
	case count > 0 && first == 0:
		r.fail("entries start at index 0") // Figure 2: the first index is 1
		return
	case count > uint64(len(r.rest))/minEntrySize:
		r.fail("entry count %d exceeds what %d bytes can hold", count, len(r.rest))
		return
	case count > 0 && first > math.MaxUint64-(count-1):
		r.fail("entry indexes overflow")
		return
	}
	if count > 0 {
		rec.entries = make([]raft.Entry, count)
	}
	for i := range rec.entries {
		e := &rec.entries[i]
		e.Index = first + uint64(i)
		e.Term = r.uvarint("entry term")
		// The type is stored, not judged: which types exist is raft's
		// business, and a WAL that refused a newer type would refuse to start.
		e.Type = raft.EntryType(r.byte("entry type"))
		e.Data = r.bytes(r.uvarint("entry data length"), "entry data")
		if r.err != nil {
			return
		}
	}
}
