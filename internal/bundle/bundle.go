// Package bundle owns the runtime bundle: the directory of kernel, initrd,
// modules, rootfs images and guest helpers that VMs boot from, described by
// bundle.json. It reads and checks a bundle; building, packaging and
// fetching one live in this package's siblings.
package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// FileName is the name of the bundle description inside a bundle directory.
const FileName = "bundle.json"

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

// Path resolves a bundle-relative path against dir; empty stays empty and
// absolute paths are kept.
func Path(dir, rel string) string {
	if rel == "" || filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(dir, rel)
}
