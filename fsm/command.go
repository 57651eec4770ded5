package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Command is one change to the machine, carried in the Data of one Raft log
// entry. It is a closed set: the types in this file are the only commands,
// passed by value (a pointer to one is accepted by Encode too).
//
// Commands are built by the session layer from client requests after it has
// checked what only it can check (credentials, ttl clamping); the machine
// checks everything else again when it applies them, because an entry may be
// applied long after it was proposed, when sessions and lists have changed.
type Command interface {
	kind() commandKind
}

// Noop changes nothing. A leader may propose one as a barrier: once it is
// applied, everything before it has been applied too. An entry with empty
// Data (such as the entry a new leader appends, Raft §8) is applied as a
// Noop as well.
type Noop struct{}

// OpenSession creates a session.
type OpenSession struct {
	// ID is the session's public id, shown as the owner of its items. It
	// follows the rules of a path segment: 1–128 bytes of [A-Za-z0-9._~-].
	ID string
	// TokenHash is the SHA-256 of the session's secret token. The machine
	// keeps only the hash, so a snapshot or a log does not reveal tokens.
	TokenHash [32]byte
	// TTLms is the session's time to live in milliseconds, already clamped
	// by the session layer; it must be positive.
	TTLms uint64
}

// CloseSession ends a session and removes all of its items in this one
// entry: every removed item yields a delete event whose version is this
// entry's index.
type CloseSession struct {
	ID string
	// Expired says the session ended because it was not heard from for its
	// ttl, rather than by an explicit close. The state change is the same;
	// the flag is reported back in Result.Expired for the session layer.
	Expired bool
}

// Push creates an item at the end of the list at Path, owned by Session.
type Push struct {
	Session string
	Path    string
	// Data is the item's value as raw MessagePack bytes (see ValidateData).
	Data []byte
	// IfVersion, when set, makes the push happen only if the list's version
	// still equals it.
	IfVersion *uint64
}

// Update replaces the data of the item whose version is Item.
type Update struct {
	Session   string
	Path      string
	Item      uint64
	Data      []byte
	IfVersion *uint64
}

// Delete removes the item whose version is Item.
type Delete struct {
	Session   string
	Path      string
	Item      uint64
	IfVersion *uint64
}

// RenewAll says that the leader of Term has taken over and granted every
// session a fresh full ttl (PROTOCOL.md, "Sessions": no session is expired
// because the cluster itself was unavailable). Liveness is tracked by the
// session layer with the clocks it is given; the machine records the index
// and term of the latest renewal so every node agrees on when it happened.
type RenewAll struct {
	Term uint64
}

// commandKind is the tag byte that says which command an entry holds.
type commandKind byte

const (
	kindNoop         commandKind = 1
	kindOpenSession  commandKind = 2
	kindCloseSession commandKind = 3
	kindPush         commandKind = 4
	kindUpdate       commandKind = 5
	kindDelete       commandKind = 6
	kindRenewAll     commandKind = 7
)

func (Noop) kind() commandKind         { return kindNoop }
func (OpenSession) kind() commandKind  { return kindOpenSession }
func (CloseSession) kind() commandKind { return kindCloseSession }
func (Push) kind() commandKind         { return kindPush }
func (Update) kind() commandKind       { return kindUpdate }
func (Delete) kind() commandKind       { return kindDelete }
func (RenewAll) kind() commandKind     { return kindRenewAll }

// commandFormat is the first byte of every encoded command. A machine
// refuses (Unsupported) a format it does not know rather than guess.
const commandFormat = 1

// Encoding, chosen to be simple to check by hand and impossible to read two
// ways:
//
//	byte 0   format (1)
//	byte 1   kind
//	fields, in the order the kind's struct declares them:
//	  string, []byte  uvarint length, then the bytes
//	  uint64          uvarint
//	  bool            one byte, 0 or 1
//	  *uint64         one byte 0 (nil) or 1 followed by a uvarint
//	  [32]byte        32 bytes
//
// Every uvarint is minimal, flags are 0 or 1, and nothing may follow the
// last field, so non-empty bytes that decode at all are the only encoding of
// their command: Encode(Decode(b)) == b. Decoding checks the encoding only;
// whether the fields make sense (a valid path, a live session) is for Apply
// to judge, against the state at the time the entry is applied.

// Encode renders cmd for the Data of a log entry. cmd must be one of this
// package's command types (a value or a non-nil pointer); anything else is
// a programming error and panics.
func Encode(cmd Command) []byte {
	return AppendEncode(nil, cmd)
}

// AppendEncode is Encode appending to dst, for callers that reuse buffers.
func AppendEncode(dst []byte, cmd Command) []byte {
	dst = append(dst, commandFormat)
	switch c := value(cmd).(type) {
	case Noop:
		return append(dst, byte(kindNoop))
	case OpenSession:
		return appendOpenSession(dst, &c)
	case CloseSession:
		return appendCloseSession(dst, &c)
	case Push:
		return appendPush(dst, &c)
	case Update:
		return appendUpdate(dst, &c)
	case Delete:
		return appendDelete(dst, &c)
	case RenewAll:
		dst = append(dst, byte(kindRenewAll))
		return binary.AppendUvarint(dst, c.Term)
	}
	panic(fmt.Sprintf("fsm: Encode of %T, which is not a command of this package", cmd))
}

// value turns a pointer to a command into the command; a nil pointer is a
// programming error.
func value(cmd Command) Command {
	var isNil bool
	switch c := cmd.(type) {
	case *Noop:
		if isNil = c == nil; !isNil {
			return *c
		}
	case *OpenSession:
		if isNil = c == nil; !isNil {
			return *c
		}
	case *CloseSession:
		if isNil = c == nil; !isNil {
			return *c
		}
	case *Push:
		if isNil = c == nil; !isNil {
			return *c
		}
	case *Update:
		if isNil = c == nil; !isNil {
			return *c
		}
	case *Delete:
		if isNil = c == nil; !isNil {
			return *c
		}
	case *RenewAll:
		if isNil = c == nil; !isNil {
			return *c
		}
	}
	if isNil {
		panic(fmt.Sprintf("fsm: Encode of a nil %T", cmd))
	}
	return cmd
}

func appendOpenSession(dst []byte, c *OpenSession) []byte {
	dst = append(dst, byte(kindOpenSession))
	dst = appendBytes(dst, c.ID)
	dst = append(dst, c.TokenHash[:]...)
	return binary.AppendUvarint(dst, c.TTLms)
}

func appendCloseSession(dst []byte, c *CloseSession) []byte {
	dst = append(dst, byte(kindCloseSession))
	dst = appendBytes(dst, c.ID)
	return appendBool(dst, c.Expired)
}

func appendPush(dst []byte, c *Push) []byte {
	dst = append(dst, byte(kindPush))
	dst = appendBytes(dst, c.Session)
	dst = appendBytes(dst, c.Path)
	dst = appendBytes(dst, c.Data)
	return appendOptional(dst, c.IfVersion)
}

func appendUpdate(dst []byte, c *Update) []byte {
	dst = append(dst, byte(kindUpdate))
	dst = appendBytes(dst, c.Session)
	dst = appendBytes(dst, c.Path)
	dst = binary.AppendUvarint(dst, c.Item)
	dst = appendBytes(dst, c.Data)
	return appendOptional(dst, c.IfVersion)
}

func appendDelete(dst []byte, c *Delete) []byte {
	dst = append(dst, byte(kindDelete))
	dst = appendBytes(dst, c.Session)
	dst = appendBytes(dst, c.Path)
	dst = binary.AppendUvarint(dst, c.Item)
	return appendOptional(dst, c.IfVersion)
}

func appendBytes[T string | []byte](dst []byte, b T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendOptional(dst []byte, v *uint64) []byte {
	if v == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	return binary.AppendUvarint(dst, *v)
}

// Decode reads a command encoded by Encode. Bytes that are not such an
// encoding give an *Error: Unsupported for a format or kind this version
// does not know, InvalidParameter for anything else. It never panics. The
// command it returns shares no memory with data. Empty data decodes as
// Noop, as Apply treats it.
func Decode(data []byte) (Command, error) {
	raw, err := decodeRaw(data)
	if err != nil {
		return nil, err
	}
	return raw.command(), nil
}

// rawCommand is a decoded command whose strings and bytes still point into
// the log entry. Apply works on it directly, so that looking up a session or
// a list costs no copy; only what the machine keeps is copied.
type rawCommand struct {
	kind         commandKind
	session      []byte // OpenSession.ID, CloseSession.ID, and the writer of Push/Update/Delete
	path         []byte
	data         []byte
	item         uint64
	ifVersion    uint64
	hasIfVersion bool
	tokenHash    [32]byte
	ttlMs        uint64
	expired      bool
	term         uint64
}

// command copies a rawCommand out into the public type.
func (raw *rawCommand) command() Command {
	var ifVersion *uint64
	if raw.hasIfVersion {
		v := raw.ifVersion
		ifVersion = &v
	}
	switch raw.kind {
	case kindOpenSession:
		return OpenSession{ID: string(raw.session), TokenHash: raw.tokenHash, TTLms: raw.ttlMs}
	case kindCloseSession:
		return CloseSession{ID: string(raw.session), Expired: raw.expired}
	case kindPush:
		return Push{Session: string(raw.session), Path: string(raw.path), Data: bytes.Clone(raw.data), IfVersion: ifVersion}
	case kindUpdate:
		return Update{Session: string(raw.session), Path: string(raw.path), Item: raw.item, Data: bytes.Clone(raw.data), IfVersion: ifVersion}
	case kindDelete:
		return Delete{Session: string(raw.session), Path: string(raw.path), Item: raw.item, IfVersion: ifVersion}
	case kindRenewAll:
		return RenewAll{Term: raw.term}
	default:
		return Noop{}
	}
}

// decodeRaw parses data without copying it.
func decodeRaw(data []byte) (rawCommand, error) {
	if len(data) == 0 {
		return rawCommand{kind: kindNoop}, nil
	}
	if data[0] != commandFormat {
		return rawCommand{}, Errorf(Unsupported, "command format %d is unknown (this version reads format %d)", data[0], commandFormat)
	}
	if len(data) < 2 {
		return rawCommand{}, Errorf(InvalidParameter, "command is truncated: no kind byte")
	}
	raw := rawCommand{kind: commandKind(data[1])}
	r := commandReader{rest: data[2:]}
	switch raw.kind {
	case kindNoop:
	case kindOpenSession:
		raw.session = r.bytes("id")
		raw.tokenHash = r.hash("token_hash")
		raw.ttlMs = r.uvarint("ttl_ms")
	case kindCloseSession:
		raw.session = r.bytes("id")
		raw.expired = r.flag("expired")
	case kindPush:
		raw.session = r.bytes("session")
		raw.path = r.bytes("path")
		raw.data = r.bytes("data")
		raw.ifVersion, raw.hasIfVersion = r.optional("if_version")
	case kindUpdate:
		raw.session = r.bytes("session")
		raw.path = r.bytes("path")
		raw.item = r.uvarint("item")
		raw.data = r.bytes("data")
		raw.ifVersion, raw.hasIfVersion = r.optional("if_version")
	case kindDelete:
		raw.session = r.bytes("session")
		raw.path = r.bytes("path")
		raw.item = r.uvarint("item")
		raw.ifVersion, raw.hasIfVersion = r.optional("if_version")
	case kindRenewAll:
		raw.term = r.uvarint("term")
	default:
		return rawCommand{}, Errorf(Unsupported, "command kind %d is unknown", data[1])
	}
	if r.err != nil {
		return rawCommand{}, Errorf(InvalidParameter, "decode %s command: %w", raw.kind, r.err)
	}
	if len(r.rest) != 0 {
		return rawCommand{}, Errorf(InvalidParameter, "decode %s command: %d bytes after the last field", raw.kind, len(r.rest))
	}
	return raw, nil
}

func (k commandKind) String() string {
	switch k {
	case kindNoop:
		return "noop"
	case kindOpenSession:
		return "open-session"
	case kindCloseSession:
		return "close-session"
	case kindPush:
		return "push"
	case kindUpdate:
		return "update"
	case kindDelete:
		return "delete"
	case kindRenewAll:
		return "renew-all"
	}
	return fmt.Sprintf("kind-%d", byte(k))
}

// commandReader consumes fields from the front of rest. The first failure
// sticks in err and every later read returns a zero value, so a decoder
// reads like the layout it decodes and checks once at the end.
type commandReader struct {
	rest []byte
	err  error
}

func (r *commandReader) failf(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *commandReader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.rest)
	if n <= 0 {
		r.failf("%s: truncated or overflowing varint", field)
		return 0
	}
	// Minimal encodings only, so that every command has one encoding.
	if n != uvarintLen(v) {
		r.failf("%s: varint is not minimally encoded", field)
		return 0
	}
	r.rest = r.rest[n:]
	return v
}

func (r *commandReader) bytes(field string) []byte {
	n := r.uvarint(field)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.rest)) {
		r.failf("%s: length %d but only %d bytes remain", field, n, len(r.rest))
		return nil
	}
	// The capacity is cut at the field's end so that nobody appending to it
	// can overwrite the next field.
	out := r.rest[:n:n]
	r.rest = r.rest[n:]
	return out
}

func (r *commandReader) flag(field string) bool {
	if r.err != nil {
		return false
	}
	if len(r.rest) == 0 {
		r.failf("%s: truncated", field)
		return false
	}
	b := r.rest[0]
	if b > 1 {
		r.failf("%s: flag byte %d is neither 0 nor 1", field, b)
		return false
	}
	r.rest = r.rest[1:]
	return b == 1
}

func (r *commandReader) optional(field string) (uint64, bool) {
	if !r.flag(field) {
		return 0, false
	}
	v := r.uvarint(field)
	return v, r.err == nil
}

func (r *commandReader) hash(field string) [32]byte {
	var h [32]byte
	if r.err != nil {
		return h
	}
	if len(r.rest) < len(h) {
		r.failf("%s: truncated", field)
		return h
	}
	copy(h[:], r.rest)
	r.rest = r.rest[len(h):]
	return h
}

// uvarintLen is how many bytes the minimal uvarint encoding of v takes.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
