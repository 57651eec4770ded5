package netproto

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/havenproject/haven/raft"
)

// request is one Haven message as it came off the wire.
type request struct {
	rid         []byte // the raw MessagePack of rid, echoed as is; nil if absent
	action, typ string
	version     string
	hasVersion  bool

	ttlMs   *uint64
	session string
	seen    *uint64

	path        string
	consistency string
	data        []byte
	hasData     bool
	item        uint64
	hasItem     bool
	ifVersion   *uint64
	since       *uint64
	waitMs      uint64

	uuid    string
	node    string
	address string

	// bad is the first field with the wrong type: the request is answered
	// InvalidParameter (after rid is known, so the answer can name it).
	bad error
}

// parseRequest decodes one message. A non-nil error means the message is
// not a well-formed MessagePack map; a field of the wrong type is reported
// in req.bad instead, so the answer can still echo rid.
func parseRequest(msg []byte, req *request) error {
	*req = request{}
	r := byteReader{b: msg}
	n, err := r.mapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		key, err := r.str("a key")
		if err != nil {
			if _, ok := err.(*fieldError); ok {
				req.noteBad(&fieldError{"keys must be strings"})
				if _, err := r.raw(); err != nil {
					return err
				}
				continue
			}
			return err
		}
		if err := req.field(&r, key); err != nil {
			if _, ok := err.(*fieldError); ok {
				req.noteBad(err)
				continue
			}
			return err
		}
	}
	if r.off != len(r.b) {
		return &garbageError{"bytes left over after the message"}
	}
	return nil
}

func (req *request) noteBad(err error) {
	if req.bad == nil {
		req.bad = err
	}
}

func optUint(r *byteReader, field string) (*uint64, error) {
	if c, err := r.peek(); err == nil && c == 0xc0 {
		r.off++ // nil: as if absent
		return nil, nil
	}
	v, err := r.uint(field)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func (req *request) field(r *byteReader, key string) (err error) {
	switch key {
	case "rid":
		req.rid, err = r.raw()
	case "action":
		req.action, err = r.str(key)
	case "type":
		req.typ, err = r.str(key)
	case "version":
		req.hasVersion = true
		// "1" as the contract writes it; the number 1 is accepted too, in
		// whatever width the client's MessagePack library encodes it
		// (Go's vmihailenco writes an int64 in 9 bytes).
		if c, perr := r.peek(); perr == nil && kind(c) == "integer" {
			n, err := r.uint(key)
			if err != nil {
				return err
			}
			req.version = strconv.FormatUint(n, 10)
			return nil
		}
		req.version, err = r.str(key)
	case "ttl_ms":
		req.ttlMs, err = optUint(r, key)
	case "session":
		req.session, err = r.str(key)
	case "seen":
		req.seen, err = optUint(r, key)
	case "path":
		req.path, err = r.str(key)
	case "consistency":
		req.consistency, err = r.str(key)
	case "data":
		req.hasData = true
		req.data, err = r.raw()
	case "item":
		req.hasItem = true
		req.item, err = r.uint(key)
	case "if_version":
		req.ifVersion, err = optUint(r, key)
	case "since":
		req.since, err = optUint(r, key)
	case "wait_ms":
		req.waitMs, err = r.uint(key)
	case "uuid":
		req.uuid, err = r.nodeName(key)
	case "node":
		req.node, err = r.nodeName(key)
	case "address":
		req.address, err = r.str(key)
	default:
		// credentials and fields of later versions: ignored.
		_, err = r.raw()
	}
	return err
}

// nodeName reads a node id given as "n3" or as the number 3.
func (r *byteReader) nodeName(field string) (string, error) {
	if c, err := r.peek(); err == nil && (c <= 0x7f || (c >= 0xcc && c <= 0xcf)) {
		v, err := r.uint(field)
		return FormatNodeID(raft.NodeID(v)), err
	}
	return r.str(field)
}

// FormatNodeID spells a node id as Haven does on the wire and in logs: n1.
func FormatNodeID(id raft.NodeID) string {
	if id == raft.None {
		return ""
	}
	return "n" + strconv.FormatUint(uint64(id), 10)
}

// ParseNodeID reads "n1" (or "1") back into a node id.
func ParseNodeID(s string) (raft.NodeID, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "n"), 10, 64)
	if err != nil || v == 0 {
		return raft.None, fmt.Errorf("node id %q is not of the form n1, n2, ...", s)
	}
	return raft.NodeID(v), nil
}
