package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/daemon/apierr"
)

// TestStartThatNeverReachesSSHPointsAtLogs: the VM stays (stopped), so
// its boot logs do too, and the error's hint names `banger vm logs`.
func TestStartThatNeverReachesSSHPointsAtLogs(t *testing.T) {
	t.Setenv("BANGER_SSH_TIMEOUT", "600ms")
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()
	td.create(t, "mute")
	if _, err := td.StopVM(ctx, "mute", api.StopRequest{TimeoutSeconds: 1}, nil); err != nil {
		t.Fatal(err)
	}
	td.opts.SSHReady = func(context.Context, string) bool { return false }
	_, err := td.StartVM(ctx, "mute", nil)
	var ae *apierr.Error
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "did not answer ssh") || !strings.Contains(ae.Hint, "banger vm logs mute") {
		t.Fatalf("want an ssh timeout with a hint at vm logs, got %v (%+v)", err, ae)
	}
	if _, status := apierr.ToAPI(err); status.Hint == "" {
		t.Errorf("hint lost on the wire: %+v", status)
	}
	td.DeleteVM(ctx, "mute", true)
}
