// Package apierr gives daemon errors an API code, an HTTP status and an
// optional hint, so they cross the socket deliberately (see the server's
// error mapping) instead of as opaque 500s.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"banger/internal/api"
	"banger/internal/store"
)

// Error is an error with an API code and an optional hint for the user.
type Error struct {
	Code string
	Hint string
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// New wraps err with code and hint.
func New(code string, err error, hint string) error {
	return &Error{Code: code, Err: err, Hint: hint}
}

// Invalid is a bad-input error (HTTP 400).
func Invalid(format string, args ...any) error {
	return &Error{Code: api.CodeInvalid, Err: fmt.Errorf(format, args...)}
}

// Conflict is a state conflict (HTTP 409), with a hint for what to do.
func Conflict(hint, format string, args ...any) error {
	return &Error{Code: api.CodeConflict, Err: fmt.Errorf(format, args...), Hint: hint}
}

// Unavailable is a missing host capability (HTTP 503), with a hint.
func Unavailable(hint, format string, args ...any) error {
	return &Error{Code: api.CodeUnavailable, Err: fmt.Errorf(format, args...), Hint: hint}
}

// ToAPI maps any error to an HTTP status and wire error.
func ToAPI(err error) (int, api.Error) {
	var e *Error
	if errors.As(err, &e) {
		return statusOf(e.Code), api.Error{Code: e.Code, Message: err.Error(), Hint: e.Hint}
	}
	var amb *store.AmbiguousError
	switch {
	case errors.As(err, &amb):
		return http.StatusConflict, api.Error{Code: api.CodeAmbiguous, Message: err.Error(), Hint: "use a longer id prefix or the full name"}
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: err.Error()}
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, api.Error{Code: api.CodeConflict, Message: err.Error()}
	case errors.Is(err, store.ErrNoAddress):
		return http.StatusConflict, api.Error{Code: api.CodeConflict, Message: err.Error(), Hint: "delete unused VMs or widen bridge_cidr"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, api.Error{Code: api.CodeUnavailable, Message: err.Error()}
	}
	return http.StatusInternalServerError, api.Error{Code: api.CodeInternal, Message: err.Error()}
}

func statusOf(code string) int {
	switch code {
	case api.CodeInvalid:
		return http.StatusBadRequest
	case api.CodeNotFound:
		return http.StatusNotFound
	case api.CodeConflict, api.CodeAmbiguous:
		return http.StatusConflict
	case api.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
