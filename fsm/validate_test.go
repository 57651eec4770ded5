package fsm

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

func TestValidatePath(t *testing.T) {
	segment128 := strings.Repeat("s", 128)
	// A path of exactly 1024 bytes: /data + 7 segments of 1+128 + one of 1+115.
	longest := "/data" + strings.Repeat("/"+segment128, 7) + "/" + strings.Repeat("t", 115)
	require.Len(t, longest, 1024)

	tests := []struct {
		path string
		ok   bool
	}{
		{"/data/foo", true},
		{"/data/foo/bar", true},
		{"/data/A-Z.a_z~0-9", true},
		{"/data/...", true}, // only "." and ".." themselves are refused
		{"/data/.x", true},
		{"/data/" + segment128, true},
		{longest, true},
		{"", false},
		{"/", false},
		{"/data", false},
		{"/data/", false},
		{"/data//foo", false},
		{"/data/foo/", false},
		{"/datafoo", false},
		{"/Data/foo", false},
		{"data/foo", false},
		{"/other/foo", false},
		{"/data/.", false},
		{"/data/..", false},
		{"/data/foo/../bar", false},
		{"/data/foo bar", false},
		{"/data/foo%20", false},
		{"/data/föö", false},
		{"/data/foo?x", false},
		{"/data/foo\x00", false},
		{"/data/" + segment128 + "s", false},
		{longest + "t", false},
	}
	for _, test := range tests {
		err := ValidatePath(test.path)
		if test.ok {
			require.NoError(t, err, "%q", test.path)
			continue
		}
		require.Error(t, err, "%q", test.path)
		require.Equal(t, InvalidParameter, CodeOf(err), "%q", test.path)
	}
}

func TestValidatePathAgreesOnBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		path := rapid.OneOf(
			rapid.StringMatching(`/data(/[A-Za-z0-9._~-]{0,5}){0,4}/?`),
			rapid.String(),
		).Draw(t, "path")
		require.Equal(t, validatePath(path) == nil, validatePath([]byte(path)) == nil, path)
	})
}

func TestValidateDataAcceptsJSONShapedValues(t *testing.T) {
	values := []any{
		nil, true, false, 0, 1, -1, 127, -32, 128, -33, 1 << 40, -(1 << 40),
		uint64(math.MaxUint64), int64(math.MinInt64), float32(1.5), 3.25, "", "héllo",
		strings.Repeat("x", 300), strings.Repeat("y", 70000)[:60000],
		[]any{}, []any{1, "two", nil, []any{3.5}},
		map[string]any{}, map[string]any{"a": 1, "b": map[string]any{"c": []any{true}}},
	}
	for _, value := range values {
		data := mp(t, value)
		require.NoError(t, ValidateData(data, 0), "%#v", value)
	}
	// Sixteen and seventeen keys: both ways of finding duplicates.
	for _, n := range []int{16, 17, 1000} {
		m := map[string]any{}
		for i := range n {
			m[strconv.Itoa(i)] = i
		}
		require.NoError(t, ValidateData(mp(t, m), 0), "%d keys", n)
	}
	// The nesting limit itself is allowed.
	require.NoError(t, ValidateData(nested(MaxDataDepth-1), 0))
}

// nested returns depth arrays inside each other around a nil.
func nested(depth int) []byte {
	return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
}

func TestValidateDataRefuses(t *testing.T) {
	duplicateKeys := func(n int) []byte {
		// A map16 of n distinct keys and then the first key again.
		out := []byte{0xde, 0, byte(n + 1)}
		for i := range n + 1 {
			key := []byte{'k', byte('a' + i%n)}
			out = append(out, 0xa2)
			out = append(out, key...)
			out = append(out, 0x01)
		}
		return out
	}
	tests := []struct {
		name string
		data []byte
		max  int
		code Code
	}{
		{"empty", nil, 0, InvalidParameter},
		{"over the limit", mp(t, strings.Repeat("x", 100)), 64, TooLarge},
		{"over the default limit", mp(t, strings.Repeat("x", DefaultMaxItemBytes)), 0, TooLarge},
		{"two values", []byte{0x01, 0x02}, 0, InvalidParameter},
		{"never used byte", []byte{0xc1}, 0, InvalidParameter},
		{"bin", []byte{0xc4, 0x01, 0xff}, 0, InvalidParameter},
		{"ext", []byte{0xd4, 0x01, 0x00}, 0, InvalidParameter},
		{"timestamp", mp(t, msgpackTimestamp()), 0, InvalidParameter},
		{"NaN float64", mp(t, math.NaN()), 0, InvalidParameter},
		{"Inf float64", mp(t, math.Inf(1)), 0, InvalidParameter},
		{"NaN float32", mp(t, float32(math.NaN())), 0, InvalidParameter},
		{"-Inf float32", mp(t, float32(math.Inf(-1))), 0, InvalidParameter},
		{"invalid UTF-8", []byte{0xa2, 0xff, 0xfe}, 0, InvalidParameter},
		{"integer key", []byte{0x81, 0x01, 0x02}, 0, InvalidParameter},
		{"invalid UTF-8 key", []byte{0x81, 0xa1, 0xff, 0x02}, 0, InvalidParameter},
		{"duplicate key in small map", []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02}, 0, InvalidParameter},
		{"duplicate key in large map", duplicateKeys(20), 0, InvalidParameter},
		{"truncated str", []byte{0xa5, 'a'}, 0, InvalidParameter},
		{"truncated uint64", []byte{0xcf, 0, 0}, 0, InvalidParameter},
		{"truncated float64", []byte{0xcb, 0}, 0, InvalidParameter},
		{"truncated array", []byte{0x92, 0x01}, 0, InvalidParameter},
		{"truncated map value", []byte{0x81, 0xa1, 'a'}, 0, InvalidParameter},
		{"lying array32 count", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, InvalidParameter},
		{"lying map32 count", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa0, 0x01}, 0, InvalidParameter},
		{"lying str32 length", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, 0, InvalidParameter},
		{"too deep", nested(MaxDataDepth), 0, InvalidParameter},
		{"very deep", nested(60000), 0, InvalidParameter},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			err := ValidateData(test.data, test.max)
			require.Error(t, err)
			require.Equal(t, test.code, CodeOf(err), err.Error())
		})
	}
}

func msgpackTimestamp() any {
	var ts msgpack.RawMessage = []byte{0xd6, 0xff, 0, 0, 0, 1}
	return ts
}

func TestValidateDataSmallMapsDoNotAllocate(t *testing.T) {
	data := mp(t, map[string]any{"name": "n1", "address": "127.0.0.1:7400", "weight": 3, "tags": []any{"a", "b"}})
	allocations := testing.AllocsPerRun(100, func() {
		if ValidateData(data, 0) != nil {
			panic("refused")
		}
	})
	require.Zero(t, allocations)
}

// jsonShaped draws values ValidateData must accept.
func jsonShaped(depth int) *rapid.Generator[any] {
	scalars := []*rapid.Generator[any]{
		rapid.Just[any](nil),
		rapid.Bool().AsAny(),
		rapid.Int64().AsAny(),
		rapid.Uint64().AsAny(),
		rapid.Float64().Filter(func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }).AsAny(),
		rapid.String().AsAny(),
	}
	if depth == 0 {
		return rapid.OneOf(scalars...)
	}
	return rapid.OneOf(append(scalars,
		rapid.SliceOfN(jsonShaped(depth-1), 0, 4).AsAny(),
		rapid.MapOfN(rapid.String(), jsonShaped(depth-1), 0, 20).AsAny(),
	)...)
}

func TestValidateDataAcceptsWhatMsgpackEncodes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		value := jsonShaped(3).Draw(t, "value")
		data, err := msgpack.Marshal(value)
		require.NoError(t, err)
		require.NoError(t, ValidateData(data, math.MaxInt))
	})
}

// decodesAsOneValue reports whether the reference decoder reads data as
// exactly one value.
func decodesAsOneValue(data []byte) bool {
	reader := bytes.NewReader(data)
	var value any
	if err := msgpack.NewDecoder(reader).Decode(&value); err != nil {
		return false
	}
	return reader.Len() == 0
}

func FuzzValidateData(f *testing.F) {
	for _, seed := range [][]byte{
		{0xc0}, {0x81, 0xa1, 'a', 0x01}, {0x92, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xa0},
		{0xdd, 0xff, 0xff, 0xff, 0xff}, {0xc4, 0x00}, {0xd9, 0x02, 'h', 'i'},
		nested(120),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ValidateData(data, 0)
		if err != nil {
			code := CodeOf(err)
			require.True(t, code == InvalidParameter || code == TooLarge, code)
			return
		}
		// What we accept, the reference decoder reads as one value.
		require.True(t, decodesAsOneValue(data), "%x", data)
	})
}
