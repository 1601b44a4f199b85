package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// makeBundle writes a small bundle-shaped tree: bundle.json, a sparse
// "disk image", an executable, a nested directory and an inner symlink.
func makeBundle(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "runtime")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "modules/6.1.0-test/kernel"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bundle.json"), []byte(`{"version":1}`), 0o644))
	must(os.WriteFile(filepath.Join(dir, "banger-vsock-agent"), []byte("\x7fELF agent"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "modules/6.1.0-test/modules.dep"), []byte("kernel/a.ko:\n"), 0o644))
	must(os.Symlink("modules/6.1.0-test", filepath.Join(dir, "modules-current")))
	f, err := os.Create(filepath.Join(dir, "rootfs-docker.ext4"))
	must(err)
	must(f.Truncate(16 << 20))
	_, err = f.WriteAt([]byte("superblock-ish"), 1024)
	must(err)
	_, err = f.WriteAt([]byte("data in the middle"), 8<<20)
	must(err)
	must(f.Close())
	return dir
}

// treeDigest describes a tree by path, type, permissions and content hash.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == StampName {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			line += " " + hex.EncodeToString(sum[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func packToFile(t *testing.T, src string) (path, sum string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "dist", "banger-runtime.tar.gz")
	sum, _, err := PackFile(src, out)
	if err != nil {
		t.Fatal(err)
	}
	return out, sum
}

func TestPackIsDeterministic(t *testing.T) {
	src := makeBundle(t)
	var a, b bytes.Buffer
	if err := Pack(src, &a); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(src, "bundle.json"), later, later); err != nil {
		t.Fatal(err)
	}
	if err := Pack(src, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("packing the same tree twice (mtime changed) gave different bytes")
	}
	zr, _ := gzip.NewReader(bytes.NewReader(a.Bytes()))
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(packTime) {
			t.Errorf("%s: uid %d gid %d uname %q mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
		names = append(names, h.Name)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("members not sorted: %v", names)
	}
}

func TestRoundTripPackFetch(t *testing.T) {
	src := makeBundle(t)
	archive, sum := packToFile(t, src)
	dest := filepath.Join(t.TempDir(), "fresh", "runtime")
	res, err := Fetch(context.Background(), FetchOptions{Source: archive, SHA256: sum, Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256 != sum || FetchedSHA256(dest) != sum {
		t.Errorf("result sha256 %s, stamp %q, want %s", res.SHA256, FetchedSHA256(dest), sum)
	}
	// Re-packing a fetched bundle reproduces the archive byte for byte.
	again, sum2 := packToFile(t, dest)
	if sum2 != sum {
		t.Errorf("re-packed fetched bundle: sha256 %s, want %s (%s)", sum2, sum, again)
	}
	if got, want := treeDigest(t, dest), treeDigest(t, src); got != want {
		t.Fatalf("round trip differs:\n got:\n%s\nwant:\n%s", got, want)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dest, "rootfs-docker.ext4"), &st); err != nil {
		t.Fatal(err)
	}
	if allocated := st.Blocks * 512; allocated > 256<<10 {
		t.Errorf("unpacked 16 MiB sparse image allocates %d bytes; holes were not recreated", allocated)
	}
}

// assertUntouched checks that dest still holds only the marker and that no
// staging or download leftovers sit beside it.
func assertUntouched(t *testing.T, dest string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dest, "marker"))
	if err != nil || string(b) != "old" {
		t.Errorf("existing bundle was modified: marker %q, %v", b, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(dest))
	for _, e := range ents {
		if e.Name() != filepath.Base(dest) && e.Name() != "dist" {
			t.Errorf("leftover beside the bundle: %s", e.Name())
		}
	}
}

func existingBundle(t *testing.T) string {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "runtime")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dest, "marker"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dest
}

func TestFetchURLForms(t *testing.T) {
	src := makeBundle(t)
	archive, sum := packToFile(t, src)
	data, _ := os.ReadFile(archive)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/banger-runtime.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()

	manifestDir := filepath.Dir(filepath.Dir(archive)) // archive is <dir>/dist/x.tar.gz
	cases := map[string]string{
		"relative to the manifest": "./dist/banger-runtime.tar.gz",
		"absolute path":            archive,
		"file URL":                 "file://" + archive,
		"http URL":                 srv.URL + "/banger-runtime.tar.gz",
	}
	for name, url := range cases {
		t.Run(name, func(t *testing.T) {
			manifest := filepath.Join(manifestDir, "runtime-bundle.local.toml")
			body := fmt.Sprintf("url = %q\nsha256 = %q\n[bundle_metadata]\ndebian_suite = \"bookworm\"\n", url, strings.ToUpper(sum))
			if err := os.WriteFile(manifest, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := LoadManifest(manifest)
			if err != nil {
				t.Fatal(err)
			}
			dest := existingBundle(t) // replacing an existing bundle
			if _, err := Fetch(context.Background(), FetchOptions{Source: m.Source(), SHA256: m.SHA256, Dest: dest}); err != nil {
				t.Fatal(err)
			}
			if got, want := treeDigest(t, dest), treeDigest(t, src); got != want {
				t.Fatalf("fetched tree differs:\n%s\nwant\n%s", got, want)
			}
			ents, _ := os.ReadDir(filepath.Dir(dest))
			if len(ents) != 1 {
				t.Errorf("leftovers beside the bundle: %v", ents)
			}
		})
	}
}

func TestFetchChecksumProblems(t *testing.T) {
	archive, sum := packToFile(t, makeBundle(t))
	dest := existingBundle(t)
	_, err := Fetch(context.Background(), FetchOptions{Source: archive, SHA256: strings.Repeat("0", 64), Dest: dest})
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Got != sum {
		t.Fatalf("mismatch: err = %v, want a ChecksumError with the real hash", err)
	}
	assertUntouched(t, dest)

	_, err = Fetch(context.Background(), FetchOptions{Source: archive, Dest: dest})
	if !errors.As(err, &ce) || ce.Want != "" || !strings.Contains(err.Error(), sum) {
		t.Fatalf("empty sha256: err = %v, want one printing %s", err, sum)
	}
	assertUntouched(t, dest)
}

func TestFetchHTTPFailures(t *testing.T) {
	archive, sum := packToFile(t, makeBundle(t))
	data, _ := os.ReadFile(archive)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short":
			// Promise the whole archive, send half, hang up.
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.Write(data[:len(data)/2])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	dest := existingBundle(t)
	_, err := Fetch(context.Background(), FetchOptions{Source: srv.URL + "/missing.tar.gz", SHA256: sum, Dest: dest})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("404: err = %v", err)
	}
	assertUntouched(t, dest)
	_, err = Fetch(context.Background(), FetchOptions{Source: srv.URL + "/short", SHA256: sum, Dest: dest})
	if err == nil {
		t.Fatal("short body accepted")
	}
	assertUntouched(t, dest)
}

func TestFetchTruncatedArchive(t *testing.T) {
	archive, _ := packToFile(t, makeBundle(t))
	data, _ := os.ReadFile(archive)
	truncated := filepath.Join(filepath.Dir(archive), "truncated.tar.gz")
	if err := os.WriteFile(truncated, data[:len(data)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data[:len(data)*2/3])
	dest := existingBundle(t)
	_, err := Fetch(context.Background(), FetchOptions{Source: truncated, SHA256: hex.EncodeToString(sum[:]), Dest: dest})
	if err == nil || !strings.Contains(err.Error(), "unpack") {
		t.Fatalf("truncated archive: err = %v", err)
	}
	assertUntouched(t, dest)
}

func TestFetchCheckVetoKeepsOldBundle(t *testing.T) {
	archive, sum := packToFile(t, makeBundle(t))
	dest := existingBundle(t)
	_, err := Fetch(context.Background(), FetchOptions{Source: archive, SHA256: sum, Dest: dest,
		Check: func(dir string) error {
			if _, err := os.Stat(filepath.Join(dir, "bundle.json")); err != nil {
				t.Errorf("check did not see the unpacked bundle: %v", err)
			}
			return errors.New("kernel is not ELF")
		}})
	if err == nil || !strings.Contains(err.Error(), "kernel is not ELF") {
		t.Fatalf("err = %v", err)
	}
	assertUntouched(t, dest)
}

func TestFetchRejectsBadSources(t *testing.T) {
	dest := existingBundle(t)
	for _, src := range []string{"", "ftp://example.invalid/x.tar.gz", "file://otherhost/x.tar.gz", filepath.Join(t.TempDir(), "nope.tar.gz")} {
		if _, err := Fetch(context.Background(), FetchOptions{Source: src, SHA256: "00", Dest: dest}); err == nil {
			t.Errorf("source %q accepted", src)
		}
	}
	assertUntouched(t, dest)
}

func TestFetchAcceptsWrappedArchive(t *testing.T) {
	src := makeBundle(t) // .../runtime; pack its parent so entries start with runtime/
	archive, sum := packToFile(t, filepath.Dir(src))
	dest := filepath.Join(t.TempDir(), "rt")
	if _, err := Fetch(context.Background(), FetchOptions{Source: archive, SHA256: sum, Dest: dest}); err != nil {
		t.Fatal(err)
	}
	if got, want := treeDigest(t, dest), treeDigest(t, src); got != want {
		t.Fatalf("wrapped archive unpacked to\n%s\nwant\n%s", got, want)
	}
}

func TestLoadManifest(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.toml")
	os.WriteFile(p, []byte("url = \"x.tar.gz\"\nsha256 = \"\"\nsha265 = \"typo\"\n"), 0o644)
	if _, err := LoadManifest(p); err == nil || !strings.Contains(err.Error(), "sha265") {
		t.Fatalf("unknown key: err = %v", err)
	}
	// The repository's template must parse and describe an unset archive.
	m, err := LoadManifest("../../../runtime-bundle.toml")
	if err != nil {
		t.Fatal(err)
	}
	if m.URL != "" || m.SHA256 != "" || m.Metadata.KernelPackage == "" || len(m.Metadata.Files) == 0 {
		t.Errorf("runtime-bundle.toml: %+v", m)
	}
}
