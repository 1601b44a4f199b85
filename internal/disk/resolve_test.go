package disk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// linkTree builds an ext4 image from entries: "path -> target" is a
// symlink, "path/" a directory, anything else an empty file.
func linkTree(t *testing.T, entries ...string) string {
	t.Helper()
	requireE2fsprogs(t)
	dir := tempDir(t)
	for _, e := range entries {
		name, target, isLink := strings.Cut(e, " -> ")
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case isLink:
			err = os.Symlink(target, p)
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		default:
			err = os.WriteFile(p, nil, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(tempDir(t), "rootfs.ext4")
	mkfsFrom(t, img, dir, "banger-root", 16<<20)
	return img
}

func TestResolvePath(t *testing.T) {
	long := "/usr/lib/" + strings.Repeat("l", 90) + "/runit-init" // a slow symlink: too long for the inode
	for _, tc := range []struct {
		name    string
		entries []string
		want    string
	}{
		{"Debian systemd, merged /usr",
			[]string{"sbin -> usr/sbin", "lib -> usr/lib", "usr/sbin/init -> ../lib/systemd/systemd", "usr/lib/systemd/systemd"},
			"/usr/lib/systemd/systemd"},
		{"Debian runit-init, merged /usr",
			[]string{"sbin -> usr/sbin", "lib -> usr/lib", "usr/sbin/init -> /lib/runit/runit-init", "usr/lib/runit/runit-init"},
			"/usr/lib/runit/runit-init"},
		{"Void",
			[]string{"sbin -> usr/bin", "usr/sbin -> bin", "usr/bin/init -> runit-init", "usr/bin/runit-init"},
			"/usr/bin/runit-init"},
		{"relative link below a symlinked directory",
			// /sbin is /usr/sbin, so ../lib is /usr/lib, not /lib.
			[]string{"sbin -> usr/sbin", "usr/sbin/init -> ../lib/runit/runit-init", "usr/lib/runit/runit-init", "lib/"},
			"/usr/lib/runit/runit-init"},
		{"slow symlink", []string{"sbin/init -> " + long, strings.TrimPrefix(long, "/")}, long},
		{"plain file", []string{"sbin/init"}, "/sbin/init"},
		{".. above the root stays at the root",
			[]string{"sbin/init -> ../../../../lib/runit/runit-init", "lib/runit/runit-init"}, "/lib/runit/runit-init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := linkTree(t, tc.entries...)
			got, err := ResolvePath(ctx, img, "/sbin/init")
			if err != nil || got != tc.want {
				t.Fatalf("ResolvePath = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestResolvePathErrors(t *testing.T) {
	img := linkTree(t, "sbin/", "bin/loop1 -> loop2", "bin/loop2 -> loop1", "bin/dangling -> /nowhere/init", "etc/passwd")
	for _, tc := range []struct {
		p, want string
	}{
		{"/sbin/init", "/sbin/init: no such file in the image"},
		{"/bin/loop1", "more than 40 symlinks"},
		{"/bin/dangling", "/nowhere: no such file in the image"},
		{"sbin/init", "not an absolute path"},
		{"/etc/passwd/x", "/etc/passwd/x"},
	} {
		got, err := ResolvePath(ctx, img, tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.p) {
			t.Errorf("ResolvePath(%q) = %q, %v; want an error naming it and containing %q", tc.p, got, err, tc.want)
		}
	}
	if _, err := ResolvePath(ctx, img, "/sbin/init"); !errors.Is(err, ErrNotInImage) {
		t.Errorf("missing path: %v does not wrap ErrNotInImage", err)
	}
	if _, err := ResolvePath(ctx, filepath.Join(tempDir(t), "absent.ext4"), "/sbin/init"); err == nil || errors.Is(err, ErrNotInImage) {
		t.Errorf("missing image: %v; want an error that is not ErrNotInImage", err)
	}
}
