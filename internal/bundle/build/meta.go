package build

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/bundle"
	"banger/internal/execx"
)

// writeMeta brings bundle.json (and the optional firecracker copy) up to
// date, rewriting the file only when its content changes.
func (b *builder) writeMeta(built bool) (*bundle.Meta, bool, error) {
	fc, err := b.syncFirecracker()
	if err != nil {
		return nil, false, err
	}
	m := bundle.Meta{}
	if b.prev != nil {
		m = *b.prev
	}
	m.Version = bundle.CurrentVersion
	if _, ok := b.st.Steps["kernel"]; ok {
		m.KernelELF = bundle.KernelELFName
		m.KernelImage = bundle.KernelImageName
		m.KernelRelease = b.release()
		m.KernelPackage = b.kernelPackage()
		m.ModulesDir = filepath.ToSlash(filepath.Join(bundle.ModulesDirName, b.release()))
		m.DebianSuite = b.o.Suite
	}
	if _, ok := b.st.Steps["initrd"]; ok {
		m.Initrd = bundle.InitrdName
	}
	m.Rootfs = bundle.RootfsName
	m.WorkSeed = bundle.WorkSeedName
	m.Packages = bundle.PackagesName
	m.Agent = bundle.AgentName
	if fc {
		m.Firecracker = bundle.FirecrackerName
	}
	if b.prev != nil && !built {
		same := m
		same.BuiltAt = b.prev.BuiltAt
		if same == *b.prev {
			b.r.Say("==> %-8s up to date", "meta")
			return b.prev, false, nil
		}
	}
	m.BuiltAt = time.Now().UTC().Format(time.RFC3339)
	if err := bundle.Save(b.dest, &m); err != nil {
		return nil, false, err
	}
	b.r.Say("==> %-8s wrote %s", "meta", bundle.FileName)
	return &m, true, nil
}

// syncFirecracker copies the firecracker binary into the bundle when one is
// named or found on PATH and differs from the bundle's copy. It reports
// whether the bundle has one.
func (b *builder) syncFirecracker() (bool, error) {
	dst := b.path(bundle.FirecrackerName)
	src := b.o.Firecracker
	if src == "" {
		if p, err := execx.LookPath("firecracker"); err == nil {
			src = p
		}
	}
	if src != "" {
		if same, _ := sameFile(src, dst); !same {
			hs, err := hashFile(src)
			if err != nil {
				return false, fmt.Errorf("firecracker: %w", err)
			}
			if hd, _ := hashFile(dst); hd != hs {
				if err := atomicfile.Copy(src, dst, 0o755); err != nil {
					return false, fmt.Errorf("copy firecracker: %w", err)
				}
				b.r.Say("==> %-8s copied %s", "firecracker", src)
			}
		}
	}
	_, err := os.Stat(dst)
	return err == nil, nil
}
