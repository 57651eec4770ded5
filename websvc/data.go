package websvc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Item data is stored as raw MessagePack (fsm.Item.Data); Vera speaks JSON.
// These two functions convert between them without going through Go maps,
// so that nothing is lost or reordered on the way:
//   - integers stay integers (int64 or uint64, as MessagePack can hold
//     them); a JSON number with a fraction or an exponent is a float64;
//   - a float is written back to JSON with a '.' or an exponent ("1.0", not
//     "1"), so it comes back as a float when a browser writes it again;
//   - objects keep their key order and their duplicate keys (which the state
//     machine then refuses with InvalidParameter, as for a Haven client);
//   - nesting is bounded as in fsm.ValidateData.

// maxDataDepth matches fsm's nesting limit: deeper data is refused here,
// before any recursion can grow with the input.
const maxDataDepth = 100

// errBadData is wrapped by every conversion failure.
var errBadData = errors.New("invalid data")

// jsonToMsgpack converts one JSON value to MessagePack, in the compact
// encodings a MessagePack encoder picks (fixint, fixstr, ...).
func jsonToMsgpack(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	out, err := appendJSONValue(make([]byte, 0, len(raw)), dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: more than one JSON value", errBadData)
	}
	return out, nil
}

func appendJSONValue(out []byte, dec *json.Decoder, depth int) ([]byte, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadData, err)
	}
	switch v := tok.(type) {
	case nil:
		return append(out, msgpcode.Nil), nil
	case bool:
		if v {
			return append(out, msgpcode.True), nil
		}
		return append(out, msgpcode.False), nil
	case string:
		return appendMsgpackString(out, v), nil
	case json.Number:
		return appendMsgpackNumber(out, v)
	case json.Delim:
		if depth >= maxDataDepth {
			return nil, fmt.Errorf("%w: nested deeper than %d", errBadData, maxDataDepth)
		}
		// A container's length comes before its elements, and JSON does
		// not say it: the elements go into a body of their own first.
		var body []byte
		n := 0
		for dec.More() {
			if v == '{' {
				keyTok, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("%w: %v", errBadData, err)
				}
				key, _ := keyTok.(string)
				body = appendMsgpackString(body, key)
			}
			if body, err = appendJSONValue(body, dec, depth+1); err != nil {
				return nil, err
			}
			n++
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, fmt.Errorf("%w: %v", errBadData, err)
		}
		if v == '{' {
			out = appendMsgpackLen(out, n, msgpcode.FixedMapLow, msgpcode.Map16, msgpcode.Map32)
		} else {
			out = appendMsgpackLen(out, n, msgpcode.FixedArrayLow, msgpcode.Array16, msgpcode.Array32)
		}
		return append(out, body...), nil
	}
	return nil, fmt.Errorf("%w: unexpected %v", errBadData, tok)
}

// appendMsgpackLen writes a map or array header: fix form below 16.
func appendMsgpackLen(out []byte, n int, fix, code16, code32 byte) []byte {
	switch {
	case n < 16:
		return append(out, fix|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(out, code16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(out, code32), uint32(n))
}

func appendMsgpackString(out []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		out = append(out, msgpcode.FixedStrLow|byte(n))
	case n <= math.MaxUint8:
		out = append(out, msgpcode.Str8, byte(n))
	case n <= math.MaxUint16:
		out = binary.BigEndian.AppendUint16(append(out, msgpcode.Str16), uint16(n))
	default:
		out = binary.BigEndian.AppendUint32(append(out, msgpcode.Str32), uint32(n))
	}
	return append(out, s...)
}

func appendMsgpackUint(out []byte, u uint64) []byte {
	switch {
	case u <= math.MaxInt8:
		return append(out, byte(u)) // positive fixint
	case u <= math.MaxUint8:
		return append(out, msgpcode.Uint8, byte(u))
	case u <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(out, msgpcode.Uint16), uint16(u))
	case u <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(out, msgpcode.Uint32), uint32(u))
	}
	return binary.BigEndian.AppendUint64(append(out, msgpcode.Uint64), u)
}

func appendMsgpackInt(out []byte, i int64) []byte {
	switch {
	case i >= 0:
		return appendMsgpackUint(out, uint64(i))
	case i >= -32:
		return append(out, byte(int8(i))) // negative fixint
	case i >= math.MinInt8:
		return append(out, msgpcode.Int8, byte(int8(i)))
	case i >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(out, msgpcode.Int16), uint16(int16(i)))
	case i >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(out, msgpcode.Int32), uint32(int32(i)))
	}
	return binary.BigEndian.AppendUint64(append(out, msgpcode.Int64), uint64(i))
}

func appendMsgpackNumber(out []byte, n json.Number) ([]byte, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return appendMsgpackInt(out, i), nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return appendMsgpackUint(out, u), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: number %s does not fit a float64", errBadData, s)
	}
	return binary.BigEndian.AppendUint64(append(out, msgpcode.Double), math.Float64bits(f)), nil
}

// msgpackToJSON converts one MessagePack value (as fsm.ValidateData allows
// it) to JSON.
func msgpackToJSON(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return []byte("null"), nil
	}
	dec := msgpack.NewDecoder(bytes.NewReader(data))
	out, err := appendMsgpackValue(nil, dec, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadData, err)
	}
	return out, nil
}

func appendMsgpackValue(out []byte, dec *msgpack.Decoder, depth int) ([]byte, error) {
	if depth > maxDataDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDataDepth)
	}
	code, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case code == msgpcode.Nil:
		return append(out, "null"...), dec.DecodeNil()
	case code == msgpcode.False || code == msgpcode.True:
		b, err := dec.DecodeBool()
		return strconv.AppendBool(out, b), err
	case code == msgpcode.Uint64:
		u, err := dec.DecodeUint64()
		return strconv.AppendUint(out, u, 10), err
	case msgpcode.IsFixedNum(code) || (code >= msgpcode.Uint8 && code <= msgpcode.Int64):
		i, err := dec.DecodeInt64()
		return strconv.AppendInt(out, i, 10), err
	case code == msgpcode.Float:
		f, err := dec.DecodeFloat32()
		return appendFloat(out, float64(f), 32), err
	case code == msgpcode.Double:
		f, err := dec.DecodeFloat64()
		return appendFloat(out, f, 64), err
	case msgpcode.IsString(code):
		s, err := dec.DecodeString()
		if err != nil {
			return nil, err
		}
		return appendJSONString(out, s), nil
	case msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		out = append(out, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				out = append(out, ',')
			}
			if out, err = appendMsgpackValue(out, dec, depth+1); err != nil {
				return nil, err
			}
		}
		return append(out, ']'), nil
	case msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		out = append(out, '{')
		for i := 0; i < n; i++ {
			if i > 0 {
				out = append(out, ',')
			}
			key, err := dec.DecodeString()
			if err != nil {
				return nil, err
			}
			out = append(appendJSONString(out, key), ':')
			if out, err = appendMsgpackValue(out, dec, depth+1); err != nil {
				return nil, err
			}
		}
		return append(out, '}'), nil
	}
	return nil, fmt.Errorf("MessagePack code 0x%02x has no JSON form", code)
}

// appendFloat writes a float so that it reads back as a float: always with
// a '.' or an exponent.
func appendFloat(out []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(out, "null"...) // fsm refuses them; never stored
	}
	start := len(out)
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	out = strconv.AppendFloat(out, f, format, -1, bits)
	if !bytes.ContainsAny(out[start:], ".e") {
		out = append(out, ".0"...)
	}
	return out
}

func appendJSONString(out []byte, s string) []byte {
	b, _ := json.Marshal(s) // a Go string always marshals
	return append(out, b...)
}
