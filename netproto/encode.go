package netproto

import (
	"encoding/binary"

	"github.com/havenproject/haven/fsm"
)

// Answers are written by hand-rolled append functions: they allocate
// nothing beyond the connection's buffer, and an item's data, which is
// already MessagePack, is copied in as it is.

func appendMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
}

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func appendString(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v < 1<<8:
		return append(b, 0xcc, byte(v))
	case v < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v < 1<<32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func appendNil(b []byte) []byte { return append(b, 0xc0) }

// appendItem writes {version, modified, owner, data}.
func appendItem(b []byte, it *fsm.Item) []byte {
	b = appendMapLen(b, 4)
	b = appendUint(appendString(b, "version"), it.Version)
	b = appendUint(appendString(b, "modified"), it.Modified)
	b = appendString(appendString(b, "owner"), it.Owner)
	b = appendString(b, "data")
	if it.Data == "" {
		return appendNil(b)
	}
	return append(b, it.Data...) // already MessagePack (fsm.Item.Data)
}

func appendItems(b []byte, items []fsm.Item) []byte {
	b = appendArrayLen(b, len(items))
	for i := range items {
		b = appendItem(b, &items[i])
	}
	return b
}

// appendEvent writes {path, version, kind, item}.
func appendEvent(b []byte, ev *fsm.Event) []byte {
	b = appendMapLen(b, 4)
	b = appendString(appendString(b, "path"), ev.Path)
	b = appendUint(appendString(b, "version"), ev.Version)
	b = appendString(appendString(b, "kind"), string(ev.Kind))
	return appendItem(appendString(b, "item"), &ev.Item)
}

// answer builds one answer map: rid first, then the fields. The map's
// length is patched in at the end, so fields can be added as they apply.
type answer struct {
	b      []byte
	start  int // where the map header is
	fields int
}

// begin starts an answer in b. The header is written as map16 so that it
// can be patched without moving the fields.
func begin(b []byte, rid []byte) answer {
	a := answer{b: b, start: len(b)}
	a.b = append(a.b, 0xde, 0, 0)
	if rid != nil {
		a.key("rid")
		a.b = append(a.b, rid...)
	}
	return a
}

func (a *answer) key(k string) *answer {
	a.fields++
	a.b = appendString(a.b, k)
	return a
}

func (a *answer) str(k, v string) { a.key(k); a.b = appendString(a.b, v) }
func (a *answer) uint(k string, v uint64) {
	a.key(k)
	a.b = appendUint(a.b, v)
}
func (a *answer) bool(k string, v bool) { a.key(k); a.b = appendBool(a.b, v) }

// fail adds result: false and error: {code, message}.
func (a *answer) fail(code fsm.Code, message string) {
	a.bool("result", false)
	a.key("error")
	a.b = appendMapLen(a.b, 2)
	a.b = appendString(appendString(a.b, "code"), string(code))
	a.b = appendString(appendString(a.b, "message"), message)
}

// end patches the field count in and returns the buffer.
func (a *answer) end() []byte {
	binary.BigEndian.PutUint16(a.b[a.start+1:], uint16(a.fields))
	return a.b
}
