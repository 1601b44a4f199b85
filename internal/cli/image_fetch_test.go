package cli

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"banger/internal/image/artifacts"
)

// isolate points every banger directory at a temporary HOME and makes any
// attempt to start bangerd fail, so a test proves no daemon is needed.
func isolate(t *testing.T) string {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, ".state"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run"))
	t.Setenv("BANGER_DAEMON_BIN", "/nonexistent/bangerd")
	t.Setenv("BANGER_ARTIFACT_MIRROR", "")
	return home
}

func TestImageFetchHelpNeedsNoDaemon(t *testing.T) {
	isolate(t)
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"image", "fetch", "--help"}, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	if code != ExitOK || !strings.Contains(out.String(), "--mirror") || !strings.Contains(out.String(), "<name>-<tag>.bundle") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
}

func TestImageFetchFillsMirrorThenUsesCache(t *testing.T) {
	home := isolate(t)
	tgz := []byte("a stand-in for an npm tarball")
	sum := sha512.Sum512(tgz)
	a := artifacts.Artifact{Name: "tool", Kind: artifacts.NPM, Package: "tool-linux-x64", Version: "1.0.0",
		Integrity: "sha512-" + base64.StdEncoding.EncodeToString(sum[:]), Binary: "package/bin/tool"}
	var reqs atomic.Int32
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		if r.URL.Path != "/tool-linux-x64/-/tool-linux-x64-1.0.0.tgz" {
			http.NotFound(w, r)
			return
		}
		w.Write(tgz)
	}))
	defer reg.Close()
	mirror := filepath.Join(home, "usb", "mirror")

	var out bytes.Buffer
	e := &env{io: IO{Out: &out, ErrOut: &out}}
	o := imageFetchOptions{Mirror: mirror, Artifacts: []artifacts.Artifact{a}, Registry: reg.URL}
	if err := runImageFetch(context.Background(), e, o); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(mirror, "tool-linux-x64-1.0.0.tgz")); err != nil || !bytes.Equal(b, tgz) {
		t.Fatalf("mirror file: %v", err)
	}
	if !strings.Contains(out.String(), "origin") || !strings.Contains(out.String(), "holds all 1 artifacts") {
		t.Fatalf("output:\n%s", out.String())
	}

	out.Reset()
	o = imageFetchOptions{JSON: true, Artifacts: []artifacts.Artifact{a}, Registry: reg.URL}
	if err := runImageFetch(context.Background(), &env{io: IO{Out: &out, ErrOut: &out}}, o); err != nil {
		t.Fatal(err)
	}
	var got []fetchedArtifact
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	wantPath := filepath.Join(home, ".cache", "banger", "artifacts", "tool-linux-x64-1.0.0.tgz")
	if len(got) != 1 || got[0].Source != "cache" || got[0].Path != wantPath || got[0].Size != int64(len(tgz)) {
		t.Fatalf("got %+v", got)
	}
	if n := reqs.Load(); n != 1 {
		t.Fatalf("registry requests: %d, want 1 (the second run must not download)", n)
	}
}

func TestImageFetchRefusesMirrorThatIsAFile(t *testing.T) {
	home := isolate(t)
	f := filepath.Join(home, "file")
	os.WriteFile(f, nil, 0o644)
	err := runImageFetch(context.Background(), &env{io: IO{Out: &bytes.Buffer{}}}, imageFetchOptions{Mirror: f, Artifacts: []artifacts.Artifact{}})
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("got %v", err)
	}
}

func TestUnavailableArtifactHint(t *testing.T) {
	a, _ := artifacts.Lookup("tmux-resurrect")
	err := errors.Join(errors.New("other"), &artifacts.UnavailableError{Artifact: a})
	var buf bytes.Buffer
	printError(&buf, err)
	if !strings.Contains(buf.String(), "hint: on a host that reaches the npm registry, run `banger image fetch --mirror DIR`") {
		t.Fatalf("got %s", buf.String())
	}
}
