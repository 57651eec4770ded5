package netproto

import (
	"encoding/binary"
	"fmt"
	"math"
)

// byteReader reads MessagePack out of one whole message (already cut and
// bounded by frameReader), so every read here is checked against its end.
type byteReader struct {
	b   []byte
	off int
}

var errShort = &garbageError{"message ends in the middle of a value"}

func (r *byteReader) peek() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	return r.b[r.off], nil
}

func (r *byteReader) next(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.off) {
		return nil, errShort
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s, nil
}

func (r *byteReader) lengthField(width int) (uint64, error) {
	b, err := r.next(uint64(width))
	if err != nil {
		return 0, err
	}
	return beUint(b), nil
}

// raw returns the bytes of the next value, whatever it is.
func (r *byteReader) raw() ([]byte, error) {
	start := r.off
	for pending := uint64(1); pending > 0; {
		pending--
		c, err := r.next(1)
		if err != nil {
			return nil, err
		}
		n, children, err := headerSize(c[0], r)
		if err != nil {
			return nil, err
		}
		if _, err := r.next(n); err != nil {
			return nil, err
		}
		pending += children
		if pending > uint64(len(r.b)-r.off) {
			return nil, errShort
		}
	}
	return r.b[start:r.off], nil
}

// kind names a value's MessagePack family, for error messages.
func kind(c byte) string {
	switch {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return "integer"
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		return "map"
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		return "array"
	case c&0xe0 == 0xa0 || (c >= 0xd9 && c <= 0xdb):
		return "string"
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "bool"
	case c == 0xca || c == 0xcb:
		return "float"
	case c >= 0xc4 && c <= 0xc6:
		return "binary"
	}
	return "extension"
}

// mapLen reads a map header.
func (r *byteReader) mapLen() (int, error) {
	c, err := r.peek()
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == 0x80:
		r.off++
		return int(c & 0x0f), nil
	case c == 0xde || c == 0xdf:
		r.off++
		width := 4
		if c == 0xde {
			width = 2
		}
		n, err := r.lengthField(width)
		return int(n), err
	}
	return 0, errNotMap
}

// str reads a string (or binary, which some encoders use for strings). A
// value of another type is skipped and reported with a fieldError.
func (r *byteReader) str(field string) (string, error) {
	c, err := r.peek()
	if err != nil {
		return "", err
	}
	var width int
	switch {
	case c&0xe0 == 0xa0:
		r.off++
		b, err := r.next(uint64(c & 0x1f))
		return string(b), err
	case c == 0xd9 || c == 0xc4:
		width = 1
	case c == 0xda || c == 0xc5:
		width = 2
	case c == 0xdb || c == 0xc6:
		width = 4
	default:
		return "", r.wrongType(field, "a string")
	}
	r.off++
	n, err := r.lengthField(width)
	if err != nil {
		return "", err
	}
	b, err := r.next(n)
	return string(b), err
}

// uint reads a non-negative integer (a float with an integral value is
// accepted too: JavaScript encoders send those).
func (r *byteReader) uint(field string) (uint64, error) {
	c, err := r.peek()
	if err != nil {
		return 0, err
	}
	if c <= 0x7f {
		r.off++
		return uint64(c), nil
	}
	var width int
	signed := false
	switch c {
	case 0xcc, 0xcd, 0xce, 0xcf:
		width = 1 << (c - 0xcc)
	case 0xd0, 0xd1, 0xd2, 0xd3:
		width, signed = 1<<(c-0xd0), true
	case 0xca, 0xcb:
		r.off++
		var f float64
		if c == 0xca {
			b, err := r.next(4)
			if err != nil {
				return 0, err
			}
			f = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
		} else {
			b, err := r.next(8)
			if err != nil {
				return 0, err
			}
			f = math.Float64frombits(binary.BigEndian.Uint64(b))
		}
		if f < 0 || f != math.Trunc(f) || f >= 1<<64 {
			return 0, &fieldError{fmt.Sprintf("%s must be a non-negative integer, not %v", field, f)}
		}
		return uint64(f), nil
	default:
		if c >= 0xe0 {
			r.off++
			return 0, &fieldError{fmt.Sprintf("%s must be a non-negative integer, not %d", field, int8(c))}
		}
		return 0, r.wrongType(field, "a non-negative integer")
	}
	r.off++
	b, err := r.next(uint64(width))
	if err != nil {
		return 0, err
	}
	v := beUint(b)
	if signed {
		shift := 64 - 8*width
		if s := int64(v<<shift) >> shift; s < 0 {
			return 0, &fieldError{fmt.Sprintf("%s must be a non-negative integer, not %d", field, s)}
		}
	}
	return v, nil
}

// wrongType skips the value at the reader and reports it.
func (r *byteReader) wrongType(field, want string) error {
	c, _ := r.peek()
	if _, err := r.raw(); err != nil {
		return err
	}
	return &fieldError{fmt.Sprintf("%s must be %s, not %s", field, want, kind(c))}
}

// fieldError is a well-formed message with a field of the wrong type: the
// request is answered InvalidParameter and the connection stays open.
type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }
