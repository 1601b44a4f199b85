package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/paths"
)

func TestRuntimeDirCheckRefusesSquattedFallback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "banger-1000")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	r := RuntimeDirCheck(paths.Layout{RuntimeDir: dir, RuntimeFallback: true}).Run(context.Background())
	if r.Status != Fail || !strings.Contains(r.Message, "has mode 0777") || !strings.Contains(r.Fix, "XDG_RUNTIME_DIR") {
		t.Errorf("squatted fallback = %+v, want a failure naming the mode and XDG_RUNTIME_DIR", r)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	r = RuntimeDirCheck(paths.Layout{RuntimeDir: dir, RuntimeFallback: true}).Run(context.Background())
	if r.Status != Warn {
		t.Errorf("a private fallback = %+v, want the XDG_RUNTIME_DIR warning", r)
	}
}
