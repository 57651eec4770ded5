package fsm

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// busyMachine is a machine with a bit of everything: sessions with and
// without items, updated items, an emptied list, a renewal.
func busyMachine(t testing.TB) *harness {
	h := world(t)
	h.open("carol")
	h.push("carol", "/data/x", map[string]any{"k": []any{1, 2}})
	h.ok(Update{Session: "alice", Path: "/data/x", Item: 3, Data: mp(t, "a1'")})
	h.push("bob", "/data/z/deep", nil)
	h.ok(Delete{Session: "bob", Path: "/data/z/deep", Item: h.index})
	h.ok(RenewAll{Term: 7})
	h.open("dave")
	return h
}

func TestSnapshotRoundTripGivesIdenticalBytes(t *testing.T) {
	h := busyMachine(t)
	snapshot := h.m.Snapshot()
	require.Equal(t, snapshot, h.m.Snapshot(), "the same state gives the same bytes")

	restored := New(Options{MaxItemBytes: 64})
	require.NoError(t, restored.Restore(snapshot))
	require.Equal(t, snapshot, restored.Snapshot())
	require.NoError(t, restored.CheckInvariants())
	require.Equal(t, h.m.Sessions(), restored.Sessions())
	require.Equal(t, h.m.Paths(), restored.Paths())
	for _, path := range h.m.Paths() {
		wantItems, wantVersion := h.m.Read(path)
		gotItems, gotVersion := restored.Read(path)
		require.Equal(t, wantItems, gotItems)
		require.Equal(t, wantVersion, gotVersion)
	}
	require.Equal(t, h.m.AppliedIndex(), restored.AppliedIndex())
	require.Equal(t, h.m.LastRenewal(), restored.LastRenewal())
	require.Equal(t, h.m.LastRenewalTerm(), restored.LastRenewalTerm())
	require.Equal(t, h.m.Stats(), restored.Stats())

	// The restored machine carries on exactly like the original.
	next := Encode(CloseSession{ID: "alice"})
	wantResult, wantEvents := h.m.Apply(h.index+1, next)
	gotResult, gotEvents := restored.Apply(h.index+1, next)
	require.Equal(t, wantResult.Items(), gotResult.Items())
	require.Equal(t, wantResult.Session, gotResult.Session)
	require.Equal(t, wantEvents, gotEvents)
	require.Equal(t, h.m.Snapshot(), restored.Snapshot())
}

func TestRestoreReplacesExistingState(t *testing.T) {
	empty := New(Options{}).Snapshot()
	h := busyMachine(t)
	require.NoError(t, h.m.Restore(empty))
	require.Equal(t, empty, h.m.Snapshot())
	require.Empty(t, h.m.Sessions())
	require.Empty(t, h.m.Paths())
	require.Zero(t, h.m.AppliedIndex())
	require.Equal(t, 64, h.m.MaxItemBytes(), "Options survive a restore")
}

func TestRestoreOfGarbageLeavesTheMachineUnchanged(t *testing.T) {
	h := busyMachine(t)
	snapshot := h.m.Snapshot()
	target := world(t)
	before := target.m.Snapshot()

	refuse := func(name string, garbage []byte) {
		t.Helper()
		err := target.m.Restore(garbage)
		require.ErrorIs(t, err, ErrBadSnapshot, name)
		require.Equal(t, before, target.m.Snapshot(), name)
	}
	refuse("nil", nil)
	refuse("magic only", []byte(snapshotMagic))
	for cut := range len(snapshot) {
		refuse("truncated", snapshot[:cut])
	}
	for position := range snapshot {
		for _, bit := range []byte{0x01, 0x80} {
			flipped := append([]byte{}, snapshot...)
			flipped[position] ^= bit
			refuse("bit flip", flipped)
		}
	}
	refuse("trailing byte", append(append([]byte{}, snapshot...), 0))
}

// snapshotBody writes a snapshot body field by field, sealed with magic and
// checksum, for snapshots that are well-formed bytes but impossible states.
type snapshotBody struct{ buf []byte }

func (b *snapshotBody) u(values ...uint64) *snapshotBody {
	for _, v := range values {
		b.buf = binary.AppendUvarint(b.buf, v)
	}
	return b
}

func (b *snapshotBody) s(text string) *snapshotBody {
	b.buf = appendBytes(b.buf, text)
	return b
}

func (b *snapshotBody) hash(id string) *snapshotBody {
	h := hashOf(id)
	b.buf = append(b.buf, h[:]...)
	return b
}

func (b *snapshotBody) raw(bytes ...byte) *snapshotBody {
	b.buf = append(b.buf, bytes...)
	return b
}

func (b *snapshotBody) seal() []byte {
	out := append([]byte(snapshotMagic), snapshotFormat)
	out = append(out, b.buf...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

func TestRestoreRefusesImpossibleStates(t *testing.T) {
	// body(...) is a valid snapshot with hooks to break one thing at a time:
	// applied 10; sessions a (opened 1) and b (opened 2); list /data/x at
	// version 4 holding a's item 3 and b's item 4.
	type knobs struct {
		applied, renewal, listVersion            uint64
		firstID, secondID, secondToken           string
		secondOpened, item1, item1Modified       uint64
		item2, item2Owner                        uint64
		item2Data                                []byte
		path                                     string
		trailing                                 []byte
		sessionCount, listCount, itemCount, ttlA uint64
	}
	valid := knobs{
		applied: 10, renewal: 0, listVersion: 4,
		firstID: "a", secondID: "b", secondToken: "b",
		secondOpened: 2, item1: 3, item1Modified: 3,
		item2: 4, item2Owner: 1, item2Data: []byte{0xc0},
		path: "/data/x", sessionCount: 2, listCount: 1, itemCount: 2, ttlA: 500,
	}
	build := func(k knobs) []byte {
		b := &snapshotBody{}
		b.u(k.applied, k.renewal, 3, k.sessionCount)
		b.s(k.firstID).hash("a").u(k.ttlA, 1)
		b.s(k.secondID).hash(k.secondToken).u(500, k.secondOpened)
		b.u(k.listCount).s(k.path).u(k.listVersion, k.itemCount)
		b.u(k.item1, k.item1Modified, 0).s("\x01")
		b.u(k.item2, k.item2, k.item2Owner).s(string(k.item2Data))
		b.raw(k.trailing...)
		return b.seal()
	}
	m := New(Options{})
	require.NoError(t, m.Restore(build(valid)))
	require.Equal(t, build(valid), m.Snapshot())

	tests := []struct {
		name   string
		change func(k *knobs)
	}{
		{"renewal after applied", func(k *knobs) { k.renewal = 11 }},
		{"sessions out of order", func(k *knobs) { k.firstID = "c" }},
		{"duplicate session", func(k *knobs) { k.secondID = "a" }},
		{"bad session id", func(k *knobs) { k.secondID = "b/c" }},
		{"shared token", func(k *knobs) { k.secondToken = "a" }},
		{"zero ttl", func(k *knobs) { k.ttlA = 0 }},
		{"session opened after applied", func(k *knobs) { k.secondOpened = 11 }},
		{"item created before its owner", func(k *knobs) { k.secondOpened = 4 }},
		{"item and session from one entry", func(k *knobs) { k.item1 = 2; k.item1Modified = 2; k.item2Owner = 0 }},
		{"list version after applied", func(k *knobs) { k.applied = 3 }},
		{"list version zero", func(k *knobs) { k.listVersion = 0 }},
		{"bad path", func(k *knobs) { k.path = "/data/../x" }},
		{"items out of order", func(k *knobs) { k.item1 = 5; k.item1Modified = 5; k.listVersion = 5 }},
		{"modified before version", func(k *knobs) { k.item1Modified = 2 }},
		{"modified after the list version", func(k *knobs) { k.item1Modified = 5 }},
		{"owner out of range", func(k *knobs) { k.item2Owner = 2 }},
		{"malformed data", func(k *knobs) { k.item2Data = []byte{0xc1} }},
		{"no data", func(k *knobs) { k.item2Data = nil }},
		{"trailing bytes", func(k *knobs) { k.trailing = []byte{0} }},
		{"more sessions than bytes", func(k *knobs) { k.sessionCount = 1 << 40 }},
		{"more lists than written", func(k *knobs) { k.listCount = 2 }},
		{"more items than bytes", func(k *knobs) { k.itemCount = 1 << 40 }},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			k := valid
			test.change(&k)
			before := m.Snapshot()
			err := m.Restore(build(k))
			require.ErrorIs(t, err, ErrBadSnapshot)
			require.Equal(t, before, m.Snapshot())
		})
	}
}

// drawLog draws a log of commands, using a model to aim at live sessions
// and items, and returns the encoded entries with their indexes.
func drawLog(t *rapid.T) (indexes []uint64, entries [][]byte) {
	md := newModel(modelMaxItemBytes)
	var index uint64
	for range rapid.IntRange(0, 150).Draw(t, "length") {
		index += rapid.Uint64Range(1, 3).Draw(t, "index step")
		cmd := drawCommand(t, md, index)
		md.apply(index, cmd)
		indexes = append(indexes, index)
		entries = append(entries, Encode(cmd))
	}
	return indexes, entries
}

func TestSameLogSameSnapshot(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		indexes, entries := drawLog(t)
		split := rapid.IntRange(0, len(entries)).Draw(t, "restore at")

		// Two machines apply the whole log (Go randomizes map order, so
		// any dependence on it shows here); a third restores the second's
		// snapshot halfway and applies the rest.
		first := New(Options{MaxItemBytes: modelMaxItemBytes})
		second := New(Options{MaxItemBytes: modelMaxItemBytes})
		third := New(Options{MaxItemBytes: modelMaxItemBytes})
		for i, entry := range entries {
			if i == split {
				require.NoError(t, third.Restore(second.Snapshot()))
			}
			wantResult, wantEvents := first.Apply(indexes[i], entry)
			gotResult, gotEvents := second.Apply(indexes[i], entry)
			require.Equal(t, wantResult.Code, gotResult.Code)
			require.Equal(t, wantResult.Items(), gotResult.Items())
			require.Equal(t, wantEvents, gotEvents)
			if i >= split {
				thirdResult, thirdEvents := third.Apply(indexes[i], entry)
				require.Equal(t, wantResult.Code, thirdResult.Code)
				require.Equal(t, wantEvents, thirdEvents)
			}
		}
		if split == len(entries) {
			require.NoError(t, third.Restore(second.Snapshot()))
		}
		require.Equal(t, first.Snapshot(), second.Snapshot())
		require.Equal(t, first.Snapshot(), third.Snapshot())
	})
}

func FuzzRestore(f *testing.F) {
	// Seeds are snapshot bodies, without header and checksum: the fuzz
	// function tries each input both as it is and sealed with a right
	// checksum, so the fuzzer can reach the checks behind the checksum.
	header := len(snapshotMagic) + 1
	for _, snapshot := range [][]byte{New(Options{}).Snapshot(), busyMachine(f).m.Snapshot()} {
		f.Add(snapshot[header : len(snapshot)-4])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, candidate := range [][]byte{data, (&snapshotBody{buf: data}).seal()} {
			m := New(Options{})
			if err := m.Restore(candidate); err != nil {
				require.ErrorIs(t, err, ErrBadSnapshot)
				require.Equal(t, New(Options{}).Snapshot(), m.Snapshot())
				continue
			}
			require.NoError(t, m.CheckInvariants())
			require.Equal(t, candidate, m.Snapshot(), "a snapshot that restores is canonical")
		}
	})
}
