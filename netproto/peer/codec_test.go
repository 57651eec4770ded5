package peer

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/havenproject/haven/fsm"
	"github.com/havenproject/haven/raft"
	"github.com/havenproject/haven/session"
)

// fillAll sets every field reachable from v to a random non-zero value:
// pointers non-nil, slices and maps of one to three elements, bytes and
// strings non-empty. A field the codec forgets comes back zero and the
// round trip fails, whatever field raft or session adds tomorrow.
func fillAll(rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint8:
		v.SetUint(1 + rng.Uint64N(255))
	case reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		// Both small and large values: varints of every length.
		if rng.IntN(2) == 0 {
			v.SetUint(1 + rng.Uint64N(200))
		} else {
			v.SetUint(rng.Uint64() | 1<<63>>uint(rng.IntN(60)))
		}
		if v.Kind() != reflect.Uint64 && v.Kind() != reflect.Uint {
			v.SetUint(1 + rng.Uint64N(1<<15))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1 + rng.Int64N(100))
	case reflect.String:
		v.SetString(randomString(rng))
	case reflect.Slice:
		n := 1 + rng.IntN(3)
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, 1+rng.IntN(300))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			v.SetBytes(b)
			return
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fillAll(rng, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 1+rng.IntN(3); i++ {
			k := reflect.New(v.Type().Key()).Elem()
			fillAll(rng, k)
			e := reflect.New(v.Type().Elem()).Elem()
			fillAll(rng, e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillAll(rng, p.Elem())
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillAll(rng, v.Field(i))
			}
		}
	default:
		panic("fillAll: no filler for kind " + v.Kind().String() + "; teach the test and the codec this field")
	}
}

func randomString(rng *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789-/:é"
	r := []rune(letters)
	b := make([]rune, 1+rng.IntN(20))
	for i := range b {
		b[i] = r[rng.IntN(len(r))]
	}
	return string(b)
}

// TestRoundTripEveryField catches a forgotten field: every field of every
// message kind is set, so every field must come back.
func TestRoundTripEveryField(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		var msgs []session.PeerMessage
		fillAll(rng, reflect.ValueOf(&msgs).Elem())
		got, err := DecodeBatch(EncodeBatch(msgs))
		require.NoError(t, err)
		require.Equal(t, msgs, got)
	}
}

// TestFillAllSetsEveryField makes sure the filler above leaves nothing zero
// (else the test above could pass with a field forgotten).
func TestFillAllSetsEveryField(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var m session.PeerMessage
	fillAll(rng, reflect.ValueOf(&m).Elem())
	var check func(path string, v reflect.Value)
	check = func(path string, v reflect.Value) {
		require.False(t, v.IsZero(), "%s is zero", path)
		switch v.Kind() {
		case reflect.Pointer:
			check(path, v.Elem())
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					check(path+"."+v.Type().Field(i).Name, v.Field(i))
				}
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() != reflect.Uint8 {
				check(path+"[0]", v.Index(0))
			}
		}
	}
	check("PeerMessage", reflect.ValueOf(m))
}

func TestRoundTripKeepsNilApartFromEmpty(t *testing.T) {
	// session: a Forward whose Command is nil is a membership request.
	msgs := []session.PeerMessage{
		{Group: 1, From: 2, To: 3, Forward: &session.Forward{ID: 1}},
		{Group: 1, From: 2, To: 3, Forward: &session.Forward{ID: 2, Command: []byte{}}},
		{Group: 1, From: 2, To: 3, Raft: &raft.Message{Type: raft.MsgHeartbeat, Context: []byte{}}},
		{Group: 1, From: 2, To: 3, Raft: &raft.Message{Type: raft.MsgApp, Entries: []raft.Entry{{Term: 1, Index: 1}}}},
	}
	got, err := DecodeBatch(EncodeBatch(msgs))
	require.NoError(t, err)
	require.Equal(t, msgs, got)
	require.Nil(t, got[0].Forward.Command)
	require.NotNil(t, got[1].Forward.Command)
	require.NotNil(t, got[2].Raft.Context)
	require.Nil(t, got[3].Raft.Entries[0].Data)
}

func TestGroupRoundTrips(t *testing.T) {
	for _, group := range []uint64{0, 1, 7, 1 << 40, ^uint64(0)} {
		msgs := []session.PeerMessage{{Group: group, From: 1, To: 2, Raft: &raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 3}}}
		got, err := DecodeBatch(EncodeBatch(msgs))
		require.NoError(t, err)
		require.Equal(t, group, got[0].Group)
	}
}

func TestEmptyBatch(t *testing.T) {
	got, err := DecodeBatch(nil)
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestLongFieldsMoveTheirLength covers sub-messages whose length needs
// several bytes (the encoder writes a one-byte placeholder, then moves).
func TestLongFieldsMoveTheirLength(t *testing.T) {
	for _, n := range []int{0, 1, 126, 127, 128, 200, 16383, 16384, 1 << 21} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		msgs := []session.PeerMessage{{Group: 1, From: 1, To: 2, Raft: &raft.Message{
			Type: raft.MsgSnap, Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 9, Term: 2, Conf: raft.ConfState{Voters: []raft.NodeID{1, 2, 3}}}, Data: data},
		}}}
		got, err := DecodeBatch(EncodeBatch(msgs))
		require.NoError(t, err)
		require.Equal(t, msgs, got, "n=%d", n)
	}
}

// TestUnknownFieldsAreSkipped: a newer node may send fields this one does
// not know; it reads the rest.
func TestUnknownFieldsAreSkipped(t *testing.T) {
	b := appendKey(nil, 1, wireBytes)
	inner := appendUint(nil, 1, 5)                 // group
	inner = appendUint(inner, 99, 12345)           // unknown varint
	inner = appendRepeatedString(inner, 98, "new") // unknown bytes
	inner = append(appendKey(inner, 97, wireFixed64), 1, 2, 3, 4, 5, 6, 7, 8)
	inner = append(appendKey(inner, 96, wireFixed32), 1, 2, 3, 4)
	inner = appendUint(inner, 2, 3) // from
	b = append(b, byte(len(inner)))
	b = append(b, inner...)
	got, err := DecodeBatch(b)
	require.NoError(t, err)
	require.Equal(t, []session.PeerMessage{{Group: 5, From: 3}}, got)
}

func TestGarbageIsAnError(t *testing.T) {
	good := EncodeBatch([]session.PeerMessage{{Group: 1, From: 1, To: 2, Raft: &raft.Message{Type: raft.MsgApp, Entries: []raft.Entry{{Term: 1, Index: 2, Data: []byte("hello")}}}}})
	for cut := 1; cut < len(good); cut++ {
		_, err := DecodeBatch(good[:cut])
		require.Error(t, err, "cut at %d", cut)
	}
	bad := [][]byte{
		{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},                               // length beyond the input
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // varint overflow
		{0x03},                               // wire type 3
		{0x00},                               // field 0
		{0x0a, 0x02, 0x0a, 0x00},             // group with bytes wire type
		{0x0a, 0x04, 0x22, 0x02, 0x08, 0xff}, // raft type truncated varint
	}
	for i, b := range bad {
		_, err := DecodeBatch(b)
		require.Error(t, err, "case %d", i)
	}
	// A type beyond a byte is refused, not truncated.
	inner := appendUint(nil, 1, 300)
	raftMsg := append(append(appendKey(nil, 4, wireBytes), byte(len(inner))), inner...)
	b := append(append(appendKey(nil, 1, wireBytes), byte(len(raftMsg))), raftMsg...)
	_, err := DecodeBatch(b)
	require.Error(t, err)
}

func TestTooManyMessagesIsAnError(t *testing.T) {
	b := make([]byte, 0, 2*(MaxBatchMessages+1))
	for i := 0; i <= MaxBatchMessages; i++ {
		b = append(b, 0x0a, 0x00)
	}
	_, err := DecodeBatch(b)
	require.ErrorContains(t, err, "messages")
	_, err = DecodeBatch(b[:2*MaxBatchMessages])
	require.NoError(t, err)
}

// Generators for the property test: unlike fillAll, anything may be zero or
// absent.
func genBytes(t *rapid.T, label string) []byte {
	if rapid.Bool().Draw(t, label+"nil") {
		return nil
	}
	return rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, label)
}

func genIDs(t *rapid.T, label string) []raft.NodeID {
	ids := rapid.SliceOfN(rapid.Uint64(), 0, 5).Draw(t, label)
	if len(ids) == 0 {
		return nil
	}
	out := make([]raft.NodeID, len(ids))
	for i, id := range ids {
		out[i] = raft.NodeID(id)
	}
	return out
}

func genStrings(t *rapid.T, label string) []string {
	s := rapid.SliceOfN(rapid.String(), 0, 4).Draw(t, label)
	if len(s) == 0 {
		return nil
	}
	return s
}

func genAddresses(t *rapid.T) map[raft.NodeID]string {
	m := rapid.MapOfN(rapid.Uint64(), rapid.String(), 0, 4).Draw(t, "addresses")
	if len(m) == 0 {
		return nil
	}
	out := make(map[raft.NodeID]string, len(m))
	for id, a := range m {
		out[raft.NodeID(id)] = a
	}
	return out
}

func genRaft(t *rapid.T) *raft.Message {
	m := &raft.Message{
		Type: raft.MessageType(rapid.Uint8().Draw(t, "type")), From: raft.NodeID(rapid.Uint64().Draw(t, "rfrom")),
		To: raft.NodeID(rapid.Uint64().Draw(t, "rto")), Term: rapid.Uint64().Draw(t, "term"),
		LogTerm: rapid.Uint64().Draw(t, "logterm"), Index: rapid.Uint64().Draw(t, "index"),
		Commit: rapid.Uint64().Draw(t, "commit"), Reject: rapid.Bool().Draw(t, "reject"),
		RejectHint: rapid.Uint64().Draw(t, "hint"), Context: genBytes(t, "context"),
		Round: rapid.Uint64().Draw(t, "round"),
	}
	for i := rapid.IntRange(0, 4).Draw(t, "entries"); i > 0; i-- {
		m.Entries = append(m.Entries, raft.Entry{Term: rapid.Uint64().Draw(t, "eterm"), Index: rapid.Uint64().Draw(t, "eindex"),
			Type: raft.EntryType(rapid.Uint8().Draw(t, "etype")), Data: genBytes(t, "edata")})
	}
	if rapid.Bool().Draw(t, "snap") {
		m.Snapshot = &raft.Snapshot{Meta: raft.SnapshotMeta{Index: rapid.Uint64().Draw(t, "sindex"), Term: rapid.Uint64().Draw(t, "sterm"),
			Conf: raft.ConfState{Voters: genIDs(t, "voters"), Learners: genIDs(t, "learners"), Addresses: genAddresses(t)}}, Data: genBytes(t, "sdata")}
	}
	return m
}

func genPeerMessage(t *rapid.T) session.PeerMessage {
	m := session.PeerMessage{Group: rapid.Uint64().Draw(t, "group"), From: raft.NodeID(rapid.Uint64().Draw(t, "from")), To: raft.NodeID(rapid.Uint64().Draw(t, "to"))}
	if rapid.Bool().Draw(t, "hasRaft") {
		m.Raft = genRaft(t)
	}
	if rapid.Bool().Draw(t, "hasForward") {
		m.Forward = &session.Forward{ID: rapid.Uint64().Draw(t, "fid"), Command: genBytes(t, "cmd"),
			Become: session.BecomeKind(rapid.String().Draw(t, "become")), Node: raft.NodeID(rapid.Uint64().Draw(t, "node")), Address: rapid.String().Draw(t, "addr")}
	}
	if rapid.Bool().Draw(t, "hasReply") {
		m.ForwardReply = &session.ForwardReply{ID: rapid.Uint64().Draw(t, "rid"), Index: rapid.Uint64().Draw(t, "ridx"), Term: rapid.Uint64().Draw(t, "rterm"),
			Code: fsm.Code(rapid.String().Draw(t, "code")), Message: rapid.String().Draw(t, "msg")}
	}
	if rapid.Bool().Draw(t, "hasKA") {
		m.KeepAlive = &session.KeepAlive{ID: rapid.Uint64().Draw(t, "kid"), Sessions: genStrings(t, "sessions")}
	}
	if rapid.Bool().Draw(t, "hasAck") {
		m.KeepAliveAck = &session.KeepAliveAck{ID: rapid.Uint64().Draw(t, "aid"), Refused: genStrings(t, "refused")}
	}
	return m
}

func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 6).Draw(t, "n")
		var msgs []session.PeerMessage
		for i := 0; i < n; i++ {
			msgs = append(msgs, genPeerMessage(t))
		}
		enc := EncodeBatch(msgs)
		got, err := DecodeBatch(enc)
		require.NoError(t, err)
		require.Equal(t, msgs, got)
		// Encoding is deterministic: what decodes re-encodes to the same bytes.
		require.Equal(t, enc, EncodeBatch(got))
	})
}

// FuzzDecodeBatch: garbage never panics; whatever decodes re-encodes and
// decodes to the same messages.
func FuzzDecodeBatch(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 8; i++ {
		var msgs []session.PeerMessage
		fillAll(rng, reflect.ValueOf(&msgs).Elem())
		f.Add(EncodeBatch(msgs))
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := DecodeBatch(data)
		if err != nil {
			return
		}
		again, err := DecodeBatch(EncodeBatch(msgs))
		require.NoError(t, err)
		if len(msgs) == 0 {
			require.Empty(t, again)
			return
		}
		require.Equal(t, msgs, again)
	})
}
