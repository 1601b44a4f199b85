package imagebuild

import (
	"banger/internal/buildlog"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestInstLines(t *testing.T) {
	for line, want := range map[string]debRef{
		"Inst jq (1.6-2.1+deb12u3 Debian:12.12/stable, Debian-Security:12/stable-security [amd64])": {"jq", "1.6-2.1+deb12u3", "amd64"},
		"Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable [amd64]) []":                        {"libc6", "2.36-9+deb12u4", "amd64"},
		"Inst git (1:2.39.5-0+deb12u3 Debian:12.12/stable [amd64])":                                 {"git", "1:2.39.5-0+deb12u3", "amd64"},
		"Inst tzdata (2025b-0+deb12u2 Debian:12.12/stable [all])":                                   {"tzdata", "2025b-0+deb12u2", "all"},
	} {
		m := instLine.FindStringSubmatch(line)
		if m == nil || (debRef{m[1], m[2], m[3]}) != want {
			t.Errorf("%q: got %v, want %v", line, m, want)
		}
	}
	if instLine.MatchString("Conf jq (1.6-2.1 Debian:12.12/stable [amd64])") {
		t.Error("Conf line taken for Inst")
	}
	if got := (debRef{"git", "1:2.39.5-0+deb12u3", "amd64"}).file(); got != "git_1%3a2.39.5-0+deb12u3_amd64.deb" {
		t.Errorf("archive file name %q", got)
	}
}

func TestReadPackageList(t *testing.T) {
	got := ReadPackageList([]byte("# comment\nsystemd udev # two\n\n  jq\n"))
	if !slices.Equal(got, []string{"systemd", "udev", "jq"}) {
		t.Errorf("got %v", got)
	}
}

// Writes into the image tree stay inside it, whatever links the base
// image plants.
func TestTreeWritesStayInside(t *testing.T) {
	tree, outside := t.TempDir(), t.TempDir()
	os.Symlink(outside, filepath.Join(tree, "etc"))
	os.MkdirAll(filepath.Join(tree, "usr/local"), 0o755)
	os.Symlink("/"+filepath.Base(outside), filepath.Join(tree, "usr/local/bin"))
	root, err := os.OpenRoot(tree)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	p := &prov{r: buildlog.New(io.Discard, io.Discard), dir: tree, root: root}
	src := filepath.Join(t.TempDir(), "bin")
	os.WriteFile(src, []byte("x"), 0o755)
	if err := p.write("/etc/profile.d/mise.sh", []byte("x"), 0o644); err == nil {
		t.Error("write through /etc -> outside succeeded")
	}
	if err := p.copyIn(src, "/usr/local/bin/mise", 0o755); err == nil {
		t.Error("copy through /usr/local/bin -> /outside succeeded")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("files written outside the tree: %v", ents)
	}
	// A plain tree works.
	if err := p.write("/opt/x/y.conf", []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(tree, "opt/x/y.conf")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("written file: %v %v", st, err)
	}
}

func TestDebianMirrorChecked(t *testing.T) {
	r := buildlog.New(io.Discard, io.Discard)
	for _, bad := range []string{"deb.debian.org/debian", "ftp://x/debian", "http://x/debian main\ndeb http://evil", "http://x/ [trusted=yes]"} {
		if _, err := newDebCache(r, t.TempDir(), bad); err == nil {
			t.Errorf("debian_mirror %q accepted", bad)
		}
	}
	dir := t.TempDir()
	if _, err := newDebCache(r, dir, "http://mirror.example/debian"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "etc/sources.list"))
	if want := " http://mirror.example/debian bookworm main\n"; len(b) == 0 || string(b[len(b)-len(want):]) != want {
		t.Errorf("sources.list %q", b)
	}
}
