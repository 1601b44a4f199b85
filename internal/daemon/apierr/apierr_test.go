package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"banger/internal/api"
	"banger/internal/store"
)

func TestToAPIMapsEveryKind(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		code, hint string
	}{
		{"invalid", Invalid("memory %d MiB is too small", 16), http.StatusBadRequest, api.CodeInvalid, ""},
		{"conflict", Conflict("stop it first", "vm %s is running", "web"), http.StatusConflict, api.CodeConflict, "stop it first"},
		{"unavailable", Unavailable("run `banger doctor`", "no vmm"), http.StatusServiceUnavailable, api.CodeUnavailable, "run `banger doctor`"},
		{"wrapped code", fmt.Errorf("start web: %w", New(api.CodeNotFound, errors.New("kernel missing"), "")), http.StatusNotFound, api.CodeNotFound, ""},
		{"not found", fmt.Errorf("vm %q: %w", "ghost", store.ErrNotFound), http.StatusNotFound, api.CodeNotFound, ""},
		{"ambiguous", &store.AmbiguousError{Ref: "a", Matches: []string{"a1 (1)", "a2 (2)"}}, http.StatusConflict, api.CodeAmbiguous, "use a longer id prefix or the full name"},
		{"name taken", fmt.Errorf("vm web: %w", store.ErrConflict), http.StatusConflict, api.CodeConflict, ""},
		{"no address", store.ErrNoAddress, http.StatusConflict, api.CodeConflict, "delete unused VMs or widen bridge_cidr"},
		{"canceled", fmt.Errorf("wait for ssh: %w", context.DeadlineExceeded), http.StatusGatewayTimeout, api.CodeUnavailable, ""},
		{"anything else", errors.New("disk on fire"), http.StatusInternalServerError, api.CodeInternal, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, e := ToAPI(tc.err)
			if status != tc.status || e.Code != tc.code || e.Hint != tc.hint {
				t.Errorf("ToAPI = %d %+v, want %d code %q hint %q", status, e, tc.status, tc.code, tc.hint)
			}
			if e.Message != tc.err.Error() {
				t.Errorf("message %q, want the whole error %q", e.Message, tc.err.Error())
			}
		})
	}
}

func TestErrorUnwraps(t *testing.T) {
	cause := errors.New("cause")
	err := New(api.CodeInvalid, cause, "hint")
	if !errors.Is(err, cause) || err.Error() != "cause" {
		t.Errorf("New does not wrap its cause: %v", err)
	}
}
