// Package xbps reads Void Linux's package formats: repository indexes
// (<arch>-repodata), binary packages (.xbps), their XML property lists,
// XBPS version patterns and package signatures, and resolves a package set
// with its dependencies the way xbps-install would. It owns formats only: it downloads nothing,
// writes no rootfs and runs no package scripts (the Void rootfs builder in
// internal/bundle/build does that).
//
// Facts about the formats, from the xbps sources:
//   - <arch>-repodata is a tar archive (zstd-compressed in current Void;
//     older repositories used gzip) whose entries are index.plist (a dict
//     pkgname → package dict), index-meta.plist (signing key, possibly
//     empty) and stage.plist.
//   - a package <pkgver>.<arch>.xbps is a tar (same compression) starting
//     with ./INSTALL and ./REMOVE (optional scripts), ./props.plist and
//     ./files.plist, then the payload as ./usr/bin/….
//   - the index records each package's sha256 as "filename-sha256";
//     dependencies are "run_depends" patterns; virtual packages are listed
//     in "provides" as pkgvers ("awk-0_1"); "alternatives" maps a group to
//     "link:target" strings.
//   - a signed repository's index-meta.plist holds its RSA public key
//     (PEM) and "signature-by"; each package has a detached <file>.sig2,
//     an RSA PKCS#1 v1.5 signature of the package file's sha256. xbps
//     names keys by the MD5 fingerprint of their SSH form.
package xbps

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Limits on what is read from a repository, so a hostile mirror cannot
// exhaust memory.
const (
	maxIndexSize = 256 << 20 // Void's x86_64 index.plist is ~40 MiB
	maxMetaSize  = 1 << 20   // props.plist, files.plist, INSTALL
)

// Package is one package entry of a repository index.
type Package struct {
	Name         string
	Pkgver       string // name-version_revision
	Version      string // version_revision
	Arch         string // x86_64, noarch
	RunDepends   []string
	Provides     []string // virtual pkgvers
	Replaces     []string
	Conflicts    []string
	SHA256       string // of the .xbps file, lower-case hex
	Size         int64  // of the .xbps file
	Alternatives map[string][]string
	ConfFiles    []string
	ShortDesc    string
	// Raw is the index entry as read, kept for the installed package
	// database the rootfs records.
	Raw map[string]any
}

// FileName is the package's file name in its repository.
func (p *Package) FileName() string { return p.Pkgver + "." + p.Arch + ".xbps" }

// Index is a parsed repository index.
type Index struct {
	Arch     string
	Packages map[string]*Package // by name
	// Meta is index-meta.plist: the signing key ("public-key", PEM data),
	// "public-key-size" and "signature-by"; nil for an unsigned repository.
	Meta map[string]any
}

// NewDecompressor returns a reader of r's decompressed bytes, detecting
// zstd or gzip by their magic numbers (an uncompressed tar passes through).
func NewDecompressor(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, errors.New("xz compression is not supported (current Void repositories use zstd)")
	}
	return io.NopCloser(br), nil
}

// ReadIndex parses an <arch>-repodata archive for arch.
func ReadIndex(r io.Reader, arch string) (*Index, error) {
	dr, err := NewDecompressor(r)
	if err != nil {
		return nil, fmt.Errorf("repodata: %w", err)
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	var index, meta []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("repodata: %w", err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "index.plist":
			if index, err = readCapped(tr, maxIndexSize, "index.plist"); err != nil {
				return nil, fmt.Errorf("repodata: %w", err)
			}
		case "index-meta.plist":
			if meta, err = readCapped(tr, maxMetaSize, "index-meta.plist"); err != nil {
				return nil, fmt.Errorf("repodata: %w", err)
			}
		}
	}
	if index == nil {
		return nil, errors.New("repodata: no index.plist in the archive")
	}
	return parseIndex(index, meta, arch)
}

func readCapped(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, limit)
	}
	return b, nil
}

func parseIndex(index, meta []byte, arch string) (*Index, error) {
	ix := &Index{Arch: arch, Packages: map[string]*Package{}}
	if len(bytes.TrimSpace(index)) == 0 {
		return ix, nil
	}
	v, err := ParsePlist(index)
	if err != nil {
		return nil, fmt.Errorf("repodata index.plist: %w", err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("repodata index.plist: not a dictionary")
	}
	for name, pv := range d {
		pd, ok := pv.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("repodata index.plist: entry %q is not a dictionary", name)
		}
		p, err := packageFromDict(pd)
		if err != nil {
			return nil, fmt.Errorf("repodata index.plist: package %q: %w", name, err)
		}
		if p.Name != name {
			return nil, fmt.Errorf("repodata index.plist: entry %q has pkgver %q", name, p.Pkgver)
		}
		if p.Arch != arch && p.Arch != "noarch" {
			return nil, fmt.Errorf("repodata index.plist: package %s is for %s, not %s", p.Pkgver, p.Arch, arch)
		}
		ix.Packages[name] = p
	}
	// An empty index-meta.plist (or "DEADBEEF", an old placeholder) means
	// an unsigned repository.
	if m := bytes.TrimSpace(meta); len(m) > 0 && string(m) != "DEADBEEF" {
		mv, err := ParsePlist(meta)
		if err != nil {
			return nil, fmt.Errorf("repodata index-meta.plist: %w", err)
		}
		md, ok := mv.(map[string]any)
		if !ok {
			return nil, errors.New("repodata index-meta.plist: not a dictionary")
		}
		ix.Meta = md
	}
	return ix, nil
}

// packageFromDict reads the fields banger uses from an index or
// props.plist dictionary.
func packageFromDict(d map[string]any) (*Package, error) {
	p := &Package{Raw: d, Alternatives: map[string][]string{}}
	p.Pkgver, _ = d["pkgver"].(string)
	name, version, ok := SplitPkgver(p.Pkgver)
	if !ok {
		return nil, fmt.Errorf("pkgver %q is not name-version_revision", p.Pkgver)
	}
	if !safeName(name) || strings.ContainsAny(version, "/") {
		return nil, fmt.Errorf("pkgver %q has characters not allowed in a file name", p.Pkgver)
	}
	p.Name, p.Version = name, version
	p.Arch, _ = d["architecture"].(string)
	if !safeName(p.Arch) {
		return nil, fmt.Errorf("%s: architecture %q", p.Pkgver, p.Arch)
	}
	var err error
	if p.RunDepends, err = stringList(d, "run_depends"); err != nil {
		return nil, err
	}
	if p.Provides, err = stringList(d, "provides"); err != nil {
		return nil, err
	}
	if p.Replaces, err = stringList(d, "replaces"); err != nil {
		return nil, err
	}
	if p.Conflicts, err = stringList(d, "conflicts"); err != nil {
		return nil, err
	}
	if p.ConfFiles, err = stringList(d, "conf_files"); err != nil {
		return nil, err
	}
	p.SHA256, _ = d["filename-sha256"].(string)
	p.SHA256 = strings.ToLower(p.SHA256)
	p.Size, _ = d["filename-size"].(int64)
	p.ShortDesc, _ = d["short_desc"].(string)
	if alts, ok := d["alternatives"].(map[string]any); ok {
		for group := range alts {
			links, err := stringList(alts, group)
			if err != nil {
				return nil, fmt.Errorf("alternatives: %w", err)
			}
			for _, l := range links {
				if lk, tg, ok := strings.Cut(l, ":"); !ok || lk == "" || tg == "" {
					return nil, fmt.Errorf("alternatives group %q: entry %q is not link:target", group, l)
				}
			}
			p.Alternatives[group] = links
		}
	}
	return p, nil
}

func stringList(d map[string]any, key string) ([]string, error) {
	v, ok := d[key]
	if !ok {
		return nil, nil
	}
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s is not an array", key)
	}
	out := make([]string, 0, len(a))
	for _, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s holds a %T, want strings", key, e)
		}
		out = append(out, s)
	}
	return out, nil
}

func safeName(s string) bool {
	if s == "" || s == "." || s == ".." || strings.HasPrefix(s, "-") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._+-", r)) {
			return false
		}
	}
	return true
}

// providers returns the packages that provide a virtual package matching
// pattern, sorted by name for a deterministic choice.
func (ix *Index) providers(pattern string) []*Package {
	var out []*Package
	for _, p := range ix.Packages {
		for _, pv := range p.Provides {
			if MatchPattern(pv, pattern) {
				out = append(out, p)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
