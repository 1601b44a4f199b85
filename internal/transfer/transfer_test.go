package transfer

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	good := []struct {
		args []string
		dir  Direction
		vm   string
	}{
		{[]string{"a.txt", "web:/root/"}, Upload, "web"},
		{[]string{"a", "b", "web:dir"}, Upload, "web"},
		{[]string{"-", "web:/x"}, Upload, "web"},
		{[]string{"web:/etc/hosts", "."}, Download, "web"},
		{[]string{"web:/a", "web:/b", "out"}, Download, "web"},
		{[]string{"web:/etc/hosts", "-"}, Download, "web"},
		{[]string{"./a:b", "web:/x"}, Upload, "web"},
	}
	for _, g := range good {
		p, err := ParseArgs(g.args)
		if err != nil || p.Dir != g.dir || p.VM != g.vm {
			t.Errorf("ParseArgs(%q) = %+v, %v", g.args, p, err)
		}
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"a", "b"}, "no VM path"},
		{[]string{"web:/a", "db:/b"}, "both sides"},
		{[]string{"web:/a", "web:/b"}, "both sides"},
		{[]string{"web:/a", "db:/b", "out"}, "two VMs"},
		{[]string{"web:/a", "local", "out"}, "some sources"},
		{[]string{"-", "a", "web:/x"}, "only source"},
		{[]string{"web:/a", "web:/b", "-"}, "single source"},
		{[]string{"web:", "x"}, "no path after the colon"},
		{[]string{":/a", "x"}, "no VM name"},
		{[]string{"x"}, "needs a SRC and a DST"},
	}
	for _, b := range bad {
		if _, err := ParseArgs(b.args); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ParseArgs(%q) = %v, want an error with %q", b.args, err, b.want)
		}
	}
	for _, p := range []string{"/", "dir/.", "..", "."} {
		if _, err := BaseName(p); err == nil {
			t.Errorf("BaseName(%q) accepted", p)
		}
	}
	if b, err := BaseName("/root/proj/"); b != "proj" || err != nil {
		t.Errorf("BaseName(/root/proj/) = %q, %v", b, err)
	}
}

func TestPackUnpackRoundTrip(t *testing.T) {
	src := t.TempDir()
	tree := filepath.Join(src, "proj")
	os.MkdirAll(filepath.Join(tree, "bin"), 0o755)
	os.WriteFile(filepath.Join(tree, "bin", "run"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(tree, "secret"), []byte("s"), 0o600)
	os.Symlink("bin/run", filepath.Join(tree, "link"))
	os.Mkdir(filepath.Join(tree, "ro"), 0o755)
	os.WriteFile(filepath.Join(tree, "ro", "f"), []byte("f"), 0o644)
	os.Chmod(filepath.Join(tree, "ro"), 0o555)
	defer os.Chmod(filepath.Join(tree, "ro"), 0o755)

	srcs := []Source{{Path: tree, Name: "copy"}}
	if _, err := Measure(srcs, false); err == nil || !strings.Contains(err.Error(), "-r") {
		t.Errorf("directory without -r: %v", err)
	}
	if n, err := Measure(srcs, true); err != nil || n != int64(len("#!/bin/sh\n")+2) {
		t.Errorf("Measure = %d, %v", n, err)
	}
	var buf bytes.Buffer
	if err := Pack(&buf, srcs, nil); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Unpack(&buf, dst, map[string]string{"copy": "copy"}, nil); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Join(dst, "copy", "ro"), 0o755)
	for name, mode := range map[string]fs.FileMode{"bin/run": 0o755, "secret": 0o600, "ro": 0o555 | fs.ModeDir, "ro/f": 0o644} {
		st, err := os.Lstat(filepath.Join(dst, "copy", name))
		if err != nil || st.Mode() != mode {
			t.Errorf("%s: %v, %v; want %v", name, st.Mode(), err, mode)
		}
	}
	if l, _ := os.Readlink(filepath.Join(dst, "copy", "link")); l != "bin/run" {
		t.Errorf("symlink -> %q", l)
	}
}

// tarOf builds a tar stream as a hostile guest could.
func tarOf(t *testing.T, entries ...tar.Header) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		h := h
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "payload"
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return &b
}

func TestUnpackRefusesWhatWasNotAskedFor(t *testing.T) {
	names := map[string]string{"f": "f", "d": "renamed"}
	cases := []struct {
		name    string
		entries []tar.Header
	}{
		{"dot-dot", []tar.Header{{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{"absolute", []tar.Header{{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{"nested dot-dot", []tar.Header{{Name: "d/../../evil", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{"unasked top name", []tar.Header{{Name: "other", Typeflag: tar.TypeReg, Mode: 0o644}}},
		{"through a symlink", []tar.Header{
			{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "d/out", Typeflag: tar.TypeSymlink, Linkname: "OUTSIDE"},
			{Name: "d/out/evil", Typeflag: tar.TypeReg, Mode: 0o644},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			dst := filepath.Join(base, "dst")
			outside := filepath.Join(base, "OUTSIDE")
			os.Mkdir(dst, 0o755)
			os.Mkdir(outside, 0o755)
			for i := range c.entries {
				if c.entries[i].Linkname == "OUTSIDE" {
					c.entries[i].Linkname = outside
				}
			}
			err := Unpack(tarOf(t, c.entries...), dst, names, nil)
			if err == nil {
				t.Fatalf("unpacked a hostile stream")
			}
			if _, err := os.Stat(filepath.Join(outside, "evil")); err == nil {
				t.Errorf("wrote through the symlink")
			}
			if _, err := os.Stat(filepath.Join(base, "evil")); err == nil {
				t.Errorf("wrote outside the destination")
			}
		})
	}

	// Set-id bits are dropped, devices and hard links skipped, the
	// directory renamed.
	dst := t.TempDir()
	var skipped []string
	err := Unpack(tarOf(t,
		tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "d/suid", Typeflag: tar.TypeReg, Mode: 0o4755},
		tar.Header{Name: "d/dev", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
		tar.Header{Name: "d/hard", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"},
	), dst, names, func(n string) { skipped = append(skipped, n) })
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dst, "renamed", "suid")); err != nil || st.Mode() != 0o755 {
		t.Errorf("suid file: %v, %v", st.Mode(), err)
	}
	if len(skipped) != 2 {
		t.Errorf("skipped %q", skipped)
	}
}
