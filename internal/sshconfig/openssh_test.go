package sshconfig

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sshG asks OpenSSH itself how it reads a config for host (ssh -G parses
// and prints the options without connecting).
func sshG(t *testing.T, config, host string) map[string]string {
	t.Helper()
	out, err := exec.Command("ssh", "-G", "-F", config, host).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh -G -F %s %s: %v\n%s", config, host, err, out)
	}
	opts := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, " ")
		if _, seen := opts[k]; !seen {
			opts[k] = v
		}
	}
	return opts
}

func TestOpenSSHReadsTheConfigAndTheInclude(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("ssh not installed")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state dir")
	os.MkdirAll(state, 0o700)
	cfg := filepath.Join(state, "config")
	key := filepath.Join(state, "id_ed25519")
	body := Render([]Entry{{Name: "calm-otter", Address: "172.16.0.2", HostKeyAlias: "banger-abc"}, {Name: "web", Address: "172.16.0.3", HostKeyAlias: "banger-def"}},
		Options{IdentityFile: key, KnownHosts: filepath.Join(state, "known_hosts")})
	if err := WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"calm-otter", "calm-otter.vm"} {
		o := sshG(t, cfg, host)
		want := map[string]string{"hostname": "172.16.0.2", "user": "root", "identityfile": key, "identitiesonly": "yes",
			"hostkeyalias": "banger-abc", "stricthostkeychecking": "true", "userknownhostsfile": filepath.Join(state, "known_hosts")}
		for k, v := range want {
			if got := o[k]; got != v && !(k == "userknownhostsfile" && strings.Contains(got, v)) && !(k == "stricthostkeychecking" && got == "yes") {
				t.Errorf("%s: ssh reads %s = %q, want %q", host, k, got, v)
			}
		}
	}

	// The user's config with banger's Include above its first Host: the
	// user's own settings still apply to their hosts, and VMs resolve.
	user := filepath.Join(dir, "ssh_config")
	mine := "Host *.example.com\n  User alice\n"
	out, _ := AddInclude([]byte(mine), cfg)
	os.WriteFile(user, out, 0o600)
	if o := sshG(t, user, "web"); o["hostname"] != "172.16.0.3" || o["user"] != "root" {
		t.Errorf("through the Include, web resolves to %s@%s", o["user"], o["hostname"])
	}
	if o := sshG(t, user, "git.example.com"); o["user"] != "alice" || o["hostname"] != "git.example.com" {
		t.Errorf("the user's own block changed: %s@%s", o["user"], o["hostname"])
	}

	// Appended after the user's Host block instead, the Include would only
	// apply inside it: the reason AddInclude puts it first.
	os.WriteFile(user, []byte(mine+IncludeLine(cfg)+"\n"), 0o600)
	if o := sshG(t, user, "web"); o["hostname"] == "172.16.0.3" {
		t.Logf("this OpenSSH reads an Include after a Host block for every host")
	}
}
