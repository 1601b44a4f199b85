package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/privileged"
)

var errNotInstalled = errors.New("not installed")

// probe is a helper that is installed, current and allowed by sudoers;
// each test breaks one thing.
func probe() HelperProbe {
	return HelperProbe{
		Path:          "/usr/libexec/banger/bangerd",
		User:          "alice",
		Source:        "/home/alice/.local/bin/bangerd",
		DaemonVersion: "v2",
		CheckExe:      func(string) error { return nil },
		NotInstalled:  errNotInstalled,
		Version:       func(context.Context, string) (string, error) { return "v2", nil },
		Sudo:          func(context.Context) error { return nil },
		Rule: func(user, path string) (string, error) {
			return "Defaults!" + path + " env_reset\n" + user + " ALL=(root) NOPASSWD: " + path + " priv *", nil
		},
	}
}

const installCmd = "sudo install -d -o root -g root -m 0755 /usr/libexec/banger && sudo install -o root -g root -m 0755 /home/alice/.local/bin/bangerd /usr/libexec/banger/bangerd"

func TestHelperCheck(t *testing.T) {
	cases := []struct {
		name     string
		change   func(p *HelperProbe)
		status   Status
		msg, fix []string
	}{
		{"installed, current and allowed", func(p *HelperProbe) {}, Pass,
			[]string{"/usr/libexec/banger/bangerd (version v2) runs as root through sudo -n"}, nil},
		{"root needs no helper", func(p *HelperProbe) {
			p.Root = true
			p.CheckExe = func(string) error { return errNotInstalled }
		}, Pass, []string{"running as root"}, nil},
		{"not installed", func(p *HelperProbe) {
			p.CheckExe = func(string) error { return fmt.Errorf("%w: no file", errNotInstalled) }
		}, Fail, []string{"no privileged helper at /usr/libexec/banger/bangerd"}, []string{installCmd, "sudo make install-helper"}},
		{"unsafe helper gets no sudoers rule", func(p *HelperProbe) {
			p.CheckExe = func(string) error {
				return errors.New("helper is unsafe for sudo: /usr/libexec is writable by group staff")
			}
		}, Fail, []string{"cannot be trusted with sudo", "writable by group staff"}, []string{installCmd}},
		{"unsafe helper_path elsewhere", func(p *HelperProbe) {
			p.Path = "/home/alice/bin/bangerd"
			p.CheckExe = func(string) error { return errors.New("helper is unsafe for sudo: /home/alice is owned by alice") }
		}, Fail, []string{"cannot be trusted with sudo"}, []string{"set helper_path", installCmd}},
		{"old helper left behind", func(p *HelperProbe) {
			p.Version = func(context.Context, string) (string, error) { return "v1", nil }
		}, Fail, []string{"version v1 but bangerd is v2", "left the old helper behind"}, []string{installCmd}},
		{"no sudoers rule", func(p *HelperProbe) {
			p.Sudo = func(context.Context) error { return errors.New("sudo -n refused") }
		}, Fail, []string{"sudo -n refused"}, []string{"sudo visudo -f /etc/sudoers.d/banger", "\nDefaults!/usr/libexec/banger/bangerd env_reset\nalice ALL=(root) NOPASSWD: /usr/libexec/banger/bangerd priv *"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := probe()
			c.change(&p)
			r := HelperCheck(p).Run(context.Background())
			if r.Status != c.status {
				t.Errorf("status = %s, want %s (%+v)", r.Status, c.status, r)
			}
			for _, w := range c.msg {
				if !strings.Contains(r.Message, w) {
					t.Errorf("message %q does not say %q", r.Message, w)
				}
			}
			for _, w := range c.fix {
				if !strings.Contains(r.Fix, w) {
					t.Errorf("fix %q does not say %q", r.Fix, w)
				}
			}
			if c.name != "no sudoers rule" && strings.Contains(r.Message+r.Fix, "NOPASSWD") {
				t.Errorf("a sudoers rule was offered: %+v", r)
			}
		})
	}
}

// The real pieces: a helper installed root-owned in a root-only directory
// that reports an older version than bangerd, and the same helper in a
// directory a user owns.
func TestHelperCheckRealHelper(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make root-owned directories")
	}
	base, err := os.MkdirTemp("/run", "banger-doctor-")
	if err != nil {
		t.Skip("cannot create a directory under /run:", err)
	}
	defer os.RemoveAll(base)
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(base, "bangerd")
	if err := os.WriteFile(helper, []byte("#!/bin/sh\necho bangerd v1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := HelperProbe{
		Path: helper, User: "alice", Source: "/home/alice/.local/bin/bangerd", DaemonVersion: "v2",
		CheckExe: privileged.CheckExe, NotInstalled: privileged.ErrHelperNotInstalled, Version: privileged.HelperVersion,
		Sudo: func(context.Context) error { return errors.New("sudo must not be reached") },
		Rule: privileged.SudoersRule,
	}
	r := HelperCheck(p).Run(context.Background())
	if r.Status != Fail || !strings.Contains(r.Message, "is version v1 but bangerd is v2") {
		t.Errorf("an old helper = %+v, want the version mismatch", r)
	}

	if err := os.Chown(base, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	r = HelperCheck(p).Run(context.Background())
	if r.Status != Fail || !strings.Contains(r.Message, "is owned by uid 4242, not root") || strings.Contains(r.Fix, "NOPASSWD") {
		t.Errorf("a helper in a user's directory = %+v, want a refusal without a sudoers rule", r)
	}

	p.Path = filepath.Join(base, "missing")
	r = HelperCheck(p).Run(context.Background())
	if r.Status != Fail || !strings.Contains(r.Message, "no privileged helper at") {
		t.Errorf("a missing helper = %+v", r)
	}
}
