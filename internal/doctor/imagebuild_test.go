package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/image/artifacts"
)

func TestImageBuildChecks(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "rootfs.ext4")
	cache, mirror := filepath.Join(dir, "cache"), filepath.Join(dir, "mirror")
	os.MkdirAll(cache, 0o755)
	os.MkdirAll(mirror, 0o755)
	run := func(name string, bases []string, m string) Result {
		for _, c := range ImageBuildChecks(bases, cache, filepath.Join(dir, "debs"), m) {
			if c.Name() == name {
				return c.Run(context.Background())
			}
		}
		t.Fatalf("no check %q", name)
		return Result{}
	}
	if r := run("image build base", []string{"", base}, ""); r.Status != Warn || !strings.Contains(r.Message, base) {
		t.Errorf("missing base: %+v", r)
	}
	os.WriteFile(base, nil, 0o644)
	if r := run("image build base", []string{"", base}, ""); r.Status != Pass {
		t.Errorf("present base: %+v", r)
	}
	pins := artifacts.Pinned()
	if r := run("image build cache", nil, ""); r.Status != Warn || !strings.Contains(r.Message, pins[0].String()) {
		t.Errorf("empty cache: %+v", r)
	}
	for i, a := range pins {
		d := cache
		if i%2 == 1 {
			d = mirror // half in the cache, half in the mirror
		}
		os.WriteFile(filepath.Join(d, a.FileName()), nil, 0o644)
	}
	if r := run("image build cache", nil, mirror); r.Status != Pass {
		t.Errorf("everything in cache or mirror: %+v", r)
	}
}
