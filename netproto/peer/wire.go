package peer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The primitives of the wire format: Protocol Buffers' encoding (a key
// field<<3|type, then a varint or a length-prefixed byte string), written by
// hand. Nothing here knows the schema; codec.go does.

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

var (
	errTruncated = errors.New("peer: truncated input")
	errOverflow  = errors.New("peer: varint overflows 64 bits")
)

func appendKey(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire))
}

// appendUint writes a varint field, or nothing if v is zero (the decoder's
// default).
func appendUint(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = appendKey(b, field, wireVarint)
	return binary.AppendUvarint(b, v)
}

func appendBool(b []byte, field int, v bool) []byte {
	if !v {
		return b
	}
	return append(appendKey(b, field, wireVarint), 1)
}

// appendRepeatedUint writes one varint field per element (never skipping
// zeros: the element count matters).
func appendRepeatedUint(b []byte, field int, v uint64) []byte {
	b = appendKey(b, field, wireVarint)
	return binary.AppendUvarint(b, v)
}

func appendString(b []byte, field int, s string) []byte {
	if s == "" {
		return b
	}
	return appendRepeatedString(b, field, s)
}

func appendRepeatedString(b []byte, field int, s string) []byte {
	b = appendKey(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendPresentBytes writes a byte string when it is non-nil, so that nil
// and empty stay apart (a Forward's nil Command means "membership request").
func appendPresentBytes(b []byte, field int, v []byte) []byte {
	if v == nil {
		return b
	}
	b = appendKey(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// beginNested starts a length-prefixed sub-message and returns where its
// one-byte length placeholder is; endNested writes the real length there,
// moving the body up if the length needs more than one byte. Most
// sub-messages are short (one byte of length), so this beats sizing every
// message twice.
func beginNested(b []byte, field int) ([]byte, int) {
	b = appendKey(b, field, wireBytes)
	return append(b, 0), len(b)
}

func endNested(b []byte, mark int) []byte {
	n := len(b) - mark - 1
	if n < 0x80 {
		b[mark] = byte(n)
		return b
	}
	var lenBuf [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(lenBuf[:], uint64(n))
	b = append(b, lenBuf[:k-1]...) // grow by k-1
	copy(b[mark+k:], b[mark+1:mark+1+n])
	copy(b[mark:], lenBuf[:k])
	return b
}

// reader walks one encoded message. Every length is checked against what is
// left of the input, so a hostile length can never make us allocate or read
// beyond it.
type reader struct {
	buf []byte
	off int
}

func (r *reader) done() bool { return r.off >= len(r.buf) }

func (r *reader) uvarint() (uint64, error) {
	// Most keys and many values fit in one byte.
	if r.off < len(r.buf) && r.buf[r.off] < 0x80 {
		v := r.buf[r.off]
		r.off++
		return uint64(v), nil
	}
	return r.uvarintSlow()
}

func (r *reader) uvarintSlow() (uint64, error) {
	v, n := binary.Uvarint(r.buf[r.off:])
	if n == 0 {
		return 0, errTruncated
	}
	if n < 0 {
		return 0, errOverflow
	}
	r.off += n
	return v, nil
}

// key reads a field key: the field number and the wire type.
func (r *reader) key() (int, int, error) {
	k, err := r.uvarint()
	if err != nil {
		return 0, 0, err
	}
	field := k >> 3
	if field == 0 || field > math.MaxInt32 {
		return 0, 0, fmt.Errorf("peer: bad field number %d", field)
	}
	return int(field), int(k & 7), nil
}

// bytes reads a length-prefixed byte string, aliasing the input.
func (r *reader) bytes() ([]byte, error) {
	l, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if l > uint64(len(r.buf)-r.off) {
		return nil, errTruncated
	}
	v := r.buf[r.off : r.off+int(l) : r.off+int(l)]
	r.off += int(l)
	return v, nil
}

// skip passes over a field this version does not know (a newer peer may send
// more fields; an older one ignores them).
func (r *reader) skip(wire int) error {
	switch wire {
	case wireVarint:
		_, err := r.uvarint()
		return err
	case wireBytes:
		_, err := r.bytes()
		return err
	case wireFixed64:
		return r.advance(8)
	case wireFixed32:
		return r.advance(4)
	}
	return fmt.Errorf("peer: unknown wire type %d", wire)
}

func (r *reader) advance(n int) error {
	if len(r.buf)-r.off < n {
		return errTruncated
	}
	r.off += n
	return nil
}

// field helpers: each checks the wire type it expects.

func (r *reader) uint(wire int) (uint64, error) {
	if wire != wireVarint {
		return 0, fmt.Errorf("peer: wire type %d for a varint field", wire)
	}
	return r.uvarint()
}

func (r *reader) uint8(wire int) (uint8, error) {
	v, err := r.uint(wire)
	if err == nil && v > math.MaxUint8 {
		err = fmt.Errorf("peer: %d does not fit in a byte", v)
	}
	return uint8(v), err
}

func (r *reader) bool(wire int) (bool, error) {
	v, err := r.uint(wire)
	if err == nil && v > 1 {
		err = fmt.Errorf("peer: %d is not a bool", v)
	}
	return v == 1, err
}

func (r *reader) nested(wire int) ([]byte, error) {
	if wire != wireBytes {
		return nil, fmt.Errorf("peer: wire type %d for a length-delimited field", wire)
	}
	return r.bytes()
}

func (r *reader) string(wire int) (string, error) {
	v, err := r.nested(wire)
	return string(v), err
}
