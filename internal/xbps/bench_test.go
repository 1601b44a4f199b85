package xbps_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/xbps"
	"banger/internal/xbps/xbpstest"
)

// BenchmarkReadIndex reads an index the size of Void's x86_64 repository
// (about 15,000 packages) and resolves a package set in it.
func BenchmarkReadIndex(b *testing.B) {
	index := map[string]any{}
	for i := 0; i < 15000; i++ {
		name := fmt.Sprintf("pkg%05d", i)
		index[name] = map[string]any{
			"pkgver": name + "-1.2.3_1", "architecture": "x86_64",
			"filename-sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			"filename-size":   int64(123456), "installed_size": int64(654321),
			"short_desc":     "a package with a description of ordinary length",
			"run_depends":    []string{fmt.Sprintf("pkg%05d>=1.0_1", i/2), "glibc>=2.36_1"},
			"shlib-requires": []string{"libc.so.6", "libm.so.6"},
		}
	}
	index["glibc"] = map[string]any{"pkgver": "glibc-2.39_1", "architecture": "x86_64", "filename-sha256": "00"}
	path := filepath.Join(b.TempDir(), "x86_64-repodata")
	if err := xbpstest.WriteIndex(path, index, nil); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(data)), "compressed-bytes")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix, err := xbps.ReadIndex(bytes.NewReader(data), "x86_64")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ix.Resolve([]string{"pkg14999"}); err != nil {
			b.Fatal(err)
		}
	}
}
