package build

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/tmp/a\040b\011c`); got != "/tmp/a b\tc" {
		t.Fatalf("got %q", got)
	}
}

func TestMountedUnder(t *testing.T) {
	info := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
98 22 0:5 / /tmp/x/.banger-bundle-build-1/rootfs/proc rw - proc proc rw
99 22 0:6 / /tmp/x/.banger-bundle-build-10 rw - tmpfs tmpfs rw
100 22 0:7 / /tmp/with\040space/s/dev rw - devtmpfs udev rw
`
	cases := map[string]string{
		"/tmp/x/.banger-bundle-build-1":  "/tmp/x/.banger-bundle-build-1/rootfs/proc",
		"/tmp/x/.banger-bundle-build-2":  "",
		"/tmp/x/.banger-bundle-build-10": "/tmp/x/.banger-bundle-build-10",
		"/tmp/with space/s":              "/tmp/with space/s/dev",
		"/tmp/x/.banger-bundle-build":    "",
	}
	for dir, want := range cases {
		if got := mountedUnder(dir, info); got != want {
			t.Errorf("mountedUnder(%q) = %q, want %q", dir, got, want)
		}
	}
}

func TestRemoveScratchRemovesPlainTrees(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "scratch")
	os.MkdirAll(filepath.Join(dir, "rootfs/etc"), 0o755)
	if err := removeScratch(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("scratch not removed: %v", err)
	}
}
