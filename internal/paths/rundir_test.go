package paths

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fallbackLayout resolves a layout with XDG_RUNTIME_DIR unset and TMPDIR
// pointing at a fresh directory, so the fallback is <tmp>/banger-<uid>.
func fallbackLayout(t *testing.T) Layout {
	t.Helper()
	root := t.TempDir()
	t.Setenv("HOME", filepath.Join(root, "home"))
	for _, v := range []string{"XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"} {
		t.Setenv(v, "")
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	tmp := filepath.Join(root, "tmp")
	if err := os.Mkdir(tmp, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	l, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if !l.RuntimeFallback || l.RuntimeDir != filepath.Join(tmp, "banger-"+strconv.Itoa(os.Getuid())) {
		t.Fatalf("layout = %+v, want the /tmp-style fallback under %s", l, tmp)
	}
	return l
}

func TestFallbackRuntimeDirCreatedPrivate(t *testing.T) {
	l := fallbackLayout(t)
	if err := l.CheckRuntimeDir(); err != nil {
		t.Fatalf("CheckRuntimeDir on a missing dir = %v, want nil", err)
	}
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	if err := l.EnsureDirs(); err != nil {
		t.Fatalf("EnsureDirs: %v", err)
	}
	st, err := os.Lstat(l.RuntimeDir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.IsDir() || st.Mode().Perm() != 0o700 || int(st.Sys().(*syscall.Stat_t).Uid) != os.Getuid() {
		t.Errorf("created %s with mode %v uid %d, want a 0700 directory of uid %d", l.RuntimeDir, st.Mode(), st.Sys().(*syscall.Stat_t).Uid, os.Getuid())
	}
	if err := l.CheckRuntimeDir(); err != nil {
		t.Errorf("CheckRuntimeDir after EnsureDirs = %v", err)
	}
	if err := l.EnsureDirs(); err != nil {
		t.Errorf("EnsureDirs a second time = %v", err)
	}
}

func TestSquattedFallbackRuntimeDirRefused(t *testing.T) {
	cases := map[string]struct {
		root  bool
		make  func(t *testing.T, dir string)
		wants []string
	}{
		"owned by another uid": {root: true, make: func(t *testing.T, dir string) {
			mustMkdir(t, dir, 0o700)
			if err := os.Chown(dir, 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}, wants: []string{"is owned by uid 4242, not by you", "remove it", "XDG_RUNTIME_DIR"}},
		"a symlink to a private directory": {make: func(t *testing.T, dir string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			mustMkdir(t, target, 0o700)
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}, wants: []string{"is a symlink (to ", "not a directory"}},
		"mode 0777": {make: func(t *testing.T, dir string) {
			mustMkdir(t, dir, 0o777)
		}, wants: []string{"has mode 0777, not 0700"}},
		"sticky 1777": {make: func(t *testing.T, dir string) {
			mustMkdir(t, dir, os.ModeSticky|0o777)
		}, wants: []string{"has mode 1777, not 0700"}},
		"a regular file": {make: func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, wants: []string{"is not a directory"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if c.root && os.Geteuid() != 0 {
				t.Skip("needs root to chown")
			}
			l := fallbackLayout(t)
			c.make(t, l.RuntimeDir)
			before, _ := os.Lstat(l.RuntimeDir)
			for fn, call := range map[string]func() error{"EnsureDirs": l.EnsureDirs, "CheckRuntimeDir": l.CheckRuntimeDir} {
				err := call()
				var ue *UnsafeRuntimeDirError
				if !errors.As(err, &ue) || ue.Dir != l.RuntimeDir {
					t.Fatalf("%s = %v, want an UnsafeRuntimeDirError for %s", fn, err, l.RuntimeDir)
				}
				for _, w := range c.wants {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s error %q does not say %q", fn, err, w)
					}
				}
			}
			after, _ := os.Lstat(l.RuntimeDir)
			if before.Mode() != after.Mode() || before.Sys().(*syscall.Stat_t).Uid != after.Sys().(*syscall.Stat_t).Uid {
				t.Errorf("refusing changed %s: %v -> %v", l.RuntimeDir, before.Mode(), after.Mode())
			}
		})
	}
}

func TestXDGRuntimeDirNotSubjectToFallbackRules(t *testing.T) {
	rt := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", rt)
	l, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if l.RuntimeFallback || l.RuntimeDir != filepath.Join(rt, "banger") {
		t.Fatalf("layout = %+v", l)
	}
	if err := l.CheckRuntimeDir(); err != nil {
		t.Errorf("CheckRuntimeDir under XDG_RUNTIME_DIR = %v", err)
	}
}

func mustMkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}
