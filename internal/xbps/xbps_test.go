package xbps_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"banger/internal/xbps"
	"banger/internal/xbps/xbpstest"
)

// An index entry as xbps-rindex writes it (trimmed).
const indexEntry = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>bash</key>
	<dict>
		<key>alternatives</key>
		<dict>
			<key>sh</key>
			<array>
				<string>/usr/bin/sh:/usr/bin/bash</string>
			</array>
		</dict>
		<key>architecture</key>
		<string>x86_64</string>
		<key>filename-sha256</key>
		<string>ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789</string>
		<key>filename-size</key>
		<integer>1234567</integer>
		<key>pkgver</key>
		<string>bash-5.2.21_1</string>
		<key>preserve</key>
		<true/>
		<key>run_depends</key>
		<array>
			<string>glibc&gt;=2.36_1</string>
			<string>readline&gt;=8.0_1</string>
		</array>
		<key>short_desc</key>
		<string>GNU Bourne Again Shell &amp; more</string>
	</dict>
</dict>
</plist>
`

func TestParsePlistIndexEntry(t *testing.T) {
	v, err := xbps.ParsePlist([]byte(indexEntry))
	if err != nil {
		t.Fatal(err)
	}
	bash := v.(map[string]any)["bash"].(map[string]any)
	if bash["pkgver"] != "bash-5.2.21_1" || bash["filename-size"] != int64(1234567) || bash["preserve"] != true {
		t.Fatalf("parsed %#v", bash)
	}
	if got := bash["run_depends"].([]any); !reflect.DeepEqual(got, []any{"glibc>=2.36_1", "readline>=8.0_1"}) {
		t.Fatalf("run_depends %#v", got)
	}
	if bash["short_desc"] != "GNU Bourne Again Shell & more" {
		t.Fatalf("short_desc %q", bash["short_desc"])
	}
	// Round trip through the encoder.
	b, err := xbps.MarshalPlist(v)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := xbps.ParsePlist(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, v2) {
		t.Fatalf("round trip changed the value:\n%#v\n%#v", v, v2)
	}
}

func TestParsePlistRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not xml":      "hello",
		"wrong root":   "<dict></dict>",
		"key no value": "<plist><dict><key>a</key></dict></plist>",
		"bad integer":  "<plist><integer>x</integer></plist>",
		"unknown type": "<plist><real>1.5</real></plist>",
		"nested deep":  "<plist>" + strings.Repeat("<array>", 100) + strings.Repeat("</array>", 100) + "</plist>",
	} {
		if _, err := xbps.ParsePlist([]byte(in)); err == nil {
			t.Errorf("%s: parsed %q", name, in)
		}
	}
}

func TestVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0_1", "1.0_1", 0},
		{"1.0_2", "1.0_1", 1},
		{"1.10_1", "1.9_1", 1},
		{"2.36_1", "2.4_1", 1},
		{"1.0rc1_1", "1.0_1", -1},
		{"1.0beta_1", "1.0rc1_1", -1},
		{"1.0a_1", "1.0_1", 1},
		{"1.0.1_1", "1.0_1", 1},
	} {
		if got := xbps.CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	for _, c := range []struct {
		pkgver, pattern string
		want            bool
	}{
		{"glibc-2.39_1", "glibc>=2.36_1", true},
		{"glibc-2.30_1", "glibc>=2.36_1", false},
		{"glibc-2.39_1", "glibcx>=2.36_1", false},
		{"foo-1.5_1", "foo>1.0<2.0", true},
		{"foo-2.5_1", "foo>1.0<2.0", false},
		{"foo-1.0_1", "foo-1.0_1", true},
		{"foo-1.0_1", "foo-1.0_2", false},
		{"foo-1.0_1", "foo-1.*", true},
		{"foo-1.0_1", "foo", true},
		{"foobar-1.0_1", "foo", false},
		{"awk-0_1", "awk>=0", true},
	} {
		if got := xbps.MatchPattern(c.pkgver, c.pattern); got != c.want {
			t.Errorf("MatchPattern(%s, %s) = %v, want %v", c.pkgver, c.pattern, got, c.want)
		}
	}
	for pattern, want := range map[string]string{"glibc>=2.36_1": "glibc", "foo-bar-1.0_1": "foo-bar", "foo-[0-9]*": "foo", "python3": "python3"} {
		if got := xbps.PatternName(pattern); got != want {
			t.Errorf("PatternName(%s) = %s, want %s", pattern, got, want)
		}
	}
}

func testRepo(t *testing.T, pkgs []xbpstest.Pkg) (*xbps.Index, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := xbpstest.Repo(dir, pkgs, nil); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "current", "x86_64-repodata"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ix, err := xbps.ReadIndex(f, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	return ix, dir
}

func names(ps []*xbps.Package) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestResolveOrderVirtualAndErrors(t *testing.T) {
	ix, _ := testRepo(t, []xbpstest.Pkg{
		{Name: "glibc", Version: "2.39_1"},
		{Name: "mawk", Version: "1.3_1", Provides: []string{"awk-0_1"}, Depends: []string{"glibc>=2.36_1"}},
		{Name: "gawk", Version: "5.3_1", Provides: []string{"awk-0_1"}, Depends: []string{"glibc>=2.36_1"}},
		{Name: "tool", Version: "1.0_1", Depends: []string{"awk>=0", "glibc>=2.36_1"}},
		{Name: "cyc-a", Version: "1_1", Depends: []string{"cyc-b>=0"}},
		{Name: "cyc-b", Version: "1_1", Depends: []string{"cyc-a>=0"}},
		{Name: "needs-new", Version: "1_1", Depends: []string{"glibc>=3.0_1"}},
		{Name: "needs-ghost", Version: "1_1", Depends: []string{"ghost>=1"}},
		{Name: "x", Version: "1_1", Conflicts: []string{"glibc>=0"}},
	})
	if len(ix.Packages) != 9 {
		t.Fatalf("index has %d packages", len(ix.Packages))
	}
	got, err := ix.Resolve([]string{"tool"})
	if err != nil {
		t.Fatal(err)
	}
	// gawk sorts before mawk: the first provider by name.
	if want := []string{"glibc", "gawk", "tool"}; !reflect.DeepEqual(names(got), want) {
		t.Fatalf("resolve tool = %v, want %v", names(got), want)
	}
	// A requested provider wins.
	got, err = ix.Resolve([]string{"tool", "mawk"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"glibc", "mawk", "tool"}; !reflect.DeepEqual(names(got), want) {
		t.Fatalf("resolve tool mawk = %v, want %v", names(got), want)
	}
	if got, err = ix.Resolve([]string{"cyc-a"}); err != nil || len(got) != 2 {
		t.Fatalf("cycle: %v %v", names(got), err)
	}
	for req, want := range map[string]string{
		"needs-new":   `needs-new-1_1 needs "glibc>=3.0_1" but the repository has glibc-2.39_1`,
		"needs-ghost": `needs-ghost-1_1 needs "ghost>=1": no package`,
		"nothere":     `packages.void needs "nothere"`,
		"x":           "x-1_1 conflicts with glibc-2.39_1",
	} {
		_, err := ix.Resolve([]string{req, "glibc"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("resolve %s: err %v, want it to contain %q", req, err, want)
		}
	}
}

func TestReadPackage(t *testing.T) {
	p := xbpstest.Pkg{Name: "hello", Version: "1.0_1", Install: []byte("#!/bin/sh\necho hi\n"), Files: []xbpstest.File{
		{Path: "usr/bin", Dir: true},
		{Path: "usr/bin/hello", Data: []byte("binary"), Mode: 0o4755},
		{Path: "usr/bin/hi", Link: "hello"},
	}}
	b, err := p.Build()
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	c, err := xbps.ReadPackage(bytes.NewReader(b), func(e xbps.Entry, r io.Reader) error {
		data, _ := io.ReadAll(r)
		seen = append(seen, e.Name+":"+string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Props.Pkgver != "hello-1.0_1" || string(c.Install) != "#!/bin/sh\necho hi\n" || c.FilesList == nil {
		t.Fatalf("contents %+v", c)
	}
	if want := []string{"usr/bin:", "usr/bin/hello:binary", "usr/bin/hi:"}; !reflect.DeepEqual(seen, want) {
		t.Fatalf("payload %v, want %v", seen, want)
	}
}

func TestReadPackageRefusesEscapes(t *testing.T) {
	for _, name := range []string{"./../etc/passwd", "/etc/passwd", "./usr/../../x"} {
		var raw bytes.Buffer
		tw := tar.NewWriter(&raw)
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644})
		tw.Close()
		_, err := xbps.ReadPackage(bytes.NewReader(raw.Bytes()), func(xbps.Entry, io.Reader) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "entry") {
			t.Errorf("%s: err %v", name, err)
		}
	}
	// Device nodes are not something a package may install.
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	tw.WriteHeader(&tar.Header{Name: "./dev/sda", Typeflag: tar.TypeBlock, Mode: 0o644})
	tw.Close()
	if _, err := xbps.ReadPackage(bytes.NewReader(raw.Bytes()), func(xbps.Entry, io.Reader) error { return nil }); err == nil || !strings.Contains(err.Error(), "unsupported type") {
		t.Errorf("block device: err %v", err)
	}
}

func TestReadIndexRejectsForeignArch(t *testing.T) {
	dir := t.TempDir()
	if _, err := xbpstest.Repo(dir, []xbpstest.Pkg{{Name: "a", Version: "1_1", Arch: "aarch64"}}, nil); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(dir, "current", "x86_64-repodata"))
	defer f.Close()
	if _, err := xbps.ReadIndex(f, "x86_64"); err == nil || !strings.Contains(err.Error(), "is for aarch64") {
		t.Fatalf("err %v", err)
	}
	if _, err := xbps.ReadIndex(strings.NewReader("\xfd7zXZ\x00junk"), "x86_64"); err == nil || !strings.Contains(err.Error(), "xz") {
		t.Fatalf("xz: err %v", err)
	}
}

// voidKey is the public key of Void Linux's official repositories, as the
// xbps sources ship it (data/60:ae:0c:d6:f0:95:17:80:bc:93:46:7a:89:af:a3:2d.plist).
const voidKey = `-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAvrSzBZMvgvOCI3AXbOja
2rKRkJSTM3c/EjTIgCgDXgum93BPCtY8McFVoCU4OiXHGfTmq39BVNpLvLHL9Kk1
p278SBhXVOtbB2EVmDKnvfIDETldLGze7rZNRJdtuN2mZ/TVrUB9S0yQc+Iuf4hv
3+D97VIdTJHA7ASr0428ppEGJGwSShY2XJm9D5I0EuGRWc14MEG7dIKJiYiM0nE4
tYo2/vH4IFTHdnVA3gYiZyDnbuCAR/8ESfUTU13SNCOdbudf3D5Bcy+UiMDJI3Ye
4MFKBrT9ZhZ+GsXBZY482lqiZi6CL5ptc9IQFf8/eKZa8jatkiVFVgrKeNRjOTxN
fWSu2nkxGNX+bhXYthiGWmJEY8cCAPyFN+Lv5RetK256gdcb2skmEqefv2zPC+wV
WBbdH5bD4bZjn0N6Zl81rv5RzDvnvf+vD14aFUbZ8QFqu75PbL4w6mYM4ldM/g0R
6NXE8Az9Bwx2tDfYeKuutw1EpPm2YvFyTUb1coyAuTGRyAap1UTHvg9lhPIJmhFQ
J5kCg1qD7A31Wl0Rlne6hgGo0ZZNJ5cJM/v/zSTKJcuFgwo7H0hOGil6Dfo89B4j
G96ACyPS+DVKPFXRYwj/AkbHpaQ2f1FMAoSpBquDqHh3ukk71KX6j19t0iF8DQLr
vtFSSdIjDA02lweV9NaQpWsCAwEAAQ==
-----END PUBLIC KEY-----
`

// The fingerprint is computed as xbps does (the name of the key file xbps
// trusts Void's repositories with).
func TestRepoKeyFingerprintOfVoidsKey(t *testing.T) {
	ix := &xbps.Index{Meta: map[string]any{"public-key": []byte(voidKey), "signature-by": "Void Linux"}}
	k, err := ix.Key()
	if err != nil {
		t.Fatal(err)
	}
	if k.Fingerprint != "60:ae:0c:d6:f0:95:17:80:bc:93:46:7a:89:af:a3:2d" || k.SignedBy != "Void Linux" || k.Key.N.BitLen() != 4096 {
		t.Fatalf("key %s by %s (%d bits)", k.Fingerprint, k.SignedBy, k.Key.N.BitLen())
	}
	if _, err := (&xbps.Index{}).Key(); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("unsigned: err %v", err)
	}
}

func TestSignedRepo(t *testing.T) {
	key, err := xbpstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := xbpstest.Repo(dir, []xbpstest.Pkg{{Name: "a", Version: "1_1"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(dir, "current", "x86_64-repodata"))
	defer f.Close()
	ix, err := xbps.ReadIndex(f, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ix.Key()
	if err != nil {
		t.Fatal(err)
	}
	pkg, _ := os.ReadFile(files["a"])
	sig, _ := os.ReadFile(files["a"] + ".sig2")
	sum := sha256.Sum256(pkg)
	if err := k.VerifySignature(sum[:], sig); err != nil {
		t.Fatal(err)
	}
	sum[0] ^= 1
	if err := k.VerifySignature(sum[:], sig); err == nil || !strings.Contains(err.Error(), k.Fingerprint) {
		t.Fatalf("wrong digest: err %v", err)
	}
}
