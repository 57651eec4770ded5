package netproto

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func TestFrameReaderCutsBackToBackMessages(t *testing.T) {
	var stream []byte
	msgs := []M{
		{"action": "connect", "version": "1"},
		{"action": "query", "type": "create", "path": "/data/a", "data": M{"n": []any{1.5, int64(-7), "s", nil, true, []byte{1, 2}}}},
		{"rid": uint64(1 << 40), "big": string(make([]byte, 70000))},
	}
	for _, m := range msgs {
		b, err := msgpack.Marshal(m)
		require.NoError(t, err)
		stream = append(stream, b...)
	}
	fr := newFrameReader(bytes.NewReader(stream), 1<<20)
	for _, want := range msgs {
		got, err := fr.next()
		require.NoError(t, err)
		var m M
		require.NoError(t, msgpack.Unmarshal(got, &m))
		require.Equal(t, len(want), len(m))
	}
	_, err := fr.next()
	require.ErrorIs(t, err, io.EOF)
}

func TestFrameReaderRefusesOversizedBeforeReadingIt(t *testing.T) {
	// A map claiming 2^32-1 entries, with nothing after it: refused at once.
	fr := newFrameReader(bytes.NewReader([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}), 1<<20)
	_, err := fr.next()
	require.ErrorIs(t, err, errTooLarge)
	// Cut short in the middle: not a clean end.
	fr = newFrameReader(bytes.NewReader([]byte{0x82, 0xa1}), 1<<20)
	_, err = fr.next()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestParseRequestFields(t *testing.T) {
	b, _ := msgpack.Marshal(M{"rid": "x", "action": "query", "type": "update", "path": "/data/a",
		"item": 12, "if_version": 9, "data": M{"k": "v"}, "credentials": M{"user": "u"}})
	var req request
	require.NoError(t, parseRequest(b, &req))
	require.Nil(t, req.bad)
	require.Equal(t, "update", req.typ)
	require.EqualValues(t, 12, req.item)
	require.EqualValues(t, 9, *req.ifVersion)
	var data M
	require.NoError(t, msgpack.Unmarshal(req.data, &data))
	require.Equal(t, M{"k": "v"}, data)
	var rid string
	require.NoError(t, msgpack.Unmarshal(req.rid, &rid))
	require.Equal(t, "x", rid)

	b, _ = msgpack.Marshal(M{"action": "query", "since": "yesterday"})
	require.NoError(t, parseRequest(b, &req))
	var fe *fieldError
	require.True(t, errors.As(req.bad, &fe))
}

func TestAnswersDecodeAsMessagePack(t *testing.T) {
	a := begin(nil, []byte{0xa1, 'r'})
	a.bool("result", true)
	a.uint("version", 1<<33)
	a.str("s", string(make([]byte, 300)))
	var m M
	require.NoError(t, msgpack.Unmarshal(a.end(), &m))
	require.Equal(t, "r", m["rid"])
	require.EqualValues(t, uint64(1<<33), m["version"])
	require.Len(t, m["s"], 300)
}

// FuzzDecode feeds arbitrary bytes to the stream decoder: it must never
// panic, never return more than the limit, and every message it returns
// must be one MessagePack map that the msgpack library reads the same way.
func FuzzDecode(f *testing.F) {
	for _, m := range []M{{"action": "connect", "version": "1"}, {"rid": 1, "data": []any{M{"a": nil}}}} {
		b, _ := msgpack.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xc1})
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 4096
		fr := newFrameReader(bytes.NewReader(in), limit)
		for {
			msg, err := fr.next()
			if err != nil {
				return
			}
			if len(msg) > limit {
				t.Fatalf("message of %d bytes over the limit", len(msg))
			}
			var req request
			if err := parseRequest(msg, &req); err != nil {
				continue
			}
			r := byteReader{b: msg}
			raw, err := r.raw()
			if err != nil || len(raw) != len(msg) {
				t.Fatalf("frame of %d bytes, value of %d (%v)", len(msg), len(raw), err)
			}
			var v any
			if err := msgpack.Unmarshal(msg, &v); err == nil {
				if _, ok := v.(map[string]any); !ok && v != nil {
					// msgpack reads non-string keys into other map types.
					if _, ok := v.(map[any]any); !ok {
						t.Fatalf("accepted a non-map: %T", v)
					}
				}
			}
		}
	})
}
