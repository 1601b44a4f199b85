package artifacts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"banger/internal/execx"
	"banger/internal/testenv"
)

// fakeTarball is an npm-style .tgz holding package/package.json and an
// executable package/bin/<name>.
func fakeTarball(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name, body string
		mode       int64
	}{
		{"package/package.json", `{"name":"` + name + `"}`, 0o644},
		{"package/bin/" + name, body, 0o755},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func integrityOf(b []byte) string {
	sum := sha512.Sum512(b)
	return formatIntegrity(sum[:])
}

func npmArtifact(pkg, version string, tgz []byte) Artifact {
	return Artifact{Name: "tool", Kind: NPM, Package: pkg, Version: version, Integrity: integrityOf(tgz), Binary: "package/bin/tool"}
}

// server is an httptest server serving fixed paths and counting every
// request it gets, standing in for the npm registry or a mirror.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	reqs  []string
}

func newServer(t *testing.T, files map[string][]byte) *server {
	s := &server{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.URL.Path)
		b, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// dirFiles lists every entry in dir, hidden ones included, so a leftover
// temporary file fails a test.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func requireGit(t *testing.T) {
	t.Helper()
	_, err := execx.LookPath("git")
	testenv.RequireOrSkip(t, "git (not installed)", err == nil)
}

// gitRepo makes a repository with one file and an annotated tag, bundles
// it, and returns the bundle path and the tag's commit.
func gitRepo(t *testing.T, tag, content string) (bundle, commit string) {
	t.Helper()
	requireGit(t)
	dir := t.TempDir()
	ctx := context.Background()
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid"}
	run := func(args ...string) string {
		out, err := execx.Cmd{Argv: append([]string{"git"}, args...), Env: env, Dir: dir}.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(bytes.TrimSpace(out))
	}
	run("init", "--quiet", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "plugin.tmux"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", "plugin.tmux")
	run("commit", "--quiet", "-m", "first")
	commit = run("rev-parse", "HEAD")
	run("tag", "-a", "-m", "release", tag)
	// A later commit on the branch, so the tag is not simply HEAD.
	os.WriteFile(filepath.Join(dir, "plugin.tmux"), []byte(content+"# later\n"), 0o644)
	run("commit", "--quiet", "-am", "second")
	bundle = filepath.Join(t.TempDir(), "repo.bundle")
	run("bundle", "create", "--quiet", bundle, "--all")
	return bundle, commit
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
