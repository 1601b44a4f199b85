package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name, link string
	typ        byte
	body       string
}

func tarGz(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestUnpackRejectsHostileArchives(t *testing.T) {
	file := func(n string) entry { return entry{name: n, typ: tar.TypeReg, body: "pwned"} }
	cases := map[string][]entry{
		"absolute path":          {file("/tmp/banger-pwned")},
		"dot-dot":                {file("../pwned")},
		"nested dot-dot":         {file("a/../../pwned")},
		"absolute symlink":       {{name: "etc", link: "/etc", typ: tar.TypeSymlink}},
		"escaping symlink":       {{name: "a/up", link: "../../outside", typ: tar.TypeSymlink}},
		"write through symlink":  {{name: "up", link: "..", typ: tar.TypeSymlink}},
		"symlink chain escape":   {{name: "a/b", link: "..", typ: tar.TypeSymlink}, {name: "c", link: "a/b/..", typ: tar.TypeSymlink}},
		"file via outside link":  {{name: "a/b", link: "..", typ: tar.TypeSymlink}, {name: "c", link: "a/b/..", typ: tar.TypeSymlink}, file("c/pwned")},
		"hardlink absolute":      {{name: "passwd", link: "/etc/passwd", typ: tar.TypeLink}},
		"hardlink dot-dot":       {{name: "x", link: "../outside", typ: tar.TypeLink}},
		"hardlink to nothing":    {{name: "x", link: "missing", typ: tar.TypeLink}},
		"hardlink to symlink":    {{name: "l", link: "target", typ: tar.TypeSymlink}, {name: "x", link: "l", typ: tar.TypeLink}},
		"char device":            {{name: "console", typ: tar.TypeChar}},
		"block device":           {{name: "sda", typ: tar.TypeBlock}},
		"fifo":                   {{name: "pipe", typ: tar.TypeFifo}},
		"duplicate over symlink": {{name: "f", link: "g", typ: tar.TypeSymlink}, file("f")},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "deep", "unpack")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := Unpack(bytes.NewReader(tarGz(t, entries)), dir)
			if err == nil {
				t.Fatal("hostile archive accepted")
			}
			for _, p := range []string{filepath.Join(base, "deep", "pwned"), filepath.Join(base, "pwned"), filepath.Join(base, "deep", "outside")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was created outside the unpack directory", p)
				}
			}
		})
	}
}

func TestUnpackAllowsInnerLinks(t *testing.T) {
	dir := t.TempDir()
	entries := []entry{
		{name: "./", typ: tar.TypeDir},
		{name: "./modules/6.1/", typ: tar.TypeDir},
		{name: "./modules/6.1/modules.dep", typ: tar.TypeReg, body: "dep"},
		{name: "./current", link: "modules/6.1", typ: tar.TypeSymlink},
		{name: "./modules/6.1/up", link: "../../current", typ: tar.TypeSymlink},
		{name: "./dep-copy", link: "modules/6.1/modules.dep", typ: tar.TypeLink},
		{name: "./dangling", link: "not-yet", typ: tar.TypeSymlink},
	}
	st, err := Unpack(bytes.NewReader(tarGz(t, entries)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 1 || st.Symlinks != 3 || st.Hardlinks != 1 {
		t.Errorf("stats %+v", st)
	}
	b, err := os.ReadFile(filepath.Join(dir, "current", "up", "modules.dep"))
	if err != nil || string(b) != "dep" {
		t.Errorf("reading through inner links: %q, %v", b, err)
	}
}

func TestUnpackRejectsGarbage(t *testing.T) {
	_, err := Unpack(strings.NewReader("this is not gzip"), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Fatalf("err = %v", err)
	}
}
