// Package awserr holds the typed errors that carry AWS error codes.
//
// The core returns *Error for every refusal a client should see; the API edge
// maps it to the wire (EC2's <Response><Errors> envelope or the Query
// <ErrorResponse> form) and nowhere else is an AWS code spelled out as a
// response. Any other error reaching the edge is an internal fault.
package awserr

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an AWS API error: a code such as "InvalidVpcID.NotFound", a human
// message, and the HTTP status AWS answers it with.
type Error struct {
	Code    string
	Message string
	// Status is the HTTP status; zero means 400.
	Status int
	// Server marks faults of the service rather than the caller (the Query
	// protocol's <Type>Receiver</Type>).
	Server bool
	// Param names the parameter a MissingParameter error is about.
	Param string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// HTTPStatus is the status the error is answered with.
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// New returns an error with code and a formatted message, answered with 400.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithStatus returns an error answered with the given HTTP status.
func WithStatus(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// As reports whether err is (or wraps) an *Error, and returns it.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// HasCode reports whether err is an *Error with the given code.
func HasCode(err error, code string) bool {
	e, ok := As(err)
	return ok && e.Code == code
}

// Common errors shared by every service.

// MissingParameter reports a required parameter that was not given.
func MissingParameter(name string) *Error {
	e := New("MissingParameter", "The request must contain the parameter %s", name)
	e.Param = name
	return e
}

// InvalidParameterValue reports a parameter whose value is not acceptable.
func InvalidParameterValue(format string, args ...any) *Error {
	return New("InvalidParameterValue", format, args...)
}

// InvalidParameterCombination reports parameters that cannot go together.
func InvalidParameterCombination(format string, args ...any) *Error {
	return New("InvalidParameterCombination", format, args...)
}

// DryRunOperation is EC2's answer to a DryRun request that would have
// succeeded.
func DryRunOperation() *Error {
	return WithStatus(http.StatusPreconditionFailed, "DryRunOperation",
		"Request would have succeeded, but DryRun flag is set.")
}

// Internal is the answer to a fault inside the service. Its message never
// carries the underlying Go error.
func Internal() *Error {
	return &Error{Code: "InternalError", Message: "An internal error has occurred", Status: http.StatusInternalServerError, Server: true}
}
