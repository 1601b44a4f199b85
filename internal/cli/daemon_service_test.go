package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/systemd"
)

func TestServiceUnitEnvironment(t *testing.T) {
	environ := []string{"HOME=/home/u", "XDG_RUNTIME_DIR=/run/user/0", "XDG_STATE_HOME=/srv/state", "BANGER_VMM=qemu", "BANGER_DAEMON_BIN=/x", "PATH=/usr/bin", "XDG_SESSION_ID=3"}
	user := serviceUnit("/opt/banger/bangerd", serviceTarget{dir: "/d"}, environ)
	if strings.Join(user.Env, " ") != "XDG_STATE_HOME=/srv/state BANGER_VMM=qemu" || user.RuntimeDirUID != "" {
		t.Errorf("user unit env %q, runtime uid %q", user.Env, user.RuntimeDirUID)
	}
	sys := serviceUnit("/opt/banger/bangerd", serviceTarget{system: true, dir: "/d"}, environ)
	if !contains(sys.Env, "HOME=/home/u") || !contains(sys.Env, "XDG_RUNTIME_DIR=/run/user/0") || sys.RuntimeDirUID != "0" {
		t.Errorf("system unit env %q, runtime uid %q", sys.Env, sys.RuntimeDirUID)
	}
	text := systemd.Render(sys)
	for _, want := range []string{"ExecStart=/opt/banger/bangerd\n", `Environment="HOME=/home/u"`, "KillMode=process", "Restart=on-failure", "WantedBy=multi-user.target", "Requires=user-runtime-dir@0.service"} {
		if !strings.Contains(text, want) {
			t.Errorf("system unit lacks %q:\n%s", want, text)
		}
	}
	if text := systemd.Render(user); !strings.Contains(text, "WantedBy=default.target") || strings.Contains(text, "multi-user") {
		t.Errorf("user unit:\n%s", text)
	}
}

// TestServiceUnitVerifies checks rendered units with systemd-analyze
// verify, where it is installed.
func TestServiceUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "my bangerd 100%")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	for _, system := range []bool{false, true} {
		u := serviceUnit(bin, serviceTarget{system: system, dir: dir}, []string{"HOME=/root", "XDG_STATE_HOME=/tmp/a b", `BANGER_X=quote" and \ back`})
		path := filepath.Join(dir, systemd.UnitName)
		if err := os.WriteFile(path, []byte(systemd.Render(u)), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, "systemd-analyze", "verify", path).CombinedOutput()
		cancel()
		// verify also reports unrelated units on some hosts; only lines
		// about this unit count.
		var mine []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, systemd.UnitName) {
				mine = append(mine, l)
			}
		}
		if len(mine) > 0 || (err != nil && len(out) == 0) {
			t.Errorf("systemd-analyze verify (system=%v): %v\n%s\n%s", system, err, out, systemd.Render(u))
		}
	}
}
