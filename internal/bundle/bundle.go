// Package bundle owns the runtime bundle: the directory of kernel, initrd,
// modules, rootfs images and guest helpers that VMs boot from, described by
// bundle.json. It reads and checks a bundle; building, packaging and
// fetching one live in this package's siblings.
package bundle

import (
	"banger/internal/atomicfile"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// FileName is the name of the bundle description inside a bundle directory.
const FileName = "bundle.json"

// CurrentVersion is the bundle.json layout this code writes and reads.
const CurrentVersion = 1

// Default file names inside a bundle built by banger. bundle.json is the
// authority; these are what the builder writes and what the repository's
// runtime-bundle.toml documents.
const (
	KernelELFName     = "vmlinux"
	KernelImageName   = "vmlinuz"
	InitrdName        = "initrd.img"
	ModulesDirName    = "modules" // holds one <kernel release> directory
	RootfsName        = "rootfs-docker.ext4"
	WorkSeedName      = "rootfs-docker.work-seed.ext4"
	PackagesName      = "packages.apt"
	PackagesStampName = "rootfs-docker.ext4.packages.sha256"
	AgentName         = "banger-vsock-agent"
	FirecrackerName   = "firecracker"
)

// Filesystem labels the bundle's guest init relies on. The overlay disk must
// carry LabelOverlay (with OverlayUpperDir and OverlayWorkDir at its root),
// the work disk LabelWork; the base rootfs is the remaining virtio disk and
// is labelled LabelRoot when banger built it.
const (
	LabelRoot       = "banger-root"
	LabelOverlay    = "banger-ovl"
	LabelWork       = "banger-work"
	OverlayUpperDir = "upper"
	OverlayWorkDir  = "work"
)

// Meta is bundle.json. Paths are relative to the bundle directory.
type Meta struct {
	Version       int    `json:"version"`
	KernelELF     string `json:"kernel_elf"`   // uncompressed vmlinux (Firecracker, qemu PVH)
	KernelImage   string `json:"kernel_image"` // bzImage as shipped by Debian (qemu)
	KernelRelease string `json:"kernel_release"`
	Initrd        string `json:"initrd"`
	ModulesDir    string `json:"modules_dir"`
	Rootfs        string `json:"rootfs"`                // rootfs-docker.ext4
	WorkSeed      string `json:"work_seed"`             // rootfs-docker.work-seed.ext4, optional
	BaseRootfs    string `json:"base_rootfs,omitempty"` // rootfs.ext4, optional
	Packages      string `json:"packages"`              // packages.apt
	Agent         string `json:"agent"`                 // banger-vsock-agent
	Firecracker   string `json:"firecracker,omitempty"`
	BuiltAt       string `json:"built_at,omitempty"`
	// Provenance of a Debian-built bundle; informational.
	KernelPackage string `json:"kernel_package,omitempty"` // e.g. linux-image-6.1.0-56-cloud-amd64 6.1.192-2
	DebianSuite   string `json:"debian_suite,omitempty"`
}

// Load reads dir/bundle.json.
func Load(dir string) (*Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("read runtime bundle: %w", err)
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, FileName), err)
	}
	return &m, nil
}

// Save writes m as dir/bundle.json, replacing any previous file atomically.
func Save(dir string, m *Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", FileName, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, FileName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save runtime bundle: %w", err)
	}
	return nil
}

// Path resolves a bundle-relative path against dir; empty stays empty and
// absolute paths are kept.
func Path(dir, rel string) string {
	if rel == "" || filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(dir, rel)
}
