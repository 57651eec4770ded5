package fsm

import (
	"errors"
	"fmt"
)

// Code is one of the protocol's response codes (PROTOCOL.md, "Response
// codes"). This file is the one place in Haven that defines them: the session
// layer and both client protocols use these constants, so a code has the same
// spelling everywhere it appears on the wire.
type Code string

// The response codes, spelled exactly as on the wire.
const (
	// OK: the request succeeded.
	OK Code = "OK"
	// InvalidParameter: the request is malformed; fix it before retrying.
	InvalidParameter Code = "InvalidParameter"
	// InternalError: something failed inside the server; try again.
	InternalError Code = "InternalError"
	// Unavailable: no leader or no quorum in time; try again, maybe elsewhere.
	Unavailable Code = "Unavailable"
	// Conflict: a test-and-set (if_version) failed, or what the request would
	// create already exists.
	Conflict Code = "Conflict"
	// NotFound: no such item.
	NotFound Code = "NotFound"
	// Forbidden: not the item's owner, or bad credentials.
	Forbidden Code = "Forbidden"
	// SessionExpired: the session has ended (closed or expired) or never
	// existed.
	SessionExpired Code = "SessionExpired"
	// TooLarge: an item's data or a message exceeds its limit.
	TooLarge Code = "TooLarge"
	// Unsupported: unknown protocol version, action or command kind.
	Unsupported Code = "Unsupported"
)

// Codes lists every response code, in the order PROTOCOL.md names them. It
// returns a fresh slice each time, so no caller can change what another sees.
func Codes() []Code {
	return []Code{OK, InvalidParameter, InternalError, Unavailable, Conflict,
		NotFound, Forbidden, SessionExpired, TooLarge, Unsupported}
}

// Valid reports whether c is one of the protocol's codes.
func (c Code) Valid() bool {
	switch c {
	case OK, InvalidParameter, InternalError, Unavailable, Conflict,
		NotFound, Forbidden, SessionExpired, TooLarge, Unsupported:
		return true
	}
	return false
}

// Error is a failure that carries its protocol code, so that whoever answers
// the client knows which code to send without parsing messages.
type Error struct {
	Code    Code
	Message string

	// cause is what the message was built from when Errorf was given %w; it
	// keeps errors.Is and errors.As working through an *Error.
	cause error
}

// Error renders "Code: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap gives the error wrapped with %w in Errorf, if any.
func (e *Error) Unwrap() error { return e.cause }

// Errorf builds an *Error with code and a message formatted as fmt.Errorf
// would; a %w verb keeps the wrapped error reachable through errors.Is/As.
func Errorf(code Code, format string, args ...any) *Error {
	formatted := fmt.Errorf(format, args...)
	e := &Error{Code: code, Message: formatted.Error()}
	if errors.Unwrap(formatted) != nil {
		e.cause = errors.Unwrap(formatted)
	} else if multi, ok := formatted.(interface{ Unwrap() []error }); ok {
		e.cause = errors.Join(multi.Unwrap()...)
	}
	return e
}

// CodeOf says which code answers err: OK for nil, the code of the first
// *Error in err's chain, and InternalError for anything else (an error that
// carries no code is, by definition, one the server did not expect).
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var coded *Error
	if errors.As(err, &coded) && coded.Code != "" {
		return coded.Code
	}
	return InternalError
}
