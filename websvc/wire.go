package websvc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// The Vera wire format (PROTOCOL.md, "Vera protocol"): one JSON object per
// WebSocket message. A request has `rid` and `action`; every answer echoes
// the `rid` and has `code`, and `message` when the code is not OK.

// request is one decoded client message: the session request it maps to,
// and the rid to echo.
type request struct {
	rid    json.RawMessage
	action string
	req    session.Request
}

// requestError is a request refused before it reaches the node.
type requestError struct {
	rid  json.RawMessage
	code fsm.Code
	msg  string
}

func (e *requestError) Error() string { return string(e.code) + ": " + e.msg }

var actions = map[string]session.Op{
	"get": session.OpRead, "push": session.OpCreate, "update": session.OpUpdate,
	"delete": session.OpDelete, "watch": session.OpWatch, "unwatch": session.OpUnwatch,
	"ping": session.OpPing, "close": session.OpClose,
}

// decodeRequest parses one client message. It never panics on any input
// (FuzzDecodeRequest holds it to that); a message it cannot take is a
// *requestError carrying the code to answer with and, when it could be
// read, the rid to echo.
func decodeRequest(msg []byte) (*request, error) {
	if !utf8.Valid(msg) {
		// JSON is UTF-8 (RFC 8259, §8.1), and so is a WebSocket text
		// frame: Go's decoder would put U+FFFD in its place and store
		// data the client never sent, and the answer would echo bytes
		// a browser refuses.
		return nil, &requestError{code: fsm.InvalidParameter, msg: "a request must be one JSON object, in UTF-8"}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(msg, &fields); err != nil || fields == nil {
		return nil, &requestError{code: fsm.InvalidParameter, msg: "a request must be one JSON object"}
	}
	out := &request{}
	if rid, ok := fields["rid"]; ok {
		rid = bytes.TrimSpace(rid)
		// PROTOCOL.md: rid is a string chosen by the client. A number is
		// echoed as it came too; anything else cannot be echoed usefully.
		if len(rid) == 0 || rid[0] == '{' || rid[0] == '[' {
			return nil, &requestError{code: fsm.InvalidParameter, msg: "rid must be a string"}
		}
		out.rid = rid
	}
	fail := func(code fsm.Code, format string, args ...any) (*request, error) {
		return nil, &requestError{rid: out.rid, code: code, msg: fmt.Sprintf(format, args...)}
	}
	if err := unmarshalField(fields, "action", &out.action); err != nil {
		return fail(fsm.InvalidParameter, "%v", err)
	}
	if out.action == "" {
		return fail(fsm.InvalidParameter, "the request has no action")
	}
	op, known := actions[out.action]
	if !known {
		return fail(fsm.Unsupported, "unknown action %q", out.action)
	}
	r := &out.req
	r.Op = op
	if op != session.OpPing && op != session.OpClose {
		if err := unmarshalField(fields, "path", &r.Path); err != nil {
			return fail(fsm.InvalidParameter, "%v", err)
		}
		if err := fsm.ValidatePath(r.Path); err != nil {
			return fail(fsm.InvalidParameter, "%v", err)
		}
	}
	switch op {
	case session.OpRead:
		var consistency string
		if err := unmarshalField(fields, "consistency", &consistency); err != nil {
			return fail(fsm.InvalidParameter, "%v", err)
		}
		stale, err := parseConsistency(consistency)
		if err != nil {
			return fail(fsm.InvalidParameter, "%v", err)
		}
		r.Stale = stale
	case session.OpCreate, session.OpUpdate:
		data, ok := fields["data"]
		if !ok {
			// The contract's table marks only what is optional with ?:
			// an item that is only a marker sends "data": null.
			return fail(fsm.InvalidParameter, "%s needs data (null is a value)", out.action)
		}
		packed, err := jsonToMsgpack(data)
		if err != nil {
			return fail(fsm.InvalidParameter, "%v", err)
		}
		r.Data = packed
	}
	if op == session.OpUpdate || op == session.OpDelete {
		if err := unmarshalField(fields, "item", &r.Item); err != nil {
			return fail(fsm.InvalidParameter, "item: %v", err)
		}
		if r.Item == 0 {
			return fail(fsm.InvalidParameter, "%s needs the item's version in item", out.action)
		}
	}
	if op == session.OpCreate || op == session.OpUpdate || op == session.OpDelete {
		if raw, ok := fields["if_version"]; ok && string(raw) != "null" {
			var v uint64
			if err := json.Unmarshal(raw, &v); err != nil {
				return fail(fsm.InvalidParameter, "if_version must be a list version (a non-negative integer)")
			}
			r.IfVersion = &v
		}
	}
	if op == session.OpWatch {
		if raw, ok := fields["since"]; ok && string(raw) != "null" {
			var v uint64
			if err := json.Unmarshal(raw, &v); err != nil {
				return fail(fsm.InvalidParameter, "since must be a version (a non-negative integer)")
			}
			r.Since = &v
		}
	}
	return out, nil
}

func unmarshalField(fields map[string]json.RawMessage, name string, into any) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%s has the wrong type", name)
	}
	return nil
}

func parseConsistency(s string) (stale bool, err error) {
	switch s {
	case "", "linearizable":
		return false, nil
	case "stale":
		return true, nil
	}
	return false, fmt.Errorf("consistency must be \"stale\" or absent, not %q", s)
}

// itemJSON is an item on the wire (PROTOCOL.md, "Data model").
type itemJSON struct {
	Version  uint64          `json:"version"`
	Modified uint64          `json:"modified"`
	Owner    string          `json:"owner"`
	Data     json.RawMessage `json:"data"`
}

func toItemJSON(it fsm.Item) itemJSON {
	data, err := msgpackToJSON([]byte(it.Data))
	if err != nil {
		// fsm validated the data when it was written; this cannot happen
		// unless the store is damaged, and then null says less than a lie.
		data = []byte("null")
	}
	return itemJSON{Version: it.Version, Modified: it.Modified, Owner: it.Owner, Data: data}
}

func toItemsJSON(items []fsm.Item) []itemJSON {
	out := make([]itemJSON, len(items))
	for i, it := range items {
		out[i] = toItemJSON(it)
	}
	return out
}

// answer is every answer's shape; fields an action does not have are left
// out (the pointers and omitempty).
type answer struct {
	RID     json.RawMessage `json:"rid"`
	Code    fsm.Code        `json:"code"`
	Message string          `json:"message,omitempty"`
	Item    *itemJSON       `json:"item,omitempty"`
	Items   *[]itemJSON     `json:"items,omitempty"`
	Version *uint64         `json:"version,omitempty"`
	Reset   bool            `json:"reset,omitempty"`
}

// noRID is echoed when the request had none (or could not be read).
var noRID = json.RawMessage(`""`)

func encodeError(rid json.RawMessage, code fsm.Code, msg string) []byte {
	if rid == nil {
		rid = noRID
	}
	b, _ := json.Marshal(answer{RID: rid, Code: code, Message: msg})
	return b
}

// encodeReply renders the node's reply to the client's request.
func encodeReply(rid json.RawMessage, r *session.Reply) []byte {
	if rid == nil {
		rid = noRID
	}
	a := answer{RID: rid, Code: r.Code}
	if r.Code != fsm.OK {
		a.Message = r.Message
		if a.Message == "" {
			a.Message = string(r.Code)
		}
		b, _ := json.Marshal(a)
		return b
	}
	switch r.Op {
	case session.OpRead, session.OpCreate, session.OpUpdate, session.OpDelete, session.OpWatch:
		items := toItemsJSON(r.Items)
		a.Items, a.Version = &items, &r.Version
	}
	if (r.Op == session.OpCreate || r.Op == session.OpUpdate) && r.Item != nil {
		it := toItemJSON(*r.Item)
		a.Item = &it
	}
	if r.Op == session.OpWatch {
		a.Reset = r.Reset
	}
	b, _ := json.Marshal(a)
	return b
}

type notifyJSON struct {
	Action  string   `json:"action"`
	Path    string   `json:"path"`
	Version uint64   `json:"version"`
	Kind    string   `json:"kind"`
	Item    itemJSON `json:"item"`
}

func encodeNotify(ev *fsm.Event) []byte {
	b, _ := json.Marshal(notifyJSON{
		Action: "notify", Path: ev.Path, Version: ev.Version, Kind: string(ev.Kind), Item: toItemJSON(ev.Item),
	})
	return b
}

type helloJSON struct {
	Action  string `json:"action"`
	Session string `json:"session"`
	TTLms   uint64 `json:"ttl_ms"`
	Node    string `json:"node"`
	Leader  string `json:"leader"`
	Resumed bool   `json:"resumed"`
}

// nodeName spells a node id as everywhere in Haven's JSON: n1, n2, ...
func nodeName(id raft.NodeID) string {
	if id == raft.None {
		return ""
	}
	return "n" + strconv.FormatUint(uint64(id), 10)
}
