package e2e

import (
	"banger/internal/testenv"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstalledBinariesWorkWithoutCheckout runs `make install` into a
// temporary prefix, puts a runtime bundle where it installs one, and checks
// that the installed binaries find it with no checkout and no
// BANGER_RUNTIME_DIR.
func TestInstalledBinariesWorkWithoutCheckout(t *testing.T) {
	bundle := os.Getenv("BANGER_TEST_BUNDLE")
	_, err := exec.LookPath("make")
	testenv.RequireOrSkip(t, "make and BANGER_TEST_BUNDLE", err == nil && bundle != "")
	prefix := t.TempDir()
	cmd := exec.Command("make", "install", "PREFIX="+prefix)
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"bin/banger", "bin/bangerd", "lib/banger/banger-vsock-agent"} {
		if _, err := os.Stat(filepath.Join(prefix, f)); err != nil {
			t.Fatalf("make install did not install %s: %v", f, err)
		}
	}
	lib := filepath.Join(prefix, "lib", "banger")
	if out, err := exec.Command("cp", "-a", "--reflink=auto", "--sparse=always", bundle+"/.", lib+"/").CombinedOutput(); err != nil {
		t.Fatalf("copy bundle: %v\n%s", err, out)
	}

	e := newEnv(t)
	var env []string
	for _, kv := range e.environ() {
		if !strings.HasPrefix(kv, "BANGER_RUNTIME_DIR=") && !strings.HasPrefix(kv, "BANGER_DAEMON_BIN=") {
			env = append(env, kv)
		}
	}
	run := func(args ...string) []byte {
		t.Helper()
		c := e.command(context.Background(), filepath.Join(prefix, "bin", "banger"), args...)
		c.Env, c.Dir = env, t.TempDir() // not the checkout
		out, err := c.Output()
		if err != nil {
			t.Fatalf("installed banger %v: %v\n%s", args, err, out)
		}
		return out
	}
	var results []struct{ Name, Status, Message string }
	c := e.command(context.Background(), filepath.Join(prefix, "bin", "banger"), "doctor", "--json")
	c.Env = env
	out, _ := c.Output() // doctor may fail on other checks; read the bundle one
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	for _, r := range results {
		if r.Name == "runtime bundle" && (r.Status != "pass" || !strings.Contains(r.Message, lib) || !strings.Contains(r.Message, "installed")) {
			t.Errorf("installed bundle not found: %+v", r)
		}
	}
	var images []struct{ Name, Rootfs string }
	if err := json.Unmarshal(run("image", "list", "--json"), &images); err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 || images[0].Name != "default" || !strings.HasPrefix(images[0].Rootfs, lib) {
		t.Errorf("the installed daemon did not register the installed bundle: %+v", images)
	}
	st := run("daemon", "status", "--json")
	if !strings.Contains(string(st), lib) {
		t.Errorf("daemon status does not name the installed bundle:\n%s", st)
	}
	run("daemon", "stop")
}
