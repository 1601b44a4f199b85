package disk

import (
	"banger/internal/humanize"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkCreateOverlay measures a VM create's disk step: an 8 GiB sparse
// overlay with the rendered guest configuration (target: < 50 ms).
func BenchmarkCreateOverlay(b *testing.B) {
	requireE2fsprogs(b)
	dir := b.TempDir()
	files := guestFiles(b)
	for i := 0; b.Loop(); i++ {
		img := filepath.Join(dir, "ovl"+strconv.Itoa(i))
		if err := CreateOverlay(ctx, img, 8<<30, files); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(img)
		b.StartTimer()
	}
}

// BenchmarkWriteFiles measures the refresh of guest files on VM start.
func BenchmarkWriteFiles(b *testing.B) {
	requireE2fsprogs(b)
	img := filepath.Join(b.TempDir(), "ovl")
	files := guestFiles(b)
	if err := CreateOverlay(ctx, img, 8<<30, files); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := WriteFiles(ctx, img, UpperDir, files); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCloneSeed measures cloning a 1 GiB work-seed (a sparse copy
// here; a reflink on btrfs/xfs).
func BenchmarkCloneSeed(b *testing.B) {
	requireE2fsprogs(b)
	dir := b.TempDir()
	seed := makeSeed(b, dir, WorkLabel, 1<<30)
	for i := 0; b.Loop(); i++ {
		dst := filepath.Join(dir, "clone"+strconv.Itoa(i))
		if err := CloneSeed(ctx, seed, dst); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(dst)
		b.StartTimer()
	}
}

// BenchmarkGrow measures growing a fresh clone of a 1 GiB seed to several
// sizes, and reports the host bytes the grown file allocates.
func BenchmarkGrow(b *testing.B) {
	requireE2fsprogs(b)
	dir := b.TempDir()
	seed := makeSeed(b, dir, WorkLabel, 1<<30)
	for _, size := range []int64{4 << 30, 64 << 30, 1 << 40} {
		b.Run(humanize.Bytes(size), func(b *testing.B) {
			var alloc int64
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				dst := filepath.Join(dir, "grow"+strconv.Itoa(i))
				if err := CloneSeed(ctx, seed, dst); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := Grow(ctx, dst, size); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_, alloc, _ = Usage(dst)
				os.Remove(dst)
				b.StartTimer()
			}
			b.ReportMetric(float64(alloc)/(1<<20), "MiB-allocated")
		})
	}
}

// BenchmarkMakeWorkFromRootfs measures making a work disk from an image's
// /root (images without a work seed): 10 directories of 20 small files and
// a symlink each.
func BenchmarkMakeWorkFromRootfs(b *testing.B) {
	requireE2fsprogs(b)
	dir := b.TempDir()
	tree := filepath.Join(dir, "tree")
	for d := 0; d < 10; d++ {
		sub := filepath.Join(tree, "root", "d"+strconv.Itoa(d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < 20; f++ {
			if err := os.WriteFile(filepath.Join(sub, "f"+strconv.Itoa(f)), make([]byte, 4096), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.Symlink("f0", filepath.Join(sub, "link")); err != nil {
			b.Fatal(err)
		}
	}
	rootfs := filepath.Join(dir, "rootfs.ext4")
	mkfsFrom(b, rootfs, tree, "rootfs", 128<<20)
	for i := 0; b.Loop(); i++ {
		work := filepath.Join(dir, "work"+strconv.Itoa(i))
		if err := MakeWorkFromRootfs(ctx, rootfs, work, 1<<30); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(work)
		b.StartTimer()
	}
}
