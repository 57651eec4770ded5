package client

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Item is one entry of a list (PROTOCOL.md, "Data model").
type Item struct {
	// Version is the log index that created the item: its id in the whole
	// cluster, and a fencing token (it only grows).
	Version uint64 `msgpack:"version" json:"version"`
	// Modified is the log index of its last update (= Version if never
	// updated).
	Modified uint64 `msgpack:"modified" json:"modified"`
	// Owner is the public id of the session that holds the item.
	Owner string `msgpack:"owner" json:"owner"`
	// Data is the item's value as raw MessagePack; Decode or Value read it.
	Data msgpack.RawMessage `msgpack:"data" json:"-"`
}

// Decode unpacks the item's value into v, as msgpack.Unmarshal does.
func (it Item) Decode(v any) error {
	if len(it.Data) == 0 {
		return nil
	}
	return msgpack.Unmarshal(it.Data, v)
}

// Value is the item's value as plain Go values (nil, bool, numbers, string,
// []any, map[string]any), ready for encoding/json.
func (it Item) Value() (any, error) {
	var v any
	if err := it.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// MarshalJSON renders the item with its value as JSON.
func (it Item) MarshalJSON() ([]byte, error) {
	v, err := it.Value()
	if err != nil {
		return nil, err
	}
	type plain struct {
		Version  uint64 `json:"version"`
		Modified uint64 `json:"modified"`
		Owner    string `json:"owner"`
		Data     any    `json:"data"`
	}
	return json.Marshal(plain{it.Version, it.Modified, it.Owner, v})
}

// Kind says what an Event is.
type Kind string

const (
	KindPush   Kind = "push"
	KindUpdate Kind = "update"
	KindDelete Kind = "delete"
	// KindReset is made by the client, not sent by a node: after a
	// reconnect the node no longer had every event since the last one this
	// watch saw, so it answered with the list as it is now (Items). Treat
	// it as a fresh read of the list.
	KindReset Kind = "reset"
)

// Event is one change to a watched list, in log order.
type Event struct {
	Path string `msgpack:"path" json:"path"`
	// Version is the log index of the change; all deletions of one session
	// end share it.
	Version uint64 `msgpack:"version" json:"version"`
	Kind    Kind   `msgpack:"kind" json:"kind"`
	// Item is the item after the change (for a delete, as it was).
	Item Item `msgpack:"item" json:"item"`
	// Items is the whole list, for KindReset only.
	Items []Item `msgpack:"-" json:"items,omitempty"`
}

// List is a list as read: its items in version order and its version.
type List struct {
	Items []Item `json:"items"`
	// Version is the log index of the list's last change (0: never written).
	Version uint64 `json:"version"`
}

// wireError is the error map of a failed answer.
type wireError struct {
	Code    string `msgpack:"code"`
	Message string `msgpack:"message"`
}

// answer is every field any answer may carry (PROTOCOL.md's table).
type answer struct {
	RID    uint64             `msgpack:"rid"`
	Action string             `msgpack:"action"`
	Type   string             `msgpack:"type"`
	Result msgpack.RawMessage `msgpack:"result"`
	Error  *wireError         `msgpack:"error"`

	Session string `msgpack:"session"`
	Token   string `msgpack:"token"`
	TTLms   uint64 `msgpack:"ttl_ms"`
	Node    string `msgpack:"node"`
	Leader  string `msgpack:"leader"`

	Item    *Item  `msgpack:"item"`
	Items   []Item `msgpack:"items"`
	Version uint64 `msgpack:"version"`
	Reset   bool   `msgpack:"reset"`

	Location  string   `msgpack:"location"`
	Locations []string `msgpack:"locations"`

	// events is the pong's result when it is an array.
	events []Event
	// ok is the result as a bool (true for a pong carrying an array).
	ok bool
}

// parseResult decodes result, which is a bool in every answer but an OK
// pong, where it is the array of events.
func (a *answer) parseResult() error {
	if len(a.Result) == 0 {
		return fmt.Errorf("answer without result")
	}
	dec := msgpack.NewDecoder(bytes.NewReader(a.Result))
	code, err := dec.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case code == 0xc2 || code == 0xc3: // false, true
		a.ok, err = dec.DecodeBool()
		return err
	case code == 0xc0: // nil: treat as false
		a.ok = false
		return nil
	default:
		a.ok = true
		return dec.Decode(&a.events)
	}
}

// request is one message to the node: a map whose keys keep the order they
// were set in, so that connect's action comes first and nothing is sent
// that was not asked for.
type request struct {
	rid    uint64
	keys   []string
	values []any
}

func newRequest(action string) *request {
	r := &request{keys: make([]string, 0, 8), values: make([]any, 0, 8)}
	return r.set("action", action)
}

func (r *request) set(key string, value any) *request {
	r.keys = append(r.keys, key)
	r.values = append(r.values, value)
	return r
}

// get returns the value set for key, if any.
func (r *request) get(key string) (any, bool) {
	for i, k := range r.keys {
		if k == key {
			return r.values[i], true
		}
	}
	return nil, false
}

func (r *request) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeMapLen(len(r.keys) + 1); err != nil {
		return err
	}
	if err := enc.EncodeString("rid"); err != nil {
		return err
	}
	if err := enc.EncodeUint(r.rid); err != nil {
		return err
	}
	for i, k := range r.keys {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := enc.Encode(r.values[i]); err != nil {
			return err
		}
	}
	return nil
}

// encodeData packs a user's value for the wire. A msgpack.RawMessage is
// sent as it is; anything else is encoded by msgpack, with struct fields
// named by their json tags so one type serves both encodings.
func encodeData(v any) (msgpack.RawMessage, error) {
	if raw, ok := v.(msgpack.RawMessage); ok {
		return raw, nil
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	enc.UseCompactFloats(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
