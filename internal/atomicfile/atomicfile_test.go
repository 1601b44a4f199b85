package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// onlyFile fails unless dir holds exactly name (no temporary files left).
func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("directory holds %v, want only %s", names, name)
	}
}

func TestWriteReplacesWithPerm(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(p, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "new\n" || st.Mode().Perm() != 0o600 {
		t.Fatalf("got %q mode %v", b, st.Mode().Perm())
	}
	onlyFile(t, dir, "known_hosts")
}

func TestFailedFillLeavesTheOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bundle.json")
	os.WriteFile(p, []byte("old\n"), 0o644)
	boom := errors.New("disk on fire")
	err := WriteFrom(p, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), p) {
		t.Fatalf("want the fill error naming %s, got %v", p, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old\n" {
		t.Fatalf("old content replaced by %q", b)
	}
	onlyFile(t, dir, "bundle.json")
}

func TestCreateCommitAbort(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "artifact")
	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "checked before commit")
	// The content can be checked by path before it is committed.
	if b, _ := os.ReadFile(f.Name()); string(b) != "checked before commit" {
		t.Fatalf("temporary file holds %q", b)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("target exists before commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // a deferred Abort after Commit is harmless
	if b, _ := os.ReadFile(p); string(b) != "checked before commit" {
		t.Fatalf("target holds %q", b)
	}
	onlyFile(t, dir, "artifact")

	g, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(g, "discarded")
	g.Abort()
	if err := g.Commit(); err == nil {
		t.Fatal("commit after abort succeeded")
	}
	if b, _ := os.ReadFile(p); string(b) != "checked before commit" {
		t.Fatalf("aborted write changed the target: %q", b)
	}
	onlyFile(t, dir, "artifact")
}

func TestMissingDirectoryIsNamed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no-such-dir", "f")
	if err := Write(p, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("want an error naming %s, got %v", p, err)
	}
}

func TestCopyAndPublish(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("kernel"), 0o600)
	dst := filepath.Join(dir, "vmlinux")
	if err := Copy(src, dst, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "kernel" {
		t.Fatalf("copy holds %q", b)
	}
	if err := Copy(filepath.Join(dir, "missing"), dst, 0o644); err == nil {
		t.Fatal("copy of a missing file succeeded")
	}
	tmp := filepath.Join(dir, ".rootfs.ext4.tmp")
	os.WriteFile(tmp, []byte("ext4"), 0o644)
	out := filepath.Join(dir, "rootfs.ext4")
	if err := Publish(tmp, out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "ext4" {
		t.Fatalf("published file holds %q", b)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
}
