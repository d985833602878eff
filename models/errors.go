package models

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code is the machine-readable kind of an error; it is the "code" field of every error response.
type Code string

// The error codes of the HTTP contract.
const (
	CodeValidation       Code = "validation_error"
	CodeUnauthorized     Code = "unauthorized"
	CodeForbidden        Code = "forbidden"
	CodeNotFound         Code = "not_found"
	CodeMethodNotAllowed Code = "method_not_allowed"
	CodeRequestTimeout   Code = "request_timeout"
	CodeConflict         Code = "conflict"
	CodePayloadTooLarge  Code = "payload_too_large"
	CodeUnsupportedMedia Code = "unsupported_media_type"
	CodeHeaderTooLarge   Code = "request_header_fields_too_large"
	CodeRateLimited      Code = "rate_limited"
	CodeUnavailable      Code = "unavailable"
	CodeInternal         Code = "internal"
)

// Error is the one error type that crosses layers. Message is safe to show to a client; Err is
// the cause, for logs only.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, when set, becomes the Retry-After header (rate limits, overload).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a dependency failure: the client sees a 503 naming the dependency, the logs
// see the cause.
func Unavailable(dependency string, cause error) *Error {
	return &Error{Code: CodeUnavailable, Message: dependency + " unavailable", RetryAfter: time.Second, Err: cause}
}

// ErrorCode returns the code of err, CodeInternal for errors that are not *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// PublicMessage is the text a client sees for err: the code's prefix and the message
// ("conflict: email already exists"), or just "internal error" for anything unexpected.
func PublicMessage(err error) string {
	var e *Error
	if !errors.As(err, &e) || e.Code == CodeInternal || e.Message == "" {
		return "internal error"
	}
	return strings.ReplaceAll(string(e.Code), "_", " ") + ": " + e.Message
}

// ErrorMessage returns the client-safe message of err, or "" for errors that are not *Error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}
