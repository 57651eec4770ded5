package fsm

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// everyCommand holds one command of each kind, with and without optional
// fields, for round trips.
func everyCommand() []Command {
	return []Command{
		Noop{},
		OpenSession{ID: "s-1", TokenHash: hashOf("s-1"), TTLms: 5000},
		OpenSession{ID: "", TTLms: 0},
		CloseSession{ID: "s-1"},
		CloseSession{ID: "s-1", Expired: true},
		Push{Session: "s-1", Path: "/data/a", Data: []byte{0xc0}},
		Push{Session: "s-1", Path: "/data/a", Data: []byte{0xa1, 'x'}, IfVersion: u64(0)},
		Push{Session: "s", Path: "/data/b", Data: bytes.Repeat([]byte{0x01}, 300), IfVersion: u64(1 << 63)},
		Update{Session: "s-1", Path: "/data/a", Item: 7, Data: []byte{0x01}},
		Update{Session: "s-1", Path: "/data/a", Item: 1 << 40, Data: []byte{0x02}, IfVersion: u64(9)},
		Delete{Session: "s-1", Path: "/data/a", Item: 7},
		Delete{Session: "s-1", Path: "/data/a", Item: 7, IfVersion: u64(8)},
		RenewAll{Term: 0},
		RenewAll{Term: 12345678901},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, cmd := range everyCommand() {
		encoded := Encode(cmd)
		decoded, err := Decode(encoded)
		require.NoError(t, err, "%#v", cmd)
		require.Equal(t, cmd, decoded)
		// One encoding per command.
		require.Equal(t, encoded, Encode(decoded))
		// Pointers encode like values.
		require.Equal(t, encoded, Encode(pointerTo(cmd)))
	}
}

func pointerTo(cmd Command) Command {
	switch c := cmd.(type) {
	case Noop:
		return &c
	case OpenSession:
		return &c
	case CloseSession:
		return &c
	case Push:
		return &c
	case Update:
		return &c
	case Delete:
		return &c
	case RenewAll:
		return &c
	}
	panic("unknown command")
}

func TestDecodeSharesNoMemory(t *testing.T) {
	encoded := Encode(Push{Session: "s", Path: "/data/a", Data: []byte{0xa1, 'x'}})
	decoded, err := Decode(encoded)
	require.NoError(t, err)
	for i := range encoded {
		encoded[i] = 0
	}
	require.Equal(t, Push{Session: "s", Path: "/data/a", Data: []byte{0xa1, 'x'}}, decoded)
}

func TestDecodeEmptyIsNoop(t *testing.T) {
	cmd, err := Decode(nil)
	require.NoError(t, err)
	require.Equal(t, Noop{}, cmd)
}

func TestDecodeRefuses(t *testing.T) {
	push := Encode(Push{Session: "s", Path: "/data/a", Data: []byte{0xc0}, IfVersion: u64(3)})
	tests := []struct {
		name string
		data []byte
		code Code
	}{
		{"unknown format", []byte{2, byte(kindNoop)}, Unsupported},
		{"unknown kind", []byte{commandFormat, 99}, Unsupported},
		{"kind zero", []byte{commandFormat, 0}, Unsupported},
		{"no kind", []byte{commandFormat}, InvalidParameter},
		{"trailing byte", append(Encode(Noop{}), 0), InvalidParameter},
		{"truncated push", push[:len(push)-1], InvalidParameter},
		{"push without if_version flag", push[:len(push)-2], InvalidParameter},
		{"bad flag", []byte{commandFormat, byte(kindCloseSession), 1, 's', 2}, InvalidParameter},
		{"length past the end", []byte{commandFormat, byte(kindCloseSession), 9, 's', 0}, InvalidParameter},
		{"non-minimal varint", []byte{commandFormat, byte(kindRenewAll), 0x80, 0x00}, InvalidParameter},
		{"overflowing varint", append([]byte{commandFormat, byte(kindRenewAll)}, bytes.Repeat([]byte{0xff}, 11)...), InvalidParameter},
		{"truncated token hash", []byte{commandFormat, byte(kindOpenSession), 1, 's', 1, 2, 3}, InvalidParameter},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			cmd, err := Decode(test.data)
			require.Error(t, err)
			require.Nil(t, cmd)
			require.Equal(t, test.code, CodeOf(err), err.Error())
		})
	}
}

func TestEncodePanicsOnForeignCommand(t *testing.T) {
	require.Panics(t, func() { Encode(nil) })
	var nilPush *Push
	require.Panics(t, func() { Encode(nilPush) })
}

func FuzzDecodeCommand(f *testing.F) {
	for _, cmd := range everyCommand() {
		f.Add(Encode(cmd))
	}
	f.Add([]byte{commandFormat, byte(kindPush), 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := Decode(data)
		// Apply must be total as well: whatever the bytes, a result, and a
		// consistent machine afterwards.
		h := newHarness(t, Options{})
		h.open("s")
		h.push("s", "/data/a", 1)
		result, _ := h.m.Apply(h.index+1, data)
		require.True(t, result.Code.Valid())
		require.NoError(t, h.m.CheckInvariants())
		if err != nil {
			require.Nil(t, cmd)
			code := CodeOf(err)
			require.True(t, code == InvalidParameter || code == Unsupported, code)
			require.Equal(t, code, result.Code)
			return
		}
		if len(data) == 0 {
			require.Equal(t, Noop{}, cmd)
			return
		}
		// Anything that decodes is the one encoding of its command.
		require.Equal(t, data, Encode(cmd))
	})
}
