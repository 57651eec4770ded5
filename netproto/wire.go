package netproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// The Haven stream is MessagePack values back to back with nothing between
// them, so the only way to find where a message ends is to walk its
// structure. frameReader does that straight off the socket, counting bytes
// as it goes, so that a message over max_message_bytes is refused as soon
// as its header claims too much, before anything is allocated for it.

var (
	// errTooLarge: the message is over max_message_bytes.
	errTooLarge = errors.New("message is larger than max_message_bytes")
	// errNotMap: the message is MessagePack but not a map.
	errNotMap = errors.New("a message must be a MessagePack map")
)

// garbageError: the bytes are not MessagePack.
type garbageError struct{ msg string }

func (e *garbageError) Error() string { return e.msg }

// frameReader cuts a byte stream into whole MessagePack messages.
type frameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 16<<10), max: max}
}

// next returns the bytes of the next message, valid until the next call.
// io.EOF means the stream ended cleanly between messages.
func (f *frameReader) next() ([]byte, error) {
	f.buf = f.buf[:0]
	first, err := f.r.ReadByte()
	if err != nil {
		return nil, err // io.EOF between messages is a clean end
	}
	if !isMap(first) {
		if first == 0xc1 {
			return nil, &garbageError{"byte 0xc1 is not MessagePack"}
		}
		return nil, errNotMap
	}
	if err := f.r.UnreadByte(); err != nil {
		return nil, err
	}
	// pending counts the values still to read; each takes at least one
	// byte, so a count beyond the bytes left is too large already.
	pending := uint64(1)
	for pending > 0 {
		pending--
		c, err := f.byte()
		if err != nil {
			return nil, err
		}
		n, children, err := headerSize(c, f)
		if err != nil {
			return nil, err
		}
		if err := f.take(n); err != nil {
			return nil, err
		}
		pending += children
		if pending > uint64(f.max-len(f.buf)) {
			return nil, errTooLarge
		}
	}
	return f.buf, nil
}

func isMap(c byte) bool { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }

func (f *frameReader) byte() (byte, error) {
	if len(f.buf) >= f.max {
		return 0, errTooLarge
	}
	c, err := f.r.ReadByte()
	if err != nil {
		return 0, unexpected(err)
	}
	f.buf = append(f.buf, c)
	return c, nil
}

// take appends the next n bytes of the stream to the message.
func (f *frameReader) take(n uint64) error {
	if n == 0 {
		return nil
	}
	if n > uint64(f.max-len(f.buf)) {
		return errTooLarge
	}
	start := len(f.buf)
	f.buf = append(f.buf, make([]byte, n)...)
	if _, err := io.ReadFull(f.r, f.buf[start:]); err != nil {
		return unexpected(err)
	}
	return nil
}

// lengthField reads a big-endian length of width bytes into the message.
func (f *frameReader) lengthField(width int) (uint64, error) {
	start := len(f.buf)
	if err := f.take(uint64(width)); err != nil {
		return 0, err
	}
	return beUint(f.buf[start:]), nil
}

func beUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// lengthSource reads a length field of a header; frameReader reads it off
// the stream, byteReader out of a message already in memory.
type lengthSource interface {
	lengthField(width int) (uint64, error)
}

// headerSize reads what follows header byte c (its length fields) and says
// how many payload bytes come next and how many values nest inside it.
func headerSize(c byte, src lengthSource) (payload, children uint64, err error) {
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		return 0, 0, nil
	case c&0xf0 == 0x80: // fixmap
		return 0, 2 * uint64(c&0x0f), nil
	case c&0xf0 == 0x90: // fixarray
		return 0, uint64(c & 0x0f), nil
	case c&0xe0 == 0xa0: // fixstr
		return uint64(c & 0x1f), 0, nil
	}
	if n, ok := fixedPayload(c); ok {
		return n, 0, nil
	}
	var width int
	switch c {
	case 0xc4, 0xd9: // bin8, str8
		width = 1
	case 0xc5, 0xda, 0xdc, 0xde: // bin16, str16, array16, map16
		width = 2
	case 0xc6, 0xdb, 0xdd, 0xdf: // bin32, str32, array32, map32
		width = 4
	case 0xc7: // ext8: length, type, data
		n, err := src.lengthField(1)
		return n + 1, 0, err
	case 0xc8:
		n, err := src.lengthField(2)
		return n + 1, 0, err
	case 0xc9:
		n, err := src.lengthField(4)
		return n + 1, 0, err
	default: // 0xc1 is never used
		return 0, 0, &garbageError{fmt.Sprintf("byte 0x%02x is not MessagePack", c)}
	}
	n, err := src.lengthField(width)
	if err != nil {
		return 0, 0, err
	}
	switch c {
	case 0xdc, 0xdd:
		return 0, n, nil
	case 0xde, 0xdf:
		if n > math.MaxUint32 {
			return 0, 0, errTooLarge
		}
		return 0, 2 * n, nil
	}
	return n, 0, nil
}

// fixedPayload is the payload size of the types whose size the header byte
// alone gives: nil, bools, numbers and fixext.
func fixedPayload(c byte) (uint64, bool) {
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return 0, true
	case 0xcc, 0xd0: // uint8, int8
		return 1, true
	case 0xcd, 0xd1, 0xd4: // uint16, int16, fixext1
		return 2, true
	case 0xd5: // fixext2
		return 3, true
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return 4, true
	case 0xd6: // fixext4
		return 5, true
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return 8, true
	case 0xd7: // fixext8
		return 9, true
	case 0xd8: // fixext16
		return 17, true
	}
	return 0, false
}
