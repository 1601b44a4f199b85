package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// execIn runs any program in the env (its environment and namespace).
func (e *env) execIn(t *testing.T, stdin []byte, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := e.command(ctx, path, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{out.String(), errb.String(), code}
}

// TestWorkflowOnQemu: the everyday tools around one VM — OpenSSH config
// and its Include, file copy, console logs and name completion — share a
// single VM to keep the test short.
func TestWorkflowOnQemu(t *testing.T) {
	e := newVMEnv(t)
	e.must("vm", "create", "--name", "e2e-a", "--memory", "768")
	v := e.vm(t, "e2e-a")
	cfg := filepath.Join(e.stateDir(), "ssh", "config")

	t.Run("ssh-config", func(t *testing.T) {
		r := e.must("ssh-config", "e2e-a")
		contains(t, r, "Host e2e-a e2e-a.vm", "HostName "+v.IP, "HostKeyAlias banger-"+v.ID, "StrictHostKeyChecking yes")
		if all := e.must("ssh-config"); !strings.Contains(all.stdout, "Host e2e-a ") {
			t.Errorf("ssh-config without a ref: %s", all)
		}
		if r := e.run("ssh-config", "no-such-vm"); r.code == 0 || !strings.Contains(r.stderr, "no-such-vm") {
			t.Errorf("ssh-config of a missing vm: %s", r)
		}
		for _, host := range []string{"e2e-a", "e2e-a.vm"} {
			if r := e.execIn(t, nil, "ssh", "-F", cfg, "-o", "BatchMode=yes", host, "hostname"); r.code != 0 || strings.TrimSpace(r.stdout) != "e2e-a" {
				t.Errorf("ssh -F %s %s: %s", cfg, host, r)
			}
		}
		local := filepath.Join(e.home, "scp-in.txt")
		os.WriteFile(local, []byte("over scp\n"), 0o644)
		if r := e.execIn(t, nil, "scp", "-F", cfg, "-o", "BatchMode=yes", local, "e2e-a:/root/scp.txt"); r.code != 0 {
			t.Fatalf("scp to the vm: %s", r)
		}
		back := filepath.Join(e.home, "scp-out.txt")
		if r := e.execIn(t, nil, "scp", "-F", cfg, "-o", "BatchMode=yes", "e2e-a:/root/scp.txt", back); r.code != 0 {
			t.Fatalf("scp from the vm: %s", r)
		}
		if b, _ := os.ReadFile(back); string(b) != "over scp\n" {
			t.Errorf("scp round trip: %q", b)
		}
		// Host keys are checked: the same config with an empty known_hosts
		// refuses to connect rather than trusting the key on first use.
		body, _ := os.ReadFile(cfg)
		empty := filepath.Join(e.home, "empty_known_hosts")
		os.WriteFile(empty, nil, 0o600)
		strict := filepath.Join(e.home, "strict-config")
		os.WriteFile(strict, bytes.ReplaceAll(body, []byte(filepath.Join(e.stateDir(), "ssh", "known_hosts")), []byte(empty)), 0o600)
		if r := e.execIn(t, nil, "ssh", "-F", strict, "-o", "BatchMode=yes", "e2e-a", "true"); r.code == 0 {
			t.Errorf("ssh connected with no known host key: %s", r)
		}
	})

	t.Run("ssh-config --install", func(t *testing.T) {
		user := filepath.Join(e.home, ".ssh", "config")
		os.MkdirAll(filepath.Dir(user), 0o700)
		os.WriteFile(user, []byte("Host elsewhere\n  User nobody\n"), 0o644)
		e.must("ssh-config", "--install")
		e.must("ssh-config", "--install")
		b, _ := os.ReadFile(user)
		if n := strings.Count(string(b), "Include "+cfg); n != 1 || strings.Index(string(b), "Include ") > strings.Index(string(b), "Host elsewhere") {
			t.Fatalf("after two installs, ~/.ssh/config:\n%s", b)
		}
		if bak, _ := os.ReadFile(user + ".banger-backup"); string(bak) != "Host elsewhere\n  User nobody\n" {
			t.Errorf("backup: %q", bak)
		}
		// The user's own config now reaches the VM by name.
		if r := e.execIn(t, nil, "ssh", "-F", user, "-o", "BatchMode=yes", "e2e-a", "true"); r.code != 0 {
			t.Errorf("ssh through the Include: %s", r)
		}
		e.must("ssh-config", "--uninstall")
		if b, _ := os.ReadFile(user); strings.Contains(string(b), "Include") || !strings.Contains(string(b), "Host elsewhere") {
			t.Errorf("after uninstall:\n%s", b)
		}
	})

	t.Run("complete", func(t *testing.T) {
		r := e.must("__complete", "vm", "ssh", "")
		if !strings.Contains(r.stdout, "e2e-a") {
			t.Errorf("__complete vm ssh: %s", r)
		}
		if r := e.must("__complete", "vm", "ssh", "e2e-a", ""); strings.Contains(r.stdout, "e2e-a") {
			t.Errorf("vm ssh completed a second ref: %s", r)
		}
		if r := e.must("__complete", "vm", "stop", "e2e-a", ""); strings.Contains(r.stdout, "e2e-a") {
			t.Errorf("vm stop offered a ref already given: %s", r)
		}
		if r := e.must("__complete", "vm", "create", "--image", ""); !strings.Contains(r.stdout, "default") {
			t.Logf("--image completion: %s", r)
		}
	})
}
