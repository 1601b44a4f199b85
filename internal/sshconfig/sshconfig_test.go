package sshconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderAndSelect(t *testing.T) {
	o := Options{IdentityFile: "/home/u/.local/state/banger/ssh/id_ed25519", KnownHosts: "/home/u/my state/known_hosts"}
	b := Render([]Entry{
		{Name: "calm-otter", Address: "172.16.0.2", HostKeyAlias: "banger-aaaa"},
		{Name: "web", Address: "172.16.0.3", HostKeyAlias: "banger-bbbb"},
	}, o)
	got, ok := Select(b, "web")
	if !ok {
		t.Fatalf("no entry for web in\n%s", b)
	}
	want := `Host web web.vm
  HostName 172.16.0.3
  User root
  IdentityFile /home/u/.local/state/banger/ssh/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile "/home/u/my state/known_hosts"
  HostKeyAlias banger-bbbb
  StrictHostKeyChecking yes
`
	if strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("entry for web:\n%s\nwant:\n%s", got, want)
	}
	if _, ok := Select(b, "calm"); ok {
		t.Errorf("a prefix of a name selected an entry")
	}
	if e, _ := Select(b, "calm-otter"); strings.Contains(e, "web") || !strings.Contains(e, "172.16.0.2") {
		t.Errorf("calm-otter's entry:\n%s", e)
	}
	if empty := Render(nil, o); !strings.HasPrefix(string(empty), "#") || strings.Contains(string(empty), "Host ") {
		t.Errorf("config without VMs:\n%s", empty)
	}
}

func TestAddIncludeGoesAboveFirstBlockOnce(t *testing.T) {
	const inc = "/s/banger/ssh/config"
	cases := []struct{ name, in, want string }{
		{"empty", "", marker + "\nInclude /s/banger/ssh/config\n"},
		{"globals then host",
			"ServerAliveInterval 30\n\nHost gw\n  User me\n",
			"ServerAliveInterval 30\n\n" + marker + "\nInclude /s/banger/ssh/config\n\nHost gw\n  User me\n"},
		{"match with equals, lower case",
			"match=host x\n  User me\n",
			marker + "\nInclude /s/banger/ssh/config\n\nmatch=host x\n  User me\n"},
		{"misplaced include moved up",
			"Host gw\n  User me\nInclude /s/banger/ssh/config\n",
			marker + "\nInclude /s/banger/ssh/config\n\nHost gw\n  User me\n"},
		{"other includes kept",
			"Include ~/.ssh/work\nHost *\n  AddKeysToAgent yes",
			"Include ~/.ssh/work\n" + marker + "\nInclude /s/banger/ssh/config\n\nHost *\n  AddKeysToAgent yes\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, changed := AddInclude([]byte(c.in), inc)
			if string(out) != c.want || !changed {
				t.Fatalf("AddInclude(%q) = %q, %v; want %q", c.in, out, changed, c.want)
			}
			again, changed := AddInclude(out, inc)
			if changed || string(again) != string(out) {
				t.Errorf("second AddInclude changed the config: %q", again)
			}
			back, changed := RemoveInclude(out, inc)
			if !changed || strings.Contains(string(back), inc) || strings.Contains(string(back), "banger ssh-config") {
				t.Errorf("RemoveInclude left %q", back)
			}
		})
	}
	if _, changed := RemoveInclude([]byte("Host x\n"), inc); changed {
		t.Errorf("RemoveInclude changed a config without the Include")
	}
}

func TestIncludeOfQuotedPath(t *testing.T) {
	const inc = "/home/a b/.local/state/banger/ssh/config"
	out, _ := AddInclude([]byte("Host x\n"), inc)
	if !strings.Contains(string(out), `Include "/home/a b/.local/state/banger/ssh/config"`) {
		t.Fatalf("path with a space not quoted:\n%s", out)
	}
	if _, changed := AddInclude(out, inc); changed {
		t.Errorf("quoted Include not recognised as banger's")
	}
}

func TestEditUserConfig(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, ".ssh", "config")
	backup := cfg + ".banger-backup"
	add := func(b []byte) ([]byte, bool) { return AddInclude(b, "/x/config") }

	// Missing ~/.ssh and config: created private, no backup of nothing.
	if changed, err := EditUserConfig(cfg, backup, add); err != nil || !changed {
		t.Fatalf("first install: %v, %v", changed, err)
	}
	if st, _ := os.Stat(filepath.Dir(cfg)); st.Mode().Perm() != 0o700 {
		t.Errorf("~/.ssh mode %v", st.Mode().Perm())
	}
	if st, _ := os.Stat(cfg); st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v", st.Mode().Perm())
	}
	if _, err := os.Stat(backup); err == nil {
		t.Errorf("backup written for a config that did not exist")
	}
	if changed, err := EditUserConfig(cfg, backup, add); err != nil || changed {
		t.Fatalf("second install: %v, %v", changed, err)
	}

	// An existing config keeps its mode, and the old text is backed up.
	os.WriteFile(cfg, []byte("Host gw\n"), 0o640)
	os.Chmod(cfg, 0o640)
	if _, err := EditUserConfig(cfg, backup, add); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(backup); string(b) != "Host gw\n" {
		t.Errorf("backup holds %q", b)
	}
	if st, _ := os.Stat(cfg); st.Mode().Perm() != 0o640 {
		t.Errorf("config mode changed to %v", st.Mode().Perm())
	}

	// A symlinked config (dotfile managers) is edited in place.
	real := filepath.Join(home, "dotfiles-ssh-config")
	os.WriteFile(real, []byte("Host a\n"), 0o600)
	os.Remove(cfg)
	os.Symlink(real, cfg)
	if _, err := EditUserConfig(cfg, backup, add); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(cfg); fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink replaced by a file")
	}
	if b, _ := os.ReadFile(real); !strings.Contains(string(b), "Include /x/config") {
		t.Errorf("symlink target not edited: %q", b)
	}
}
