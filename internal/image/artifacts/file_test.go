package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fileArtifact(name string, data []byte, origin string) Artifact {
	sum := sha256.Sum256(data)
	return Artifact{Name: strings.TrimSuffix(name, ".x86_64.xbps"), Kind: File, File: name, SHA256: hex.EncodeToString(sum[:]), Origin: origin}
}

func TestFetchFileFromOriginURLThenCache(t *testing.T) {
	data := []byte("package bytes")
	srv := newServer(t, map[string][]byte{"/current/bash-5.2_1.x86_64.xbps": data})
	a := fileArtifact("bash-5.2_1.x86_64.xbps", data, srv.URL+"/current")
	cache := t.TempDir()
	r, err := (&Fetcher{CacheDir: cache}).Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != SourceOrigin || r.Path != filepath.Join(cache, a.File) {
		t.Fatalf("got %+v", r)
	}
	r, err = (&Fetcher{CacheDir: cache}).Fetch(context.Background(), a)
	if err != nil || r.Source != SourceCache || len(srv.requests()) != 1 {
		t.Fatalf("second fetch %+v %v, requests %v", r, err, srv.requests())
	}
}

func TestFetchFileMismatchNamesTheFileAndCachesNothing(t *testing.T) {
	srv := newServer(t, map[string][]byte{"/current/bash-5.2_1.x86_64.xbps": []byte("tampered")})
	a := fileArtifact("bash-5.2_1.x86_64.xbps", []byte("genuine"), srv.URL+"/current")
	cache := t.TempDir()
	_, err := (&Fetcher{CacheDir: cache}).Fetch(context.Background(), a)
	var mm *MismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "bash-5.2_1") || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("err %v", err)
	}
	if got := dirFiles(t, cache); len(got) != 0 {
		t.Fatalf("cache holds %v", got)
	}
}

func TestFetchFileFromOriginDirectoryInPlace(t *testing.T) {
	data := []byte("package bytes")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x-1_1.noarch.xbps"), data, 0o644)
	a := fileArtifact("x-1_1.noarch.xbps", data, dir)
	cache := t.TempDir()
	r, err := (&Fetcher{CacheDir: cache}).Fetch(context.Background(), a)
	if err != nil || r.Source != SourceOrigin || r.Path != filepath.Join(dir, a.File) {
		t.Fatalf("got %+v %v", r, err)
	}
	if got := dirFiles(t, cache); len(got) != 0 {
		t.Fatalf("a local origin was copied into the cache: %v", got)
	}
	// A mirror directory wins over the origin.
	mirror := t.TempDir()
	os.WriteFile(filepath.Join(mirror, a.File), data, 0o644)
	r, err = (&Fetcher{CacheDir: cache, Mirror: mirror}).Fetch(context.Background(), a)
	if err != nil || r.Source != SourceMirror {
		t.Fatalf("with a mirror: %+v %v", r, err)
	}
}

func TestFileArtifactValidate(t *testing.T) {
	good := fileArtifact("a-1_1.x86_64.xbps", []byte("x"), "https://repo.example/current")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Artifact){
		"file":   func(a *Artifact) { a.File = "../etc/passwd" },
		"sha256": func(a *Artifact) { a.SHA256 = "ABC" },
		"origin": func(a *Artifact) { a.Origin = "ftp://x" },
	} {
		a := good
		mutate(&a)
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestFetchUnpinned(t *testing.T) {
	index := []byte("index v2")
	srv := newServer(t, map[string][]byte{"/current/x86_64-repodata": index})
	cache := t.TempDir()
	ctx := context.Background()
	// Always from the origin, never from the cache (which only records).
	for i := 0; i < 2; i++ {
		r, err := (&Fetcher{CacheDir: cache}).FetchUnpinned(ctx, "x86_64-repodata", srv.URL+"/current")
		if err != nil || r.Source != SourceOrigin {
			t.Fatalf("fetch %d: %+v %v", i, r, err)
		}
	}
	if got := srv.requests(); len(got) != 2 {
		t.Fatalf("requests %v", got)
	}
	// An artifact_mirror copy wins.
	mirror := t.TempDir()
	os.WriteFile(filepath.Join(mirror, "x86_64-repodata"), []byte("snapshot"), 0o644)
	r, err := (&Fetcher{CacheDir: cache, Mirror: mirror}).FetchUnpinned(ctx, "x86_64-repodata", srv.URL+"/current")
	if err != nil || r.Source != SourceMirror || r.Path != filepath.Join(mirror, "x86_64-repodata") {
		t.Fatalf("with mirror: %+v %v", r, err)
	}
	// Unreachable: every source is named, nothing is left in the cache.
	empty := t.TempDir()
	_, err = (&Fetcher{CacheDir: empty}).FetchUnpinned(ctx, "x86_64-repodata", "http://127.0.0.1:1/current")
	var ue *UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "http://127.0.0.1:1/current/x86_64-repodata") {
		t.Fatalf("err %v", err)
	}
	if got := dirFiles(t, empty); len(got) != 0 {
		t.Fatalf("cache holds %v after a failure", got)
	}
	if _, err := (&Fetcher{CacheDir: empty}).FetchUnpinned(ctx, "x", "relative/dir"); err == nil || !strings.Contains(err.Error(), `origin "relative/dir"`) {
		t.Fatalf("relative origin: err %v", err)
	}
}
