package websvc

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/session"
)

func TestJSONToMsgpackKinds(t *testing.T) {
	for _, tt := range []struct {
		json string
		want any // what msgpack decodes it to
	}{
		{`null`, nil},
		{`true`, true},
		{`0`, int8(0)},
		{`-1`, int8(-1)},
		{`300`, uint16(300)},
		{`9223372036854775807`, uint64(math.MaxInt64)}, {`-9223372036854775808`, int64(math.MinInt64)},
		{`18446744073709551615`, uint64(math.MaxUint64)},
		{`1.5`, 1.5},
		{`1e3`, 1000.0},
		{`1.0`, 1.0},
		{`18446744073709551616`, 18446744073709551616.0}, // beyond uint64: a float
		{`"héllo\u00e9\n"`, "héllo\u00e9\n"},
		{`[1,"a",[null]]`, []any{int8(1), "a", []any{nil}}},
		{`{"b":1,"a":{"c":[]}}`, map[string]any{"b": int8(1), "a": map[string]any{"c": []any{}}}},
	} {
		packed, err := jsonToMsgpack([]byte(tt.json))
		require.NoError(t, err, tt.json)
		require.NoError(t, fsm.ValidateData(packed, fsm.DefaultMaxItemBytes), tt.json)
		var got any
		require.NoError(t, msgpack.Unmarshal(packed, &got), tt.json)
		require.Equal(t, tt.want, got, tt.json)
	}
}

func TestJSONMsgpackRoundTrip(t *testing.T) {
	for _, in := range []string{
		`null`, `false`, `0`, `-42`, `18446744073709551615`, `-9223372036854775808`,
		`1.5`, `-0.25`, `1.0`, `1e+300`, `1e-07`, `"a\"b\\c\u0001"`, `[]`, `{}`,
		`{"z":1,"a":2,"m":[1,2,{"x":null}]}`, `"\u003chtml\u003e"`,
	} {
		packed, err := jsonToMsgpack([]byte(in))
		require.NoError(t, err, in)
		out, err := msgpackToJSON(packed)
		require.NoError(t, err, in)
		// Same value, same key order, and floats stay floats.
		again, err := jsonToMsgpack(out)
		require.NoError(t, err, string(out))
		require.Equal(t, packed, again, "%s → %s", in, out)
	}
	out, _ := msgpackToJSON(mustPackTest(t, 2.0))
	require.Equal(t, "2.0", string(out), "a float keeps its point")
	out, _ = msgpackToJSON(mustPackTest(t, float32(0.5)))
	require.Equal(t, "0.5", string(out))
	out, _ = msgpackToJSON(mustPackTest(t, map[string]any{"k": []byte("bin")}))
	require.Nil(t, out, "binary has no JSON form (and fsm never stores it)")
}

func mustPackTest(t *testing.T, v any) []byte {
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestJSONToMsgpackRefuses(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[1,]`, `1 2`, `1e400`, `-1e400`, `{"a":}`, `nan`,
		strings.Repeat("[", maxDataDepth+1) + strings.Repeat("]", maxDataDepth+1),
	} {
		_, err := jsonToMsgpack([]byte(in))
		require.ErrorIs(t, err, errBadData, in)
	}
	deep := strings.Repeat("[", maxDataDepth) + strings.Repeat("]", maxDataDepth)
	packed, err := jsonToMsgpack([]byte(deep))
	require.NoError(t, err)
	require.NoError(t, fsm.ValidateData(packed, fsm.DefaultMaxItemBytes))
	// Duplicate keys are passed on as they are, for fsm to refuse.
	packed, err = jsonToMsgpack([]byte(`{"a":1,"a":2}`))
	require.NoError(t, err)
	require.Equal(t, fsm.InvalidParameter, fsm.CodeOf(fsm.ValidateData(packed, fsm.DefaultMaxItemBytes)))
}

func TestDecodeRequest(t *testing.T) {
	r, err := decodeRequest([]byte(`{"rid":"a1","action":"push","path":"/data/x","data":{"n":1},"if_version":3}`))
	require.NoError(t, err)
	require.Equal(t, `"a1"`, string(r.rid))
	require.Equal(t, session.OpCreate, r.req.Op)
	require.Equal(t, "/data/x", r.req.Path)
	require.Equal(t, uint64(3), *r.req.IfVersion)
	var data any
	require.NoError(t, msgpack.Unmarshal(r.req.Data, &data))
	require.Equal(t, map[string]any{"n": int8(1)}, data)

	r, err = decodeRequest([]byte(`{"rid":"w","action":"watch","path":"/data/x","since":17}`))
	require.NoError(t, err)
	require.Equal(t, uint64(17), *r.req.Since)

	r, err = decodeRequest([]byte(`{"rid":"g","action":"get","path":"/data/x","consistency":"stale"}`))
	require.NoError(t, err)
	require.True(t, r.req.Stale)

	for in, code := range map[string]fsm.Code{
		`[]`:                                     fsm.InvalidParameter,
		`"x"`:                                    fsm.InvalidParameter,
		`{"rid":{},"action":"get"}`:              fsm.InvalidParameter,
		`{"rid":"1","action":5}`:                 fsm.InvalidParameter,
		`{"rid":"1","action":"x"}`:               fsm.Unsupported,
		`{"rid":"1","action":"get","path":"/d"}`: fsm.InvalidParameter,
		`{"rid":"1","action":"delete","path":"/data/a","item":-1}`:                       fsm.InvalidParameter,
		`{"rid":"1","action":"delete","path":"/data/a","item":1.5}`:                      fsm.InvalidParameter,
		`{"rid":"1","action":"watch","path":"/data/a","since":"3"}`:                      fsm.InvalidParameter,
		`{"rid":"1","action":"push","path":"/data/a","data":1e999}`:                      fsm.InvalidParameter,
		`{"rid":"1","action":"push","path":"/data/a","if_version":"no"}`:                 fsm.InvalidParameter,
		"{\"rid\":\"1\",\"action\":\"push\",\"path\":\"/data/a\",\"data\":\"\xff\xfe\"}": fsm.InvalidParameter,
		"{\"rid\":\"\xff\",\"action\":\"ping\"}":                                         fsm.InvalidParameter,
	} {
		_, err := decodeRequest([]byte(in))
		var re *requestError
		require.ErrorAs(t, err, &re, in)
		require.Equal(t, code, re.code, in)
		require.NotEmpty(t, re.msg)
	}
}

// FuzzDecodeRequest: no input crashes the decoder, a refusal always
// carries a protocol code, and an accepted write's data is MessagePack that
// converts back to JSON naming the same value.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"rid":"1","action":"push","path":"/data/a","data":{"x":[1,2.5,"s",null,true]}}`,
		`{"rid":"2","action":"update","path":"/data/a/b","item":3,"data":"v","if_version":2}`,
		`{"rid":"3","action":"get","path":"/data/a","consistency":"stale"}`,
		`{"rid":"4","action":"watch","path":"/data/a","since":0}`,
		`{"rid":5,"action":"delete","path":"/data/a","item":9}`,
		`{"action":"ping"}`, `{"rid":"c","action":"close"}`, `{}`, `[`, `{"data":[[[[[]]]]]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := decodeRequest(in)
		if err != nil {
			var re *requestError
			require.ErrorAs(t, err, &re)
			require.True(t, re.code.Valid() && re.code != fsm.OK)
			return
		}
		require.True(t, json.Valid(append([]byte(`[`), append(orNull(r.rid), ']')...)), "rid echoes as JSON")
		if r.req.Op != session.OpCreate && r.req.Op != session.OpUpdate {
			return
		}
		back, err := msgpackToJSON(r.req.Data)
		require.NoError(t, err)
		again, err := jsonToMsgpack(back)
		require.NoError(t, err)
		require.Equal(t, r.req.Data, again)
	})
}

func orNull(b []byte) []byte {
	if b == nil {
		return []byte("null")
	}
	return b
}

// Every length class of MessagePack's headers, and every integer width at
// its bounds, decodes (with the msgpack library) to the JSON it came from.
func TestJSONToMsgpackBoundaries(t *testing.T) {
	var cases []string
	for _, n := range []int{0, 31, 32, 255, 256, 65535, 65536} {
		s, _ := json.Marshal(strings.Repeat("é", n/2) + strings.Repeat("x", n%2))
		cases = append(cases, string(s))
	}
	for _, n := range []int{0, 15, 16, 65535, 65536} {
		elems := make([]string, n)
		pairs := make([]string, n)
		for i := range elems {
			elems[i] = "1"
			pairs[i] = fmt.Sprintf(`"k%d":%d`, i, i)
		}
		cases = append(cases, "["+strings.Join(elems, ",")+"]", "{"+strings.Join(pairs, ",")+"}")
	}
	for _, i := range []int64{127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1} {
		cases = append(cases, strconv.FormatInt(i, 10))
	}
	for _, in := range cases {
		packed, err := jsonToMsgpack([]byte(in))
		require.NoError(t, err)
		var v any
		require.NoError(t, msgpack.Unmarshal(packed, &v))
		back, err := json.Marshal(v)
		require.NoError(t, err)
		require.JSONEq(t, in, string(back), "%.60s", in)
	}
}
