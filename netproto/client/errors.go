package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/havenproject/haven/fsm"
)

// Error is a failure answered by a Haven node, or one the client reports in
// the contract's terms (PROTOCOL.md, "Response codes"). Find it with
// errors.As, or ask CodeOf for the code alone:
//
//	var herr *client.Error
//	if errors.As(err, &herr) && herr.Code == fsm.Conflict { ... }
type Error struct {
	// Code is one of the contract's codes, spelled as on the wire.
	Code fsm.Code
	// Message explains the failure, as the node (or the client) put it.
	Message string
	// Op is the request that failed: "connect", "read", "create", ...
	Op string
	// Node is the address of the node that answered, when one did.
	Node string

	// cause is the local error behind a code the client chose itself (a
	// context that ran out, a lost connection), for errors.Is.
	cause error
}

// Unwrap gives the local cause, if any (context.DeadlineExceeded, ...).
func (e *Error) Unwrap() error { return e.cause }

func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	return msg
}

// Is makes errors.Is(err, client.ErrConflict) and the like match on the
// code alone.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code && t.Message == "" && t.Op == ""
}

// Sentinels for errors.Is; each matches any *Error with its code.
var (
	ErrInvalidParameter = &Error{Code: fsm.InvalidParameter}
	ErrInternalError    = &Error{Code: fsm.InternalError}
	ErrUnavailable      = &Error{Code: fsm.Unavailable}
	ErrConflict         = &Error{Code: fsm.Conflict}
	ErrNotFound         = &Error{Code: fsm.NotFound}
	ErrForbidden        = &Error{Code: fsm.Forbidden}
	ErrSessionExpired   = &Error{Code: fsm.SessionExpired}
	ErrTooLarge         = &Error{Code: fsm.TooLarge}
	ErrUnsupported      = &Error{Code: fsm.Unsupported}
)

// ErrClosed is returned by calls on a client after Close.
var ErrClosed = errors.New("haven client: closed")

// CodeOf gives the contract code of err: OK for nil, the code of the first
// *Error in its chain, Unavailable for a context that ran out (the cluster did
// not answer in time) and InternalError for anything else.
func CodeOf(err error) fsm.Code {
	if err == nil {
		return fsm.OK
	}
	var herr *Error
	if errors.As(err, &herr) {
		return herr.Code
	}
	var ferr *fsm.Error
	if errors.As(err, &ferr) {
		return ferr.Code
	}
	if errors.Is(err, ErrClosed) {
		return fsm.SessionExpired
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fsm.Unavailable
	}
	return fsm.InternalError
}

func errorf(code fsm.Code, op, format string, args ...any) *Error {
	return &Error{Code: code, Op: op, Message: fmt.Sprintf(format, args...)}
}

// removedNodeSays is how a node that a member told it was removed from the
// cluster begins its Unavailable answers (session.Core's noticeRemoval).
// The contract has no code for it: the words are the only sign, and a
// node that says them says nothing else until it is added back.
const removedNodeSays = "this node was removed from the cluster"

// isRemovedNode reports whether err is a removed node's answer.
func isRemovedNode(err error) bool {
	var herr *Error
	return errors.As(err, &herr) && herr.Code == fsm.Unavailable && strings.HasPrefix(herr.Message, removedNodeSays)
}
