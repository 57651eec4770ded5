package fsm

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// harness applies commands to a machine at consecutive indexes.
type harness struct {
	t     testing.TB
	m     *Machine
	index uint64
}

func newHarness(t testing.TB, opts Options) *harness {
	return &harness{t: t, m: New(opts)}
}

func (h *harness) apply(cmd Command) (Result, []Event) {
	h.index++
	return h.m.Apply(h.index, Encode(cmd))
}

// ok applies cmd and requires it to succeed.
func (h *harness) ok(cmd Command) (Result, []Event) {
	h.t.Helper()
	result, events := h.apply(cmd)
	require.Equal(h.t, OK, result.Code, "%T: %s", cmd, result.Message)
	return result, events
}

// open opens a session whose token is "token-"+id.
func (h *harness) open(id string) {
	h.t.Helper()
	h.ok(OpenSession{ID: id, TokenHash: hashOf(id), TTLms: 5000})
}

// push pushes data for session to path and returns the new item's version.
func (h *harness) push(session, path string, data any) uint64 {
	h.t.Helper()
	result, _ := h.ok(Push{Session: session, Path: path, Data: mp(h.t, data)})
	return result.Item.Version
}

func hashOf(id string) [32]byte { return sha256.Sum256([]byte("token-" + id)) }

// helperT is what both *testing.T and *rapid.T offer.
type helperT interface {
	require.TestingT
	Helper()
}

// mp encodes v as MessagePack.
func mp(t helperT, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

func u64(v uint64) *uint64 { return &v }
