// Package apperr is Tripin's one application error type: a code that the
// HTTP layer maps to a status in one table, a message safe to show a client,
// and optional per-field validation messages.
package apperr

import (
	"errors"
	"fmt"
)

// The error codes. HTTP statuses for them live in internal/httpapi.
const (
	EINVALID      = "invalid"      // 422: the request is well-formed but its values are wrong
	EMALFORMED    = "malformed"    // 400: the request cannot be decoded
	EUNAUTHORIZED = "unauthorized" // 401
	EFORBIDDEN    = "forbidden"    // 403
	ENOTFOUND     = "not_found"    // 404
	ECONFLICT     = "conflict"     // 409
	ESOLDOUT      = "sold_out"     // 409: not enough seats left
	ETOOLARGE     = "too_large"    // 413
	ERATELIMITED  = "rate_limited" // 429
	// ETOOMANYPENDING: the customer holds as many unpaid bookings as one
	// may (BOOKING_MAX_PENDING_PER_USER).
	ETOOMANYPENDING = "too_many_pending" // 429
	EINTERNAL       = "internal"         // 500: never shown with its cause
	EUNAVAILABLE    = "unavailable"      // 503
)

// Error is an application error. Message is written for the client; the
// wrapped Err (if any) is for logs only.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a validation error with per-field messages.
func Invalid(fields map[string]string) *Error {
	return &Error{Code: EINVALID, Message: "The given data was invalid.", Fields: fields}
}

// Code returns the code of err's Error, EINTERNAL for any other error and ""
// for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Message returns the client-safe message of err.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "An internal error occurred."
}

// IsNotFound reports whether err carries ENOTFOUND.
func IsNotFound(err error) bool { return Code(err) == ENOTFOUND }
