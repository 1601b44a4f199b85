package disk

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCloneFileIsSparseAndRefusesAnExistingTarget(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.ext4"), filepath.Join(dir, "dst.ext4")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("data at 1 GiB"), 1<<30)
	f.WriteAt([]byte("head"), 0)
	f.Close()
	if err := CloneFile(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	apparent, allocated, err := Usage(dst)
	if err != nil || apparent != 1<<30+13 || allocated > 1<<20 {
		t.Fatalf("clone: apparent %d allocated %d, %v; want the source's size, sparse", apparent, allocated, err)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
		t.Errorf("clone mode %v, want 0600", st.Mode().Perm())
	}
	if err := CloneFile(context.Background(), src, dst); !errors.Is(err, fs.ErrExist) {
		t.Errorf("clone onto an existing file: %v", err)
	}
	if _, err := os.Stat(dst + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}
