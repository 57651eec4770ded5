package fsm

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCodesAreSpelledAsInProtocol(t *testing.T) {
	want := []string{"OK", "InvalidParameter", "InternalError", "Unavailable", "Conflict",
		"NotFound", "Forbidden", "SessionExpired", "TooLarge", "Unsupported"}
	got := []string{}
	for _, code := range Codes() {
		require.True(t, code.Valid(), code)
		got = append(got, string(code))
	}
	require.Equal(t, want, got)
	require.False(t, Code("Ok").Valid())
	require.False(t, Code("").Valid())
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"nil is OK", nil, OK},
		{"coded error", Errorf(NotFound, "no item %d", 7), NotFound},
		{"wrapped coded error", fmt.Errorf("apply: %w", Errorf(Forbidden, "not yours")), Forbidden},
		{"plain error", errors.New("disk on fire"), InternalError},
		{"coded error without code", &Error{Message: "?"}, InternalError},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			require.Equal(t, test.want, CodeOf(test.err))
		})
	}
}

func TestErrorfFormatsAndWraps(t *testing.T) {
	err := Errorf(Conflict, "list %s at %d: %w", "/data/a", 3, io.ErrUnexpectedEOF)
	require.Equal(t, Conflict, err.Code)
	require.Equal(t, "list /data/a at 3: unexpected EOF", err.Message)
	require.Equal(t, "Conflict: list /data/a at 3: unexpected EOF", err.Error())
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)

	plain := Errorf(TooLarge, "too big")
	require.NoError(t, plain.Unwrap())
	require.Equal(t, "TooLarge: too big", plain.Error())
	require.Equal(t, "NotFound", (&Error{Code: NotFound}).Error())
}
