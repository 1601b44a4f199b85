package artifacts

import (
	"strings"
	"testing"
)

func TestPinnedAreValid(t *testing.T) {
	want := map[string]string{
		"mise":           "jdxcode-mise-linux-x64-2026.9.15.tgz",
		"opencode":       "opencode-linux-x64-1.18.33.tgz",
		"tmux-resurrect": "tmux-resurrect-v4.0.0.bundle",
		"tmux-continuum": "tmux-continuum-v3.1.0.bundle",
	}
	got := map[string]string{}
	for _, a := range Pinned() {
		if err := a.Validate(); err != nil {
			t.Errorf("%s: %v", a.Name, err)
		}
		got[a.Name] = a.FileName()
	}
	if len(got) != len(want) {
		t.Fatalf("pinned %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: file name %q, want %q", k, got[k], v)
		}
	}
	if u := originURL(DefaultRegistry, Pinned()[0]); u != "https://registry.npmjs.org/@jdxcode/mise-linux-x64/-/mise-linux-x64-2026.9.15.tgz" {
		t.Errorf("origin %s", u)
	}
}

func TestValidateRejects(t *testing.T) {
	ok := Artifact{Name: "x", Kind: NPM, Package: "@s/p", Version: "1.0.0", Integrity: integrityOf([]byte("x")), Binary: "package/bin/x"}
	cases := []struct {
		name string
		edit func(*Artifact)
		want string
	}{
		{"name with slash", func(a *Artifact) { a.Name = "../x" }, `name "../x"`},
		{"package path", func(a *Artifact) { a.Package = "@s/../p" }, `package "@s/../p"`},
		{"scope without at", func(a *Artifact) { a.Package = "s/p" }, `package "s/p"`},
		{"version", func(a *Artifact) { a.Version = "^1.0.0" }, `version "^1.0.0"`},
		{"sha1 integrity", func(a *Artifact) { a.Integrity = "sha1-abc=" }, "sha512-<base64>"},
		{"short digest", func(a *Artifact) { a.Integrity = "sha512-YWJj" }, "not a base64 sha512"},
		{"binary escapes", func(a *Artifact) { a.Binary = "package/../../etc/x" }, "relative path inside"},
		{"kind", func(a *Artifact) { a.Kind = "svn" }, `kind "svn"`},
		{"git short commit", func(a *Artifact) { a.Kind, a.Tag, a.Commit = Git, "v1", "abc" }, "40-character"},
		{"git tag", func(a *Artifact) { a.Kind, a.Tag, a.Commit = Git, "v1/../x", strings.Repeat("a", 40) }, `tag "v1/../x"`},
	}
	for _, c := range cases {
		a := ok
		c.edit(&a)
		err := a.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseMirror(t *testing.T) {
	good := map[string]Mirror{
		"":                             {},
		"/srv/mirror/":                 {Dir: "/srv/mirror"},
		"file:///srv/mirror":           {Dir: "/srv/mirror"},
		"https://mirror.example/b/":    {URL: "https://mirror.example/b"},
		"http://127.0.0.1:8080/banger": {URL: "http://127.0.0.1:8080/banger"},
	}
	for in, want := range good {
		got, err := ParseMirror(in)
		if err != nil || got != want {
			t.Errorf("%q: got %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"mirror", "./mirror", "ftp://x/y", "file://host/x", "file://rel", "https:///x", "https://h/x?y=1"} {
		if _, err := ParseMirror(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestLookup(t *testing.T) {
	if a, err := Lookup("opencode"); err != nil || a.Package != "opencode-linux-x64" {
		t.Fatalf("%+v %v", a, err)
	}
	if _, err := Lookup("vim"); err == nil || !strings.Contains(err.Error(), "mise, opencode") {
		t.Fatalf("got %v", err)
	}
}
