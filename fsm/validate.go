package fsm

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"unicode/utf8"
)

// Limits of the data model (PROTOCOL.md, "Data model").
const (
	// MaxPathBytes bounds a whole path.
	MaxPathBytes = 1024
	// MaxSegmentBytes bounds one segment of a path.
	MaxSegmentBytes = 128
	// DefaultMaxItemBytes is max_item_bytes when Options leave it unset.
	DefaultMaxItemBytes = 64 << 10
	// MaxDataDepth bounds how deeply arrays and maps may nest inside an
	// item's data. PROTOCOL.md sets no depth, but an unbounded one lets 64 KiB
	// of 0x91 bytes drive every decoder that later reads the item (ours, the
	// clients', a JSON encoder) 65,536 calls deep. 100 is far beyond any real
	// document and far below any stack limit.
	MaxDataDepth = 100
)

// pathPrefix is the root every path starts with.
const pathPrefix = "/data"

// ValidatePath checks p against PROTOCOL.md: "/data" followed by one or
// more "/segment", each segment 1–128 bytes of [A-Za-z0-9._~-] and not "."
// or "..", the whole at most 1024 bytes. It returns nil or an *Error with
// code InvalidParameter.
func ValidatePath(p string) error { return validatePath(p) }

// validatePath is ValidatePath for a string or for bytes, so that Apply can
// check a path still inside the log entry without copying it first.
func validatePath[T string | []byte](p T) error {
	if len(p) > MaxPathBytes {
		return Errorf(InvalidParameter, "path is %d bytes, more than %d", len(p), MaxPathBytes)
	}
	if len(p) < len(pathPrefix) || string(p[:len(pathPrefix)]) != pathPrefix {
		return Errorf(InvalidParameter, "path %q does not start with %s/", string(p), pathPrefix)
	}
	rest := p[len(pathPrefix):]
	if len(rest) == 0 {
		return Errorf(InvalidParameter, "path %q names no list: it needs at least one segment after %s", string(p), pathPrefix)
	}
	// rest is "/seg/seg/...": walk it segment by segment.
	for len(rest) > 0 {
		if rest[0] != '/' {
			return Errorf(InvalidParameter, "path %q: segments must be separated by /", string(p))
		}
		rest = rest[1:]
		end := 0
		for end < len(rest) && rest[end] != '/' {
			if !segmentByte(rest[end]) {
				return Errorf(InvalidParameter, "path %q: byte %q is not allowed in a segment (allowed: A-Z a-z 0-9 . _ ~ -)", string(p), rest[end])
			}
			end++
		}
		segment := rest[:end]
		switch {
		case len(segment) == 0:
			return Errorf(InvalidParameter, "path %q has an empty segment", string(p))
		case len(segment) > MaxSegmentBytes:
			return Errorf(InvalidParameter, "path %q has a segment of %d bytes, more than %d", string(p), len(segment), MaxSegmentBytes)
		case string(segment) == "." || string(segment) == "..":
			return Errorf(InvalidParameter, "path %q: segments . and .. are not allowed", string(p))
		}
		rest = rest[end:]
	}
	return nil
}

// segmentByte reports whether c may appear in a path segment: the URL's
// unreserved characters (RFC 3986 §2.3), so a path is the same string in
// both protocols and in an HTTP URL.
func segmentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// ValidateData checks an item's data: it must be at most maxBytes long (or
// DefaultMaxItemBytes when maxBytes <= 0), else TooLarge, and exactly one
// MessagePack value that a JSON client can also read, else InvalidParameter:
//
//   - nil, bool, integers of every width, and finite float32/float64;
//   - str holding valid UTF-8;
//   - arrays of such values;
//   - maps whose keys are distinct strs and whose values are such values;
//   - nested at most MaxDataDepth deep; no bytes after the value.
//
// Refused because JSON has no form for them, so a Vera client could not see
// the item: bin and ext (timestamps included), NaN and ±Inf, strings that are
// not UTF-8, non-string map keys, and duplicate keys (JSON objects with
// duplicate names have no agreed meaning, RFC 8259 §4). An empty data slice
// is not a value either: "no data" is the nil value, the byte 0xc0.
//
// It never panics, whatever the bytes, and allocates only for maps of more
// than a few keys (to find duplicates) and for the error it returns.
func ValidateData(data []byte, maxBytes int) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxItemBytes
	}
	if len(data) > maxBytes {
		return Errorf(TooLarge, "item data is %d bytes, more than max_item_bytes %d", len(data), maxBytes)
	}
	if len(data) == 0 {
		return Errorf(InvalidParameter, "item data is empty: it must be one MessagePack value (nil is 0xc0)")
	}
	walker := dataWalker{data: data}
	if err := walker.value(1); err != nil {
		return err
	}
	if walker.pos != len(data) {
		return Errorf(InvalidParameter, "item data holds %d bytes after its first value: it must be exactly one MessagePack value", len(data)-walker.pos)
	}
	return nil
}

// dataWalker reads one MessagePack value without building it, checking
// every length against the bytes that remain before trusting it.
type dataWalker struct {
	data []byte
	pos  int
}

func (w *dataWalker) fail(what string) error {
	return Errorf(InvalidParameter, "item data at byte %d: %s", w.pos, what)
}

// take consumes n bytes, or reports that fewer remain.
func (w *dataWalker) take(n uint64) ([]byte, bool) {
	if n > uint64(len(w.data)-w.pos) {
		return nil, false
	}
	out := w.data[w.pos : w.pos+int(n)]
	w.pos += int(n)
	return out, true
}

// length reads a big-endian length of width bytes (1, 2 or 4).
func (w *dataWalker) length(width uint64) (uint64, bool) {
	raw, ok := w.take(width)
	if !ok {
		return 0, false
	}
	switch width {
	case 1:
		return uint64(raw[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(raw)), true
	default:
		return uint64(binary.BigEndian.Uint32(raw)), true
	}
}

// value checks one value whose first byte is at w.pos, at nesting depth.
func (w *dataWalker) value(depth int) error {
	if depth > MaxDataDepth {
		return w.fail("arrays and maps nest more than 100 deep")
	}
	head, ok := w.take(1)
	if !ok {
		return w.fail("truncated: a value was expected")
	}
	format := head[0]
	switch {
	case format <= 0x7f || format >= 0xe0: // positive and negative fixint
		return nil
	case format <= 0x8f: // fixmap
		return w.mapBody(uint64(format&0x0f), depth)
	case format <= 0x9f: // fixarray
		return w.arrayBody(uint64(format&0x0f), depth)
	case format <= 0xbf: // fixstr
		return w.strBody(uint64(format & 0x1f))
	}
	switch format {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return nil
	case 0xc1:
		return w.fail("byte 0xc1 is never used in MessagePack")
	case 0xc4, 0xc5, 0xc6:
		return w.fail("bin values are not allowed: JSON cannot carry raw bytes")
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return w.fail("ext values (timestamps included) are not allowed: JSON cannot carry them")
	case 0xca:
		raw, ok := w.take(4)
		if !ok {
			return w.fail("truncated float32")
		}
		f := float64(math.Float32frombits(binary.BigEndian.Uint32(raw)))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return w.fail("NaN and infinite numbers are not allowed: JSON cannot carry them")
		}
		return nil
	case 0xcb:
		raw, ok := w.take(8)
		if !ok {
			return w.fail("truncated float64")
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(raw))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return w.fail("NaN and infinite numbers are not allowed: JSON cannot carry them")
		}
		return nil
	case 0xcc, 0xd0: // uint8, int8
		return w.skip(1, "truncated integer")
	case 0xcd, 0xd1: // uint16, int16
		return w.skip(2, "truncated integer")
	case 0xce, 0xd2: // uint32, int32
		return w.skip(4, "truncated integer")
	case 0xcf, 0xd3: // uint64, int64
		return w.skip(8, "truncated integer")
	case 0xd9, 0xda, 0xdb: // str8, str16, str32
		n, ok := w.length(1 << (format - 0xd9))
		if !ok {
			return w.fail("truncated string length")
		}
		return w.strBody(n)
	case 0xdc, 0xdd: // array16, array32
		n, ok := w.length(2 << (format - 0xdc))
		if !ok {
			return w.fail("truncated array length")
		}
		return w.arrayBody(n, depth)
	default: // 0xde, 0xdf: map16, map32
		n, ok := w.length(2 << (format - 0xde))
		if !ok {
			return w.fail("truncated map length")
		}
		return w.mapBody(n, depth)
	}
}

func (w *dataWalker) skip(n uint64, what string) error {
	if _, ok := w.take(n); !ok {
		return w.fail(what)
	}
	return nil
}

func (w *dataWalker) strBody(n uint64) error {
	text, ok := w.take(n)
	if !ok {
		return w.fail("truncated string")
	}
	if !utf8.Valid(text) {
		return w.fail("string is not valid UTF-8")
	}
	return nil
}

func (w *dataWalker) arrayBody(n uint64, depth int) error {
	// Every element takes at least one byte: a count beyond the remaining
	// bytes is a lie, refused before looping over it.
	if n > uint64(len(w.data)-w.pos) {
		return w.fail("array claims more elements than bytes remain")
	}
	for range n {
		if err := w.value(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// smallMapKeys is how many keys a map may have before duplicate detection
// switches from pairwise comparison to sorting.
const smallMapKeys = 16

func (w *dataWalker) mapBody(n uint64, depth int) error {
	if n > uint64(len(w.data)-w.pos)/2 {
		return w.fail("map claims more entries than bytes remain")
	}
	var small [smallMapKeys][]byte
	keys := small[:0]
	for range n {
		key, err := w.key()
		if err != nil {
			return err
		}
		keys = append(keys, key)
		if err := w.value(depth + 1); err != nil {
			return err
		}
	}
	if len(keys) <= smallMapKeys {
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if bytes.Equal(keys[i], keys[j]) {
					return w.fail("map has the key " + quoteKey(keys[i]) + " twice")
				}
			}
		}
		return nil
	}
	slices.SortFunc(keys, bytes.Compare)
	for i := 1; i < len(keys); i++ {
		if bytes.Equal(keys[i-1], keys[i]) {
			return w.fail("map has the key " + quoteKey(keys[i]) + " twice")
		}
	}
	return nil
}

// key reads a map key, which must be a string.
func (w *dataWalker) key() ([]byte, error) {
	head, ok := w.take(1)
	if !ok {
		return nil, w.fail("truncated: a map key was expected")
	}
	var n uint64
	switch format := head[0]; {
	case format >= 0xa0 && format <= 0xbf:
		n = uint64(format & 0x1f)
	case format >= 0xd9 && format <= 0xdb:
		n, ok = w.length(1 << (format - 0xd9))
		if !ok {
			return nil, w.fail("truncated map key length")
		}
	default:
		return nil, w.fail("map keys must be strings")
	}
	text, ok := w.take(n)
	if !ok {
		return nil, w.fail("truncated map key")
	}
	if !utf8.Valid(text) {
		return nil, w.fail("map key is not valid UTF-8")
	}
	return text, nil
}

// quoteKey renders a key for an error message, cut short so a 60 KiB key
// does not become a 60 KiB message.
func quoteKey(key []byte) string {
	const most = 64
	if len(key) > most {
		return `"` + string(key[:most]) + `…"`
	}
	return `"` + string(key) + `"`
}
