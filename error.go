package roomhub

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status; nothing else decides
// statuses, so an error keeps its meaning from the store to the client.
const (
	EINVALID      = "invalid"      // 400: bad input; Field names it
	EUNAUTHORIZED = "unauthorized" // 401
	EFORBIDDEN    = "forbidden"    // 403: the session does not own the object
	ENOTFOUND     = "not_found"    // 404
	ECONFLICT     = "conflict"     // 409: e.g. room full
	ERATELIMIT    = "rate_limited" // 429
	EUNAVAILABLE  = "unavailable"  // 503: a dependency (store, bus) failed
	EINTERNAL     = "internal"     // 500: a bug; the message is never shown
)

// Error is an application error with a code, a message safe to show to the
// user, and for EINVALID the field at fault.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error // the cause, for the log only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted user-facing message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error for field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps err, the failure of a dependency, as EUNAVAILABLE.
func Unavailable(what string, err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: what + " is temporarily unavailable", Err: err}
}

// ErrorCode returns the code of err, EINTERNAL for errors that carry none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err; errors without a code
// get a generic message so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "An internal error occurred."
}

// ErrorField returns the input field at fault, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
