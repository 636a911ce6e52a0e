package core

import (
	"errors"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// Code classifies an error for clients; transports map it to a WebSocket
// error frame or an HTTP status.
type Code string

const (
	CodeInvalid      Code = "invalid"         // malformed or out-of-range input
	CodeNotFound     Code = "not_found"       // the caller's own item does not exist
	CodeConflict     Code = "conflict"        // version mismatch (If-Match)
	CodeExists       Code = "exists"          // the thing to create exists already (an address at sign-up)
	CodeTooLarge     Code = "too_large"       // a request body over its limit
	CodeLimit        Code = "limit"           // a per-account limit would be exceeded
	CodeUnavailable  Code = "unavailable"     // no session of the recipient can be reached
	CodeNotAccepted  Code = "not_accepted"    // the recipient's sessions do not take this kind
	CodeRateLimited  Code = "rate_limited"    // too many requests
	CodeUnauthorized Code = "unauthorized"    // missing or bad credentials
	CodeForbidden    Code = "forbidden"       // an app's grant does not cover this (docs/apps.md)
	CodeBusy         Code = "busy"            // server saturated; retry later
	CodeSessionGone  Code = "session_expired" // resume of a session that ended
	CodeInternal     Code = "internal"
)

// Error is a typed error whose message is safe to show to the caller.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is: errors of the same code and message are the same error, so that one
// answered by another node (a room's home, over the bus) is still, say,
// the members-only refusal (IsRoomMembersOnly).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && e != nil && t != nil && *e == *t
}

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err: CodeBusy for a store that cannot be
// reached (store.ErrUnavailable: worth a retry), CodeInternal for other
// untyped errors.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, store.ErrUnavailable) {
		return CodeBusy
	}
	return CodeInternal
}

// errUnavailable is the one answer for every undeliverable message: offline,
// unknown, not approved, blocked, hidden or invisible all look alike.
var errUnavailable = Errorf(CodeUnavailable, "recipient is not available")

var errSessionGone = Errorf(CodeSessionGone, "session ended")
