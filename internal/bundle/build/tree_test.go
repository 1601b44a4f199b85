package build

import (
	"os"
	"path/filepath"
	"testing"
)

func TestGuestTreeResolvesAbsoluteLinksInside(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.Symlink("/usr/lib", filepath.Join(root, "lib"))                       // absolute, as on some images
	os.Symlink("../run/resolv.conf", filepath.Join(root, "etc/resolv.conf")) // relative, dangling
	os.Symlink("../../..", filepath.Join(root, "usr/lib/up"))                // climbs past the root
	tree := guestTree(root)

	if err := tree.writeFile("/lib/modules/6.1/x", []byte("m"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "usr/lib/modules/6.1/x")); err != nil || string(b) != "m" {
		t.Fatalf("write through /lib did not land in usr/lib: %q %v", b, err)
	}
	// The last component is replaced, not followed.
	if err := tree.writeFile("/etc/resolv.conf", []byte("# banger\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "etc/resolv.conf")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("resolv.conf symlink not replaced by a file: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(root, "run/resolv.conf")); err == nil {
		t.Fatal("wrote through the resolv.conf symlink")
	}
	// ".." never leaves the tree.
	hp, err := tree.resolve("/usr/lib/up/etc/passwd", true)
	if err != nil {
		t.Fatal(err)
	}
	if hp != filepath.Join(root, "etc/passwd") {
		t.Fatalf("resolved to %s, want inside the tree", hp)
	}
	if !tree.exists("/lib/modules/6.1/x") || tree.exists("/lib/modules/nope") {
		t.Error("exists() wrong")
	}
}
