package websvc

import (
	"bytes"
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

// jsonToMsgpack converts one JSON value to MessagePack.
func jsonToMsgpack(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := convertJSONValue(dec, enc, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: more than one JSON value", errBadData)
	}
	return buf.Bytes(), nil
}

func convertJSONValue(dec *json.Decoder, enc *msgpack.Encoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", errBadData, err)
	}
	return convertJSONToken(dec, enc, tok, depth)
}

func convertJSONToken(dec *json.Decoder, enc *msgpack.Encoder, tok json.Token, depth int) error {
	switch v := tok.(type) {
	case nil:
		return enc.EncodeNil()
	case bool:
		return enc.EncodeBool(v)
	case string:
		return enc.EncodeString(v)
	case json.Number:
		return encodeNumber(enc, v)
	case json.Delim:
		if depth >= maxDataDepth {
			return fmt.Errorf("%w: nested deeper than %d", errBadData, maxDataDepth)
		}
		switch v {
		case '[':
			var elems [][]byte
			for dec.More() {
				b, err := convertNested(dec, depth+1)
				if err != nil {
					return err
				}
				elems = append(elems, b)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return fmt.Errorf("%w: %v", errBadData, err)
			}
			if err := enc.EncodeArrayLen(len(elems)); err != nil {
				return err
			}
			return writeAll(enc, elems)
		case '{':
			var pairs [][]byte
			for dec.More() {
				keyTok, err := dec.Token()
				if err != nil {
					return fmt.Errorf("%w: %v", errBadData, err)
				}
				key, _ := keyTok.(string)
				var kb bytes.Buffer
				if err := msgpack.NewEncoder(&kb).EncodeString(key); err != nil {
					return err
				}
				b, err := convertNested(dec, depth+1)
				if err != nil {
					return err
				}
				pairs = append(pairs, kb.Bytes(), b)
			}
			if _, err := dec.Token(); err != nil { // '}'
				return fmt.Errorf("%w: %v", errBadData, err)
			}
			if err := enc.EncodeMapLen(len(pairs) / 2); err != nil {
				return err
			}
			return writeAll(enc, pairs)
		}
	}
	return fmt.Errorf("%w: unexpected %v", errBadData, tok)
}

// convertNested converts one value into its own buffer: a container's
// length must be written before its elements, and JSON does not say it.
func convertNested(dec *json.Decoder, depth int) ([]byte, error) {
	var buf bytes.Buffer
	if err := convertJSONValue(dec, msgpack.NewEncoder(&buf), depth); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeAll(enc *msgpack.Encoder, parts [][]byte) error {
	for _, p := range parts {
		if err := enc.Encode(msgpack.RawMessage(p)); err != nil {
			return err
		}
	}
	return nil
}

func encodeNumber(enc *msgpack.Encoder, n json.Number) error {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return enc.EncodeInt(i)
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return enc.EncodeUint(u)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return fmt.Errorf("%w: number %s does not fit a float64", errBadData, s)
	}
	return enc.EncodeFloat64(f)
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
