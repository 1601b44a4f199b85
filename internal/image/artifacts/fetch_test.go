package artifacts

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const scopedPath = "/@acme/tool-linux-x64/-/tool-linux-x64-1.2.3.tgz"

func TestFetchOriginThenCacheWithoutNetwork(t *testing.T) {
	tgz := fakeTarball(t, "tool", "#!/bin/sh\necho tool 1.2.3\n")
	reg := newServer(t, map[string][]byte{scopedPath: tgz})
	a := npmArtifact("@acme/tool-linux-x64", "1.2.3", tgz)
	cache := t.TempDir()
	ctx := context.Background()

	f := &Fetcher{CacheDir: cache, Registry: reg.URL}
	r, err := f.Fetch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != SourceOrigin || r.From != reg.URL+scopedPath || r.Size != int64(len(tgz)) {
		t.Fatalf("first fetch: got %+v", r)
	}
	if r.Path != filepath.Join(cache, "acme-tool-linux-x64-1.2.3.tgz") {
		t.Fatalf("cached at %s", r.Path)
	}
	if got := dirFiles(t, cache); len(got) != 1 || got[0] != "acme-tool-linux-x64-1.2.3.tgz" {
		t.Fatalf("cache holds %v", got)
	}
	if got := reg.requests(); len(got) != 1 {
		t.Fatalf("registry requests after first fetch: %v", got)
	}

	// A second fetch, by a new Fetcher as a second CLI run would be, is
	// served from the cache with no request to the registry.
	f2 := &Fetcher{CacheDir: cache, Registry: reg.URL}
	r2, err := f2.Fetch(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Source != SourceCache || r2.Path != r.Path {
		t.Fatalf("second fetch: got %+v", r2)
	}
	if got := reg.requests(); len(got) != 1 {
		t.Fatalf("second fetch reached the registry: %v", got)
	}
}

func TestFetchIntegrityMismatchCachesNothing(t *testing.T) {
	tgz := fakeTarball(t, "tool", "real")
	reg := newServer(t, map[string][]byte{scopedPath: tgz})
	a := npmArtifact("@acme/tool-linux-x64", "1.2.3", fakeTarball(t, "tool", "what the pin was made from"))
	cache := t.TempDir()

	_, err := (&Fetcher{CacheDir: cache, Registry: reg.URL}).Fetch(context.Background(), a)
	var mm *MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("want a MismatchError, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"tool 1.2.3", reg.URL + scopedPath, "expected " + a.Integrity, "got " + integrityOf(tgz)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if got := dirFiles(t, cache); len(got) != 0 {
		t.Fatalf("cache holds %v after a mismatch", got)
	}
}

func TestFetchNoNetworkNoCache(t *testing.T) {
	reg := newServer(t, nil)
	reg.Close() // nothing listens: as with no network
	a := npmArtifact("@acme/tool-linux-x64", "1.2.3", []byte("x"))
	cache := t.TempDir()

	_, err := (&Fetcher{CacheDir: cache, Registry: reg.URL}).Fetch(context.Background(), a)
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("want an UnavailableError, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"tool 1.2.3", "artifact_mirror is not set", "cache " + cache, "origin " + reg.URL + scopedPath, "pre-seed artifact_mirror with acme-tool-linux-x64-1.2.3.tgz"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if got := dirFiles(t, cache); len(got) != 0 {
		t.Fatalf("cache holds %v", got)
	}
}

func TestFetchOriginNotFound(t *testing.T) {
	reg := newServer(t, nil)
	a := npmArtifact("tool-linux-x64", "9.9.9", []byte("x"))
	_, err := (&Fetcher{CacheDir: t.TempDir(), Registry: reg.URL}).Fetch(context.Background(), a)
	if err == nil || !strings.Contains(err.Error(), "/tool-linux-x64/-/tool-linux-x64-9.9.9.tgz: not found (HTTP 404)") {
		t.Fatalf("got %v", err)
	}
}

func TestFetchMirrorDirFirst(t *testing.T) {
	tgz := fakeTarball(t, "tool", "from the mirror")
	reg := newServer(t, map[string][]byte{scopedPath: tgz})
	a := npmArtifact("@acme/tool-linux-x64", "1.2.3", tgz)
	mirror, cache := t.TempDir(), t.TempDir()
	mf := filepath.Join(mirror, a.FileName())
	os.WriteFile(mf, tgz, 0o644)

	for _, m := range []string{mirror, "file://" + mirror} {
		r, err := (&Fetcher{Mirror: m, CacheDir: cache, Registry: reg.URL}).Fetch(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		if r.Source != SourceMirror || r.Path != mf {
			t.Fatalf("mirror %s: got %+v", m, r)
		}
	}
	if got := reg.requests(); len(got) != 0 {
		t.Fatalf("registry was asked: %v", got)
	}

	// A mirror file that does not match is an error, not a reason to go
	// around the mirror to the origin.
	os.WriteFile(mf, []byte("tampered"), 0o644)
	_, err := (&Fetcher{Mirror: mirror, CacheDir: cache, Registry: reg.URL}).Fetch(context.Background(), a)
	var mm *MismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), mf) {
		t.Fatalf("want a MismatchError naming %s, got %v", mf, err)
	}
	if got := reg.requests(); len(got) != 0 {
		t.Fatalf("registry was asked: %v", got)
	}
}

func TestFetchMirrorDirMissFallsThrough(t *testing.T) {
	tgz := fakeTarball(t, "tool", "x")
	reg := newServer(t, map[string][]byte{scopedPath: tgz})
	a := npmArtifact("@acme/tool-linux-x64", "1.2.3", tgz)
	mirror := t.TempDir()
	r, err := (&Fetcher{Mirror: mirror, CacheDir: t.TempDir(), Registry: reg.URL}).Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != SourceOrigin {
		t.Fatalf("got %+v", r)
	}
}

func TestFetchMirrorURL(t *testing.T) {
	tgz := fakeTarball(t, "tool", "served by a mirror")
	a := npmArtifact("@acme/tool-linux-x64", "1.2.3", tgz)
	mirror := newServer(t, map[string][]byte{"/pub/" + a.FileName(): tgz})
	reg := newServer(t, nil)
	cache := t.TempDir()
	f := &Fetcher{Mirror: mirror.URL + "/pub/", CacheDir: cache, Registry: reg.URL}

	r, err := f.Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != SourceMirror || r.From != mirror.URL+"/pub/"+a.FileName() || r.Path != filepath.Join(cache, a.FileName()) {
		t.Fatalf("got %+v", r)
	}
	// Downloads from a URL mirror are cached: the second fetch asks no one.
	r2, err := f.Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Source != SourceCache || len(mirror.requests()) != 1 || len(reg.requests()) != 0 {
		t.Fatalf("second fetch %+v; mirror requests %v, registry requests %v", r2, mirror.requests(), reg.requests())
	}
}

func TestFetchMirrorURLMissFallsBackToOrigin(t *testing.T) {
	tgz := fakeTarball(t, "tool", "x")
	a := npmArtifact("@acme/tool-linux-x64", "1.2.3", tgz)
	mirror := newServer(t, nil)
	reg := newServer(t, map[string][]byte{scopedPath: tgz})
	r, err := (&Fetcher{Mirror: mirror.URL, CacheDir: t.TempDir(), Registry: reg.URL}).Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != SourceOrigin || len(mirror.requests()) != 1 {
		t.Fatalf("got %+v, mirror requests %v", r, mirror.requests())
	}
}

func TestFetchDamagedCacheIsReplaced(t *testing.T) {
	tgz := fakeTarball(t, "tool", "x")
	reg := newServer(t, map[string][]byte{scopedPath: tgz})
	a := npmArtifact("@acme/tool-linux-x64", "1.2.3", tgz)
	cache := t.TempDir()
	os.WriteFile(filepath.Join(cache, a.FileName()), []byte("truncated"), 0o644)

	r, err := (&Fetcher{CacheDir: cache, Registry: reg.URL}).Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != SourceOrigin {
		t.Fatalf("got %+v", r)
	}
	if sum, _, _ := fileIntegrity(r.Path); integrityOf(tgz) != formatIntegrity(sum) {
		t.Fatal("cache still holds the damaged file")
	}
}

func TestFetchAllReportsEveryMissing(t *testing.T) {
	good := fakeTarball(t, "tool", "x")
	reg := newServer(t, map[string][]byte{"/good/-/good-1.0.0.tgz": good})
	arts := []Artifact{
		npmArtifact("missing-a", "1.0.0", []byte("a")),
		npmArtifact("good", "1.0.0", good),
		npmArtifact("missing-b", "1.0.0", []byte("b")),
	}
	var seen []string
	res, err := (&Fetcher{CacheDir: t.TempDir(), Registry: reg.URL}).FetchAll(context.Background(), arts, func(r Result) { seen = append(seen, r.Artifact.Package) })
	if len(res) != 1 || len(seen) != 1 || seen[0] != "good" {
		t.Fatalf("results %+v, progress %v", res, seen)
	}
	if err == nil || !strings.Contains(err.Error(), "missing-a-1.0.0.tgz") || !strings.Contains(err.Error(), "missing-b-1.0.0.tgz") {
		t.Fatalf("got %v", err)
	}
}

func TestExtractBinary(t *testing.T) {
	tgz := fakeTarball(t, "tool", "#!/bin/sh\necho hi\n")
	p := filepath.Join(t.TempDir(), "tool.tgz")
	os.WriteFile(p, tgz, 0o644)
	a := npmArtifact("tool", "1.0.0", tgz)
	dest := filepath.Join(t.TempDir(), "tool")
	if err := ExtractBinary(a, p, dest); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dest)
	st, _ := os.Stat(dest)
	if string(b) != "#!/bin/sh\necho hi\n" || st.Mode().Perm() != 0o755 {
		t.Fatalf("got %q mode %v", b, st.Mode())
	}
	a.Binary = "package/bin/other"
	if err := ExtractBinary(a, p, filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "has no package/bin/other") {
		t.Fatalf("got %v", err)
	}
}

func TestFillMirror(t *testing.T) {
	tgz := fakeTarball(t, "tool", "x")
	reg := newServer(t, map[string][]byte{scopedPath: tgz})
	a := npmArtifact("@acme/tool-linux-x64", "1.2.3", tgz)
	f := &Fetcher{CacheDir: t.TempDir(), Registry: reg.URL}
	r, err := f.Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "mirror")
	p, copied, err := f.FillMirror(context.Background(), r, out)
	if err != nil || !copied || p != filepath.Join(out, "acme-tool-linux-x64-1.2.3.tgz") {
		t.Fatalf("fill: %s %v %v", p, copied, err)
	}
	if _, copied, err = f.FillMirror(context.Background(), r, out); err != nil || copied {
		t.Fatalf("refill copied=%v err=%v", copied, err)
	}
	// The filled directory serves as a mirror on its own.
	r2, err := (&Fetcher{Mirror: out, CacheDir: t.TempDir(), Registry: "http://127.0.0.1:1"}).Fetch(context.Background(), a)
	if err != nil || r2.Source != SourceMirror {
		t.Fatalf("%+v %v", r2, err)
	}
}
