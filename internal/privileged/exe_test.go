package privileged

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/execx"
)

// safeBase returns a fresh root-owned 0755 directory whose parents are
// all root-owned and not group/world-writable (t.TempDir() is under the
// world-writable /tmp, which CheckExe rightly refuses).
func safeBase(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create root-owned directories and chown")
	}
	for _, parent := range []string{"/run", "/var/lib", "/root"} {
		if err := checkDirs(filepath.Join(parent, "x"), func(string, ...any) error { return errors.New("unsafe") }); err != nil {
			continue
		}
		d, err := os.MkdirTemp(parent, "banger-checkexe-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	t.Skip("no root-owned, non-writable directory to test in")
	return ""
}

func mkdirOwned(t *testing.T, p string, mode os.FileMode, uid, gid int) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileOwned(t *testing.T, p string, mode os.FileMode, uid, gid int) string {
	t.Helper()
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho bangerd v1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckExe(t *testing.T) {
	// Without root: a file in a temp dir (under /tmp) is refused, a relative
	// or unclean path is refused, a system binary passes.
	dir := t.TempDir()
	exe := filepath.Join(dir, "bangerd")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckExe(exe); err == nil || !strings.Contains(err.Error(), "unsafe for sudo") {
		t.Errorf("CheckExe on a temp file = %v, want unsafe", err)
	}
	for _, bad := range []string{"bangerd", "/usr/bin/../bin/sh", "/usr/bin//sh"} {
		if err := CheckExe(bad); err == nil {
			t.Errorf("CheckExe(%q) accepted an unclean path", bad)
		}
	}
	if err := CheckExe("/usr/libexec/banger-no-such/bangerd"); !errors.Is(err, ErrHelperNotInstalled) {
		t.Errorf("CheckExe of a missing helper = %v, want ErrHelperNotInstalled", err)
	}
	sh, err := execx.SystemTool("sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckExe(sh); err != nil {
		t.Errorf("CheckExe(%s) = %v, want nil for a system binary", sh, err)
	}
}

func TestCheckExeOwnersAndModes(t *testing.T) {
	base := safeBase(t)
	const staffGID = 50 // Debian's staff group, which owns /usr/local 2775 on older releases
	cases := []struct {
		name  string
		setup func(t *testing.T, d string) string // returns the helper path
		want  string                              // "" means accepted
	}{
		{"root-owned 0755 in root-owned dirs", func(t *testing.T, d string) string {
			mkdirOwned(t, filepath.Join(d, "libexec/banger"), 0o755, 0, 0)
			return fileOwned(t, filepath.Join(d, "libexec/banger/bangerd"), 0o755, 0, 0)
		}, ""},
		{"helper owned by a user", func(t *testing.T, d string) string {
			return fileOwned(t, filepath.Join(d, "bangerd"), 0o755, 4242, 4242)
		}, "is owned by uid 4242, not root"},
		{"group-writable helper", func(t *testing.T, d string) string {
			return fileOwned(t, filepath.Join(d, "bangerd"), 0o775, 0, staffGID)
		}, "writable by group"},
		{"not executable", func(t *testing.T, d string) string {
			return fileOwned(t, filepath.Join(d, "bangerd"), 0o644, 0, 0)
		}, "not an executable file"},
		{"a directory", func(t *testing.T, d string) string {
			return mkdirOwned(t, filepath.Join(d, "bangerd"), 0o755, 0, 0)
		}, "not an executable file"},
		{"/usr/local-style staff dir 2775", func(t *testing.T, d string) string {
			mkdirOwned(t, filepath.Join(d, "local"), os.ModeSetgid|0o775, 0, staffGID)
			mkdirOwned(t, filepath.Join(d, "local/libexec"), 0o755, 0, 0)
			return fileOwned(t, filepath.Join(d, "local/libexec/bangerd"), 0o755, 0, 0)
		}, "local is writable by group"},
		{"parent owned by a user", func(t *testing.T, d string) string {
			mkdirOwned(t, filepath.Join(d, "home"), 0o755, 4242, 4242)
			return fileOwned(t, filepath.Join(d, "home/bangerd"), 0o755, 0, 0)
		}, "home is owned by uid 4242, not root"},
		{"world-writable sticky parent", func(t *testing.T, d string) string {
			mkdirOwned(t, filepath.Join(d, "tmp"), os.ModeSticky|0o777, 0, 0)
			return fileOwned(t, filepath.Join(d, "tmp/bangerd"), 0o755, 0, 0)
		}, "tmp is writable by everyone (mode 1777)"},
		{"safe symlink to a user's binary", func(t *testing.T, d string) string {
			mkdirOwned(t, filepath.Join(d, "home"), 0o755, 4242, 4242)
			target := fileOwned(t, filepath.Join(d, "home/bangerd"), 0o755, 4242, 4242)
			link := filepath.Join(d, "bangerd")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "home is owned by uid 4242"},
		// The sudoers rule names the link: whoever can write the link's
		// directory can point it anywhere, however safe its target is.
		{"symlink in a user's dir to a safe binary", func(t *testing.T, d string) string {
			safe := fileOwned(t, filepath.Join(d, "bangerd"), 0o755, 0, 0)
			mkdirOwned(t, filepath.Join(d, "home"), 0o755, 4242, 4242)
			link := filepath.Join(d, "home/bangerd")
			if err := os.Symlink(safe, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "home is owned by uid 4242"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := os.MkdirTemp(base, "case-")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
			exe := c.setup(t, d)
			err = CheckExe(exe)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("CheckExe(%s) = %v, want accepted", exe, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("CheckExe(%s) = %v, want an error saying %q", exe, err, c.want)
			}
		})
	}
}

func TestHelperVersion(t *testing.T) {
	dir := t.TempDir()
	script := func(body string) string {
		p := filepath.Join(dir, "v"+string(rune('a'+len(body)%26)))
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if v, err := HelperVersion(context.Background(), script(`echo "bangerd v0.3.1-4-gabc"`)); err != nil || v != "v0.3.1-4-gabc" {
		t.Errorf("HelperVersion = %q, %v", v, err)
	}
	if _, err := HelperVersion(context.Background(), script(`echo "something else entirely"`)); err == nil {
		t.Error("an answer that is not \"bangerd VERSION\" was accepted")
	}
	if _, err := HelperVersion(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing helper has a version")
	}
}
