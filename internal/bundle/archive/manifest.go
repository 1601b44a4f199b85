// Package archive moves runtime bundles as tar.gz archives: it reads the
// runtime-bundle.toml manifest, downloads and verifies an archive, unpacks it
// safely and swaps it into place atomically, and packs a bundle directory
// into a deterministic archive. It does not build bundles (see ../build).
package archive

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// Manifest is runtime-bundle.toml.
type Manifest struct {
	// URL of the archive: a path (relative paths are resolved against the
	// manifest's directory), a file:// URL, or an http(s):// URL. Empty means
	// "no published archive: build the bundle from Debian".
	URL string `toml:"url"`
	// SHA256 of the archive, hex. Required whenever URL is set.
	SHA256   string   `toml:"sha256"`
	Metadata Metadata `toml:"bundle_metadata"`

	dir string // directory the manifest was read from
}

// Metadata documents what a bundle built from this checkout contains. It is
// informational: fetch does not enforce it.
type Metadata struct {
	Version       int      `toml:"version"`
	Arch          string   `toml:"arch"`
	DebianSuite   string   `toml:"debian_suite"`
	KernelPackage string   `toml:"kernel_package"`
	KernelELF     string   `toml:"kernel_elf"`
	KernelImage   string   `toml:"kernel_image"`
	Initrd        string   `toml:"initrd"`
	ModulesDir    string   `toml:"modules_dir"`
	Rootfs        string   `toml:"rootfs"`
	WorkSeed      string   `toml:"work_seed"`
	Packages      string   `toml:"packages"`
	Agent         string   `toml:"agent"`
	Firecracker   string   `toml:"firecracker"`
	Files         []string `toml:"files"`
}

// LoadManifest reads and decodes a manifest file. Unknown keys are an error
// so typos do not silently fall back to building.
func LoadManifest(path string) (*Manifest, error) {
	var m Manifest
	md, err := toml.DecodeFile(path, &m)
	if err != nil {
		return nil, fmt.Errorf("read runtime bundle manifest %s: %w", path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		return nil, fmt.Errorf("runtime bundle manifest %s: unknown key %q", path, undec[0].String())
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("runtime bundle manifest %s: %w", path, err)
	}
	m.dir = filepath.Dir(abs)
	m.URL = strings.TrimSpace(m.URL)
	m.SHA256 = strings.ToLower(strings.TrimSpace(m.SHA256))
	return &m, nil
}

// Source returns the archive location with a relative path made absolute
// against the manifest's directory; URLs are returned unchanged.
func (m *Manifest) Source() string {
	return ResolveSource(m.dir, m.URL)
}

// ResolveSource resolves a manifest url relative to base (a directory).
func ResolveSource(base, raw string) string {
	if raw == "" || strings.Contains(raw, "://") || filepath.IsAbs(raw) {
		return raw
	}
	return filepath.Join(base, raw)
}

// localPath returns the file path for a path or file:// source, or "" for
// a remote URL.
func localPath(src string) (string, error) {
	if !strings.Contains(src, "://") {
		return src, nil
	}
	u, err := url.Parse(src)
	if err != nil {
		return "", fmt.Errorf("parse archive url %q: %w", src, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("archive url %q: file:// URLs must name a local path (file:///path)", src)
		}
		return u.Path, nil
	case "http", "https":
		return "", nil
	default:
		return "", fmt.Errorf("archive url %q: unsupported scheme %q (use a path, file://, http:// or https://)", src, u.Scheme)
	}
}
