package daemon

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/disk"
	"banger/internal/guestconfig"
	"banger/internal/paths"
)

// guestMode is the mode debugfs reports for path in image, e.g. "0100600".
func guestMode(t *testing.T, image, path string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "stat "+path, image).Output()
	if err != nil {
		t.Fatalf("debugfs stat %s: %v", path, err)
	}
	// "Inode: 12   Type: regular    Mode:  0600   Flags: 0x80000"
	f := strings.Fields(string(out))
	for i, w := range f {
		if w == "Mode:" && i+1 < len(f) {
			return f[i+1]
		}
	}
	t.Fatalf("no mode in debugfs stat output:\n%s", out)
	return ""
}

func hostToken(t *testing.T, dir paths.VMDir) string {
	t.Helper()
	st, err := os.Stat(dir.AgentToken())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("host token mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(dir.AgentToken())
	tok := strings.TrimSpace(string(b))
	if err := guestconfig.ValidateAgentToken(tok); err != nil {
		t.Fatalf("host token %q: %v", tok, err)
	}
	return tok
}

func checkPrivate(t *testing.T, dir paths.VMDir) {
	t.Helper()
	st, err := os.Stat(dir.String())
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("vm dir: %v, mode %v, want 0700", err, st.Mode().Perm())
	}
	st, err = os.Stat(dir.APISocket())
	if err != nil || st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Errorf("api socket: %v, mode %v, want a 0600 socket", err, st.Mode())
	}
}

func TestAgentTokenAndPrivateVMDir(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()
	// The fake VMMs (sleep 3600) must not outlive the test: they would
	// hold an inherited `flock` descriptor for an hour.
	defer func() {
		for _, n := range []string{"calm-otter", "busy-bee"} {
			td.DeleteVM(context.Background(), n, true)
		}
	}()
	vm := td.create(t, "calm-otter")
	dir := td.layout.VM(vm.ID)
	checkPrivate(t, dir)

	// The guest gets the host's token, root-only.
	tok := hostToken(t, dir)
	if got := debugfsCat(t, dir.Overlay(), "/upper"+guestconfig.AgentTokenPath); got != tok+"\n" {
		t.Fatalf("guest token %q, host token %q", got, tok)
	}
	if m := guestMode(t, dir.Overlay(), "/upper"+guestconfig.AgentTokenPath); m != "0600" {
		t.Errorf("guest token mode %s, want 0600", m)
	}
	other := td.create(t, "busy-bee")
	if hostToken(t, td.layout.VM(other.ID)) == tok {
		t.Error("two vms share a token")
	}

	// A guest whose copy changed gets the host's back at the next start.
	if _, err := td.StopVM(ctx, "calm-otter", api.StopRequest{TimeoutSeconds: 5}, nil); err != nil {
		t.Fatal(err)
	}
	wrong, _ := guestconfig.AgentTokenFiles(strings.Repeat("0", 64))
	if err := disk.WriteFiles(ctx, dir.Overlay(), disk.UpperDir, wrong); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir.String(), 0o755) // as banger before this change made it
	if _, err := td.StartVM(ctx, "calm-otter", nil); err != nil {
		t.Fatal(err)
	}
	if got := debugfsCat(t, dir.Overlay(), "/upper"+guestconfig.AgentTokenPath); got != tok+"\n" {
		t.Errorf("after start the guest token is %q, want the host's %q", got, tok)
	}
	checkPrivate(t, dir)

	// A vm created before agent tokens (no host copy) gets one at start.
	if _, err := td.StopVM(ctx, "calm-otter", api.StopRequest{TimeoutSeconds: 5}, nil); err != nil {
		t.Fatal(err)
	}
	os.Remove(dir.AgentToken())
	rec, err := td.store.GetVM(ctx, vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := td.agentFor(&rec); err != nil || c == nil {
		t.Fatalf("agent client of a token-less vm: %v", err)
	}
	if _, err := td.StartVM(ctx, "calm-otter", nil); err != nil {
		t.Fatal(err)
	}
	fresh := hostToken(t, dir)
	if fresh == tok {
		t.Error("the token-less vm got its old token back")
	}
	if got := debugfsCat(t, dir.Overlay(), "/upper"+guestconfig.AgentTokenPath); got != fresh+"\n" {
		t.Errorf("guest token %q, host token %q", got, fresh)
	}

	// A damaged host copy is an error, not an empty token.
	os.WriteFile(dir.AgentToken(), []byte("short\n"), 0o600)
	if _, err := td.agentFor(&rec); err == nil || !strings.Contains(err.Error(), "agent token") {
		t.Errorf("damaged token: %v", err)
	}
}
