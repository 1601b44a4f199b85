package artifacts

import (
	"banger/internal/testenv"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gitArtifact(commit string) Artifact {
	return Artifact{Name: "tmux-thing", Kind: Git, Repo: "https://github.com/example/tmux-thing", Tag: "v1.0.0", Commit: commit}
}

func TestFetchGitFromMirrorDir(t *testing.T) {
	bundle, commit := gitRepo(t, "v1.0.0", "set -g @thing on\n")
	a := gitArtifact(commit)
	mirror := t.TempDir()
	copyFile(t, bundle, filepath.Join(mirror, "tmux-thing-v1.0.0.bundle"))
	f := &Fetcher{Mirror: mirror, CacheDir: t.TempDir()}

	r, err := f.Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != SourceMirror || r.Path != filepath.Join(mirror, "tmux-thing-v1.0.0.bundle") {
		t.Fatalf("got %+v", r)
	}

	dest := filepath.Join(t.TempDir(), "tmux-thing")
	if err := f.Checkout(context.Background(), a, r.Path, dest); err != nil {
		t.Fatal(err)
	}
	// The tag's tree, not the branch head's.
	if b, err := os.ReadFile(filepath.Join(dest, "plugin.tmux")); err != nil || string(b) != "set -g @thing on\n" {
		t.Fatalf("checkout: %q %v", b, err)
	}
}

func TestFetchGitCommitMismatch(t *testing.T) {
	bundle, commit := gitRepo(t, "v1.0.0", "x\n")
	wrong := strings.Repeat("a", 40)
	a := gitArtifact(wrong)
	mirror := newServer(t, map[string][]byte{})
	b, _ := os.ReadFile(bundle)
	mirror.files["/tmux-thing-v1.0.0.bundle"] = b
	cache := t.TempDir()

	_, err := (&Fetcher{Mirror: mirror.URL, CacheDir: cache}).Fetch(context.Background(), a)
	var mm *MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("want a MismatchError, got %v", err)
	}
	for _, want := range []string{"tmux-thing v1.0.0", "expected tag v1.0.0 at commit " + wrong, "got commit " + commit} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if got := dirFiles(t, cache); len(got) != 0 {
		t.Fatalf("cache holds %v after a mismatch", got)
	}

	// Checkout refuses a bundle whose tag moved, too.
	dest := filepath.Join(t.TempDir(), "co")
	if err := (&Fetcher{}).Checkout(context.Background(), a, bundle, dest); !errors.As(err, &mm) {
		t.Fatalf("checkout: want a MismatchError, got %v", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("failed checkout left %s", dest)
	}
}

func TestFetchGitBundleWithoutTag(t *testing.T) {
	bundle, commit := gitRepo(t, "v0.9.0", "x\n")
	a := gitArtifact(commit) // pins v1.0.0, which the bundle lacks
	mirror := t.TempDir()
	copyFile(t, bundle, filepath.Join(mirror, a.FileName()))
	_, err := (&Fetcher{Mirror: mirror, CacheDir: t.TempDir()}).Fetch(context.Background(), a)
	var mm *MismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "v1.0.0") {
		t.Fatalf("got %v", err)
	}
}

func TestFetchGitURLMirrorCachesThenOffline(t *testing.T) {
	bundle, commit := gitRepo(t, "v1.0.0", "x\n")
	a := gitArtifact(commit)
	b, _ := os.ReadFile(bundle)
	mirror := newServer(t, map[string][]byte{"/tmux-thing-v1.0.0.bundle": b})
	cache := t.TempDir()

	r, err := (&Fetcher{Mirror: mirror.URL, CacheDir: cache}).Fetch(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != SourceMirror || r.Path != filepath.Join(cache, "tmux-thing-v1.0.0.bundle") {
		t.Fatalf("got %+v", r)
	}
	mirror.Close()
	r, err = (&Fetcher{Mirror: mirror.URL, CacheDir: cache}).Fetch(context.Background(), a)
	if err != nil || r.Source != SourceCache {
		t.Fatalf("offline refetch: %+v %v", r, err)
	}
	if n := len(mirror.requests()); n != 1 {
		t.Fatalf("mirror requests: %d", n)
	}
}

func TestFetchGitMissingNamesLayout(t *testing.T) {
	requireGit(t)
	a := gitArtifact(strings.Repeat("b", 40))
	mirror := t.TempDir()
	_, err := (&Fetcher{Mirror: mirror, CacheDir: t.TempDir()}).Fetch(context.Background(), a)
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("want an UnavailableError, got %v", err)
	}
	for _, want := range []string{
		"tmux-thing v1.0.0", "mirror " + mirror + ": no tmux-thing-v1.0.0.bundle",
		"origin https://github.com/example/tmux-thing: not downloaded by banger",
		"pre-seed artifact_mirror with tmux-thing-v1.0.0.bundle", "tag v1.0.0 at commit " + a.Commit,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// TestUpstreamBundles fetches the pinned tmux plugins from the shared
// upstream bundles beside the repository (../shared/upstream), the mirror
// the image build's end-to-end test uses.
func TestUpstreamBundles(t *testing.T) {
	requireGit(t)
	dir := filepath.Join(repoRoot(t), "..", "shared", "upstream")
	_, err := os.Stat(dir)
	testenv.RequireOrSkip(t, fmt.Sprintf("the upstream bundles beside the repository (%v)", err), err == nil)
	f := &Fetcher{Mirror: dir, CacheDir: t.TempDir()}
	for _, a := range Pinned() {
		if a.Kind != Git {
			continue
		}
		r, err := f.Fetch(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		if r.Source != SourceMirror {
			t.Fatalf("%s: %+v", a, r)
		}
		dest := filepath.Join(t.TempDir(), a.Name)
		if err := f.Checkout(context.Background(), a, r.Path, dest); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dest, strings.TrimPrefix(a.Name, "tmux-")+".tmux")); err != nil {
			t.Errorf("%s checkout lacks its plugin script: %v", a, err)
		}
	}
}

// repoRoot is the directory holding go.mod above the test's directory.
func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// A cache entry that cannot be checked (here: no git) is an error and is
// kept; only an entry that fails to match is dropped.
func TestFetchKeepsCacheEntryItCannotCheck(t *testing.T) {
	bundle, commit := gitRepo(t, "v1.0.0", "x\n")
	a := gitArtifact(commit)
	cache := t.TempDir()
	copyFile(t, bundle, filepath.Join(cache, a.FileName()))
	_, err := (&Fetcher{CacheDir: cache, GitBin: "/nonexistent/git"}).Fetch(context.Background(), a)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/git") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, a.FileName())); err != nil {
		t.Fatalf("cache entry removed: %v", err)
	}
	r, err := (&Fetcher{CacheDir: cache}).Fetch(context.Background(), a)
	if err != nil || r.Source != SourceCache {
		t.Fatalf("%+v %v", r, err)
	}
}
