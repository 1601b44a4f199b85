package bundle

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Problem is one thing wrong with a runtime bundle, phrased for a user:
// what is affected, what is wrong, and what to do about it.
type Problem struct {
	Item    string // bundle.json key or file name, e.g. "kernel_elf"
	Message string
	Fix     string
}

func (p Problem) String() string {
	s := p.Item + ": " + p.Message
	if p.Fix != "" {
		s += " (" + p.Fix + ")"
	}
	return s
}

const (
	fixInstall = "run `make runtime-bundle` to fetch or build the runtime bundle"
	fixRebuild = "rebuild the bundle with `make runtime-bundle` (or `banger-bundle build --dest DIR`)"
)

// Verify checks that dir holds a complete runtime bundle consistent with its
// bundle.json: every named file exists, the kernel is an x86-64 ELF, the
// initrd is a gzip newc cpio with an /init, the rootfs and work seed are ext4
// with labels the guest init accepts. It reads headers only (the initrd in
// full), so it is cheap enough for `banger doctor`. An empty result means the
// bundle is usable.
func Verify(dir string) []Problem {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return []Problem{{Item: "runtime bundle", Message: fmt.Sprintf("%s is not a directory", dir), Fix: fixInstall}}
	}
	m, err := Load(dir)
	if err != nil {
		return []Problem{{Item: FileName, Message: err.Error(), Fix: fixInstall}}
	}
	var ps []Problem
	add := func(item, fix, format string, args ...any) {
		ps = append(ps, Problem{Item: item, Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	if m.Version != CurrentVersion {
		add("version", fixRebuild, "bundle.json version %d, this banger reads version %d", m.Version, CurrentVersion)
	}

	type file struct {
		item, rel string
		required  bool
		check     func(path string) error
	}
	files := []file{
		{"kernel_elf", m.KernelELF, true, checkKernelELF},
		{"kernel_image", m.KernelImage, false, checkBzImage},
		{"initrd", m.Initrd, true, checkInitrd},
		{"rootfs", m.Rootfs, true, checkRootfs},
		{"work_seed", m.WorkSeed, false, checkWorkSeed},
		{"base_rootfs", m.BaseRootfs, false, checkRootfs},
		{"packages", m.Packages, false, checkRegular},
		{"agent", m.Agent, true, checkAgent},
		{"firecracker", m.Firecracker, false, checkExecutable},
	}
	for _, f := range files {
		if f.rel == "" {
			if f.required {
				add(f.item, fixRebuild, "not set in %s", FileName)
			}
			continue
		}
		if err := f.check(Path(dir, f.rel)); err != nil {
			add(f.item, fixRebuild, "%s: %v", f.rel, err)
		}
	}
	if m.ModulesDir != "" {
		if err := checkModulesDir(Path(dir, m.ModulesDir), m.KernelRelease); err != nil {
			add("modules_dir", fixRebuild, "%s: %v", m.ModulesDir, err)
		}
	}
	return ps
}

func checkRegular(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return missing(err)
	}
	if !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	return nil
}

func checkExecutable(path string) error {
	if err := checkRegular(path); err != nil {
		return err
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm()&0o111 == 0 {
		return errors.New("not executable")
	}
	return nil
}

func missing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("missing")
	}
	return err
}

// checkKernelELF accepts what Firecracker boots on x86_64: an uncompressed
// ELF64 x86-64 executable.
func checkKernelELF(path string) error {
	if err := checkRegular(path); err != nil {
		return err
	}
	return IsKernelELF(path)
}

// IsKernelELF reports (as nil) whether path is an ELF64 x86-64 executable.
func IsKernelELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("not an ELF file: %w", err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		return fmt.Errorf("ELF is %v %v %v, want ELFCLASS64 EM_X86_64 ET_EXEC", f.Class, f.Machine, f.Type)
	}
	return nil
}

func checkBzImage(path string) error {
	b, err := readAt(path, 0x202, 4)
	if err != nil {
		return missing(err)
	}
	if string(b) != "HdrS" {
		return errors.New("not an x86 bzImage (no HdrS boot header)")
	}
	return nil
}

func checkAgent(path string) error {
	if err := checkExecutable(path); err != nil {
		return err
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("built for %v, the guest is x86-64", f.Machine)
	}
	return nil
}

func checkRootfs(path string) error {
	label, err := Ext4Label(path)
	if err != nil {
		return err
	}
	if label == LabelOverlay || label == LabelWork {
		return fmt.Errorf("ext4 label %q is reserved for per-VM disks; the guest init would not use it as the base", label)
	}
	return nil
}

func checkWorkSeed(path string) error {
	label, err := Ext4Label(path)
	if err != nil {
		return err
	}
	if label != LabelWork {
		return fmt.Errorf("ext4 label is %q, want %q (the guest mounts /root by that label)", label, LabelWork)
	}
	return nil
}

func checkModulesDir(path, release string) error {
	st, err := os.Stat(path)
	if err != nil {
		return missing(err)
	}
	if !st.IsDir() {
		return errors.New("not a directory")
	}
	if release != "" && filepath.Base(path) != release {
		return fmt.Errorf("directory name is not the kernel release %s", release)
	}
	if _, err := os.Stat(filepath.Join(path, "modules.dep")); err != nil {
		return errors.New("no modules.dep (run depmod)")
	}
	return nil
}

// Ext4Label reads the superblock of an ext2/3/4 image and returns its volume
// label, or an error when the file has no ext4 superblock.
func Ext4Label(path string) (string, error) {
	// The superblock starts at byte 1024: s_magic is at +0x38, s_volume_name
	// (16 bytes) at +0x78.
	sb, err := readAt(path, 1024, 0x88)
	if err != nil {
		return "", missing(err)
	}
	if sb[0x38] != 0x53 || sb[0x39] != 0xEF {
		return "", errors.New("not an ext4 image (no superblock magic 0xEF53 at offset 1080)")
	}
	return strings.TrimRight(string(sb[0x78:0x88]), "\x00"), nil
}

func readAt(path string, off int64, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
	}
	return b, nil
}
