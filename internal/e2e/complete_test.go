package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionNeverStartsTheDaemon: a TAB with no bangerd running
// offers nothing and starts nothing; with one running, image names come
// from it. (VM names are checked on a real VM in TestWorkflowOnQemu.)
func TestCompletionNeverStartsTheDaemon(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{{"__complete", "vm", "ssh", ""}, {"__complete", "image", "show", ""}, {"__complete", "vm", "create", "--image", ""}} {
		r := e.must(args...)
		if strings.TrimSpace(strings.SplitN(r.stdout, ":", 2)[0]) != "" {
			t.Errorf("%v offered %q with no daemon", args, r.stdout)
		}
	}
	if pid := e.daemonPID(); pid != 0 {
		t.Fatalf("a TAB started bangerd (pid %d)", pid)
	}

	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs.ext4")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", rootfs, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	e.must("image", "register", "--name", "tab-image", "--rootfs", rootfs, "--init", "systemd")
	for _, args := range [][]string{{"__complete", "image", "show", ""}, {"__complete", "vm", "create", "--image", ""}} {
		if r := e.must(args...); !strings.Contains(r.stdout, "tab-image") {
			t.Errorf("%v: %s", args, r)
		}
	}
	if r := e.must("__complete", "image", "show", "tab-image", ""); strings.Contains(r.stdout, "tab-image") {
		t.Errorf("image show completed a second ref: %s", r)
	}
	os.Remove(rootfs)
}
