package kv

import (
	"slices"
	"testing"
	"time"

	"github.com/havenproject/haven/raft"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestPutEncoding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := kvPut{
			op:     rapid.Uint64().Draw(t, "op"),
			client: rapid.IntRange(0, 1000).Draw(t, "client"),
			key:    rapid.String().Draw(t, "key"),
			value:  rapid.String().Draw(t, "value"),
		}
		got, err := decodePut(encodePut(p))
		if err != nil || got != p {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", p, got, err)
		}
	})
	for _, bad := range [][]byte{nil, {}, {'X'}, {kvPutTag}, {kvPutTag, 1, 2, 200}} {
		_, err := decodePut(bad)
		require.Error(t, err, "%v", bad)
	}
}

// TestKVSnapshotRoundTrip: a snapshot restores the same state, and the
// digest depends on the state, not on the order it was built in.
func TestKVSnapshotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type put struct{ key, value string }
		puts := rapid.SliceOf(rapid.Custom(func(t *rapid.T) put {
			return put{rapid.StringMatching(`k[0-9]`).Draw(t, "key"), rapid.String().Draw(t, "value")}
		})).Draw(t, "puts")
		a := newKVState()
		for i, p := range puts {
			a.apply(uint64(i+1), encodePut(kvPut{key: p.key, value: p.value}))
		}
		b, err := restoreKVState(a.snapshot())
		if err != nil {
			t.Fatal(err)
		}
		if a.digest != b.digest || len(a.cells) != len(b.cells) || !slices.Equal(a.keys, b.keys) {
			t.Fatalf("restored state differs")
		}
		for k, c := range a.cells {
			if b.cells[k] != c {
				t.Fatalf("key %q: %+v, want %+v", k, b.cells[k], c)
			}
		}
		// The same final cells built in another order digest the same.
		c := newKVState()
		keys := b.keys
		for i := len(keys) - 1; i >= 0; i-- {
			c.set(keys[i], b.cells[keys[i]])
		}
		if c.digest != a.digest {
			t.Fatalf("digest depends on insertion order")
		}
	})
	s := newKVState()
	s.apply(1, encodePut(kvPut{key: "a", value: "1"}))
	before := s.digest
	s.apply(2, encodePut(kvPut{key: "a", value: "1"}))
	require.NotEqual(t, before, s.digest, "the version is part of the state")
	_, err := restoreKVState([]byte{5, 1})
	require.Error(t, err)
	_, err = restoreKVState(append(s.snapshot(), 0))
	require.Error(t, err, "trailing bytes")
	// Two cells, b (version 3) before a (version 2): not in key order.
	_, err = restoreKVState([]byte{2, 1, 'b', 1, '2', 3, 1, 'a', 1, '1', 2})
	require.Error(t, err, "keys out of order")
	_, err = restoreKVState([]byte{2, 1, 'a', 1, '2', 3, 1, 'a', 1, '1', 2})
	require.Error(t, err, "a key twice")
	_, err = restoreKVState([]byte{2, 1, 'a', 1, '2', 3, 1, 'b', 1, '1', 2})
	require.NoError(t, err)
}

// fakeHost records what a service asks of its node.
type fakeHost struct {
	leader   raft.NodeID
	proposed [][]byte
	reads    [][]byte
	replies  []kvReply
	refuse   bool
}

func (h *fakeHost) ID() raft.NodeID { return 1 }
func (h *fakeHost) Propose(data []byte) (uint64, uint64, error) {
	if h.refuse {
		return 0, 0, raft.ErrNotLeader
	}
	h.proposed = append(h.proposed, data)
	return uint64(len(h.proposed)), 7, nil
}
func (h *fakeHost) ReadIndex(ctx []byte) error {
	if h.refuse {
		return raft.ErrNoLeader
	}
	h.reads = append(h.reads, ctx)
	return nil
}
func (h *fakeHost) Leader() raft.NodeID         { return h.leader }
func (h *fakeHost) Incarnation() uint32         { return 3 }
func (h *fakeHost) Reply(client int, reply any) { h.replies = append(h.replies, reply.(kvReply)) }
func (h *fakeHost) Now() time.Duration          { return 0 }

func TestKVServiceAnswers(t *testing.T) {
	h := &fakeHost{leader: 2}
	s := newKVService(h)
	// A put is answered once its entry is applied with its term...
	s.HandleRequest(0, kvRequest{put: true, key: "x", value: "v1", attempt: 11})
	require.Len(t, h.proposed, 1)
	require.Empty(t, h.replies)
	s.Apply(raft.Entry{Index: 1, Term: 7, Data: h.proposed[0]})
	require.Equal(t, kvReply{status: kvOK, attempt: 11, index: 1, term: 7}, h.replies[0])
	// ...and reported lost if another entry takes its index.
	s.HandleRequest(0, kvRequest{put: true, key: "x", value: "v2", attempt: 12})
	s.Apply(raft.Entry{Index: 2, Term: 8})
	require.Equal(t, kvStatus(kvLost), h.replies[1].status)
	// A read waits for its read index to be applied.
	s.HandleRequest(1, kvRequest{key: "x", attempt: 13})
	require.Len(t, h.reads, 1)
	s.ReadIndexReady(raft.ReadState{Index: 3, Context: h.reads[0]})
	require.Len(t, h.replies, 2, "not applied through 3 yet")
	s.Apply(raft.Entry{Index: 3, Term: 8})
	require.Equal(t, kvReply{status: kvOK, attempt: 13, value: "v1", readIndex: 3}, h.replies[2])
	// Read contexts are unique and carry the incarnation.
	s.HandleRequest(1, kvRequest{key: "x"})
	require.NotEqual(t, string(h.reads[0]), string(h.reads[1]))
	require.Equal(t, []byte{0, 0, 0, 3}, h.reads[1][:4])
	// A node that cannot take a request says where the leader is.
	h.refuse = true
	s.HandleRequest(2, kvRequest{put: true, key: "y", attempt: 14})
	require.Equal(t, kvReply{status: kvNotLeader, attempt: 14, leader: 2}, h.replies[3])
}
