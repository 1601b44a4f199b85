package disk

import (
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
		b.Run(FormatSize(size), func(b *testing.B) {
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
