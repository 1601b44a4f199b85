package imagebuild

import (
	"slices"
	"testing"
)

func TestApplyInstalled(t *testing.T) {
	recorded := []string{"docker.io 20.10", "jq 1.6-2.1", "mise 2026.9.15", "opencode 1.18.33", "tmux-resurrect v4.0.0", "curl 7.88"}
	dpkg := "jq 1.6-2.1+deb12u1 installed\ndocker.io 20.10 config-files\nzsh 5.9 installed\n"
	got := applyInstalled(recorded, dpkg)
	want := []string{"jq 1.6-2.1+deb12u1", "mise 2026.9.15", "opencode 1.18.33", "tmux-resurrect v4.0.0"}
	if !slices.Equal(got, want) {
		t.Errorf("applyInstalled = %q, want %q", got, want)
	}
}

func TestNotSaved(t *testing.T) {
	for p, want := range map[string]bool{
		"/etc/hostname": true, "/etc/machine-id": true, "/etc/ssh/ssh_host_rsa_key": true, "/etc/banger/agent-token": true,
		"/root": true, "/tmp/x": true, "/tmp": false, "/var/log/journal/abc": true, "/var/log/journal": false,
		"/var/lib/systemd/random-seed": true, "/etc/banger-saved": false, "/usr/bin/jq": false, "/var/lib/docker/x": true,
	} {
		if got := notSaved(p); got != want {
			t.Errorf("notSaved(%s) = %v, want %v", p, got, want)
		}
	}
}
