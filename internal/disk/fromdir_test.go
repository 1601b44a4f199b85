package disk

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/execx"
)

func TestMakeFromDir(t *testing.T) {
	requireE2fsprogs(t)
	home := filepath.Join(tempDir(t), "root")
	if err := os.MkdirAll(filepath.Join(home, ".config"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	if err := os.WriteFile(filepath.Join(home, ".config", "x"), []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tempDir(t), "seed.ext4")
	os.WriteFile(out, []byte("an older image"), 0o644) // replaced whole
	var ran []string
	run := func(ctx2 context.Context, c execx.Cmd) ([]byte, error) {
		ran = append(ran, filepath.Base(c.Argv[0]))
		return c.Run(ctx2)
	}
	if err := MakeFromDir(ctx, run, home, out, "banger-work", 64<<20, TreeInodes(64<<20, 3)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ran, ","); got != "mkfs.ext4,debugfs" {
		t.Errorf("commands run: %s", got)
	}
	if l, err := Label(out); err != nil || l != "banger-work" {
		t.Errorf("label %q, %v", l, err)
	}
	if in := stat(t, out, "/"); in.mode&0o777 != 0o700 || in.uid != 0 {
		t.Errorf("root inode %+v, want 0700 root-owned", in)
	}
	if got := cat(t, out, "/.config/x"); got != "hello\n" {
		t.Errorf("file content %q", got)
	}
	fsckClean(t, out)
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestTreeImageSize(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ content, want int64 }{
		{0, 128 * mib},
		{1, 192 * mib},
		{1000 * mib, 1280 * mib}, // 1000 + 150 + 128 = 1278, rounded up to 64 MiB
	} {
		if got := TreeImageSize(c.content); got != c.want {
			t.Errorf("TreeImageSize(%d MiB) = %d MiB, want %d MiB", c.content/mib, got/mib, c.want/mib)
		}
	}
	if n := TreeInodes(1<<30, 10); n != 0 {
		t.Errorf("a small tree on 1 GiB needs the default inode count, got %d", n)
	}
	if n := TreeInodes(1<<30, 100000); n != 216384 {
		t.Errorf("TreeInodes(1 GiB, 100000) = %d, want 216384", n)
	}
}
