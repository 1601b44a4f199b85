// Package xbpstest writes small Void repositories in the real XBPS formats
// (zstd-compressed tar packages with props.plist and files.plist, and an
// <arch>-repodata index) for tests of the XBPS reader and the Void rootfs
// builder. It is test support only.
package xbpstest

import (
	"archive/tar"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"

	"banger/internal/xbps"
)

// File is one payload entry of a test package.
type File struct {
	Path     string // "usr/bin/foo"
	Data     []byte
	Mode     int64 // permission bits (and set-id bits)
	Dir      bool
	Link     string // symlink target
	UID, GID int
}

// Pkg is a test package.
type Pkg struct {
	Name, Version string // Version is version_revision: "1.0_1"
	Arch          string // default x86_64
	Depends       []string
	Provides      []string
	Conflicts     []string
	Alternatives  map[string][]string
	Install       []byte // ./INSTALL script
	Files         []File
}

// Pkgver is name-version_revision.
func (p Pkg) Pkgver() string { return p.Name + "-" + p.Version }

func (p Pkg) arch() string {
	if p.Arch == "" {
		return "x86_64"
	}
	return p.Arch
}

// FileName is the package file's name in the repository.
func (p Pkg) FileName() string { return p.Pkgver() + "." + p.arch() + ".xbps" }

func (p Pkg) props() map[string]any {
	d := map[string]any{
		"pkgver":         p.Pkgver(),
		"pkgname":        p.Name,
		"version":        p.Version,
		"architecture":   p.arch(),
		"short_desc":     "test package " + p.Name,
		"installed_size": int64(1024),
	}
	if len(p.Depends) > 0 {
		d["run_depends"] = p.Depends
	}
	if len(p.Provides) > 0 {
		d["provides"] = p.Provides
	}
	if len(p.Conflicts) > 0 {
		d["conflicts"] = p.Conflicts
	}
	if len(p.Alternatives) > 0 {
		d["alternatives"] = p.Alternatives
	}
	return d
}

// Build returns the package file: a zstd-compressed pax tar holding
// ./INSTALL (when set), ./props.plist, ./files.plist and the payload, in
// that order, as xbps-create writes it.
func (p Pkg) Build() ([]byte, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	add := func(h *tar.Header, data []byte) error {
		h.ModTime, h.Uname, h.Gname = mtime, "root", "root"
		h.Format = tar.FormatPAX
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if p.Install != nil {
		if err := add(&tar.Header{Name: "./INSTALL", Typeflag: tar.TypeReg, Mode: 0o755}, p.Install); err != nil {
			return nil, err
		}
	}
	props, err := xbps.MarshalPlist(p.props())
	if err != nil {
		return nil, err
	}
	if err := add(&tar.Header{Name: "./props.plist", Typeflag: tar.TypeReg, Mode: 0o644}, props); err != nil {
		return nil, err
	}
	var files, links, dirs []any
	for _, f := range p.Files {
		switch {
		case f.Dir:
			dirs = append(dirs, map[string]any{"file": "/" + f.Path})
		case f.Link != "":
			links = append(links, map[string]any{"file": "/" + f.Path, "target": f.Link})
		default:
			sum := sha256.Sum256(f.Data)
			files = append(files, map[string]any{"file": "/" + f.Path, "sha256": hex.EncodeToString(sum[:]), "size": int64(len(f.Data))})
		}
	}
	fl, err := xbps.MarshalPlist(map[string]any{"files": files, "links": links, "dirs": dirs})
	if err != nil {
		return nil, err
	}
	if err := add(&tar.Header{Name: "./files.plist", Typeflag: tar.TypeReg, Mode: 0o644}, fl); err != nil {
		return nil, err
	}
	for _, f := range p.Files {
		h := &tar.Header{Name: "./" + f.Path, Mode: f.Mode, Uid: f.UID, Gid: f.GID}
		switch {
		case f.Dir:
			h.Typeflag = tar.TypeDir
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Link, 0o777
		default:
			h.Typeflag = tar.TypeReg
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if err := add(h, f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return compress(raw.Bytes())
}

func compress(b []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// NewKey makes an RSA signing key for a test repository (2048 bits: Void's
// is 4096, but the format is the same and tests stay fast).
func NewKey() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// Repo lays out dir as a Void mirror: dir/current/<pkg files> and
// dir/current/x86_64-repodata indexing them (each entry with the
// package's filename-sha256 and filename-size). With a key, the index's
// index-meta.plist carries its public key and each package gets a
// <file>.sig2 signature, as xbps-rindex --sign-pkg writes them; without
// one the repository is unsigned. It returns the package files by name.
func Repo(dir string, pkgs []Pkg, key *rsa.PrivateKey) (map[string]string, error) {
	cur := filepath.Join(dir, "current")
	if err := os.MkdirAll(cur, 0o755); err != nil {
		return nil, err
	}
	index := map[string]any{}
	out := map[string]string{}
	for _, p := range pkgs {
		b, err := p.Build()
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", p.Pkgver(), err)
		}
		f := filepath.Join(cur, p.FileName())
		if err := os.WriteFile(f, b, 0o644); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		if key != nil {
			sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(f+".sig2", sig, 0o644); err != nil {
				return nil, err
			}
		}
		d := p.props()
		d["filename-sha256"] = hex.EncodeToString(sum[:])
		d["filename-size"] = int64(len(b))
		index[p.Name] = d
		out[p.Name] = f
	}
	var meta map[string]any
	if key != nil {
		der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return nil, err
		}
		meta = map[string]any{
			"public-key":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
			"public-key-size": int64(key.N.BitLen()),
			"signature-by":    "banger tests",
		}
	}
	return out, WriteIndex(filepath.Join(cur, "x86_64-repodata"), index, meta)
}

// WriteIndex writes a repodata archive with index.plist (the given
// dictionary), index-meta.plist (empty when meta is nil: unsigned) and an
// empty stage.plist.
func WriteIndex(path string, index, meta map[string]any) error {
	ix, err := xbps.MarshalPlist(index)
	if err != nil {
		return err
	}
	var mb []byte
	if meta != nil {
		if mb, err = xbps.MarshalPlist(meta); err != nil {
			return err
		}
	}
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range []struct {
		name string
		data []byte
	}{{"index.plist", ix}, {"index-meta.plist", mb}, {"stage.plist", nil}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.data)), Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	b, err := compress(raw.Bytes())
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
