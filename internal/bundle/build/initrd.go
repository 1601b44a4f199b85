package build

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"banger/internal/bundle/cpio"
	"banger/internal/execx"
)

// initScript is the initrd's /init; its header documents the disk contract.
//
//go:embed init.sh
var initScript []byte

// InitrdSpec says what goes into the initrd.
type InitrdSpec struct {
	Busybox    string   // a statically linked busybox binary
	ModulesDir string   // lib/modules/<release> tree with modules.dep (depmod run)
	Release    string   // kernel release, the name of ModulesDir
	Modules    []string // module names to load, e.g. InitrdModules
}

// initrdFile is one archive member before it is written.
type initrdFile struct {
	hdr  cpio.Header
	data []byte
}

// WriteInitrd writes a gzip-compressed newc cpio: busybox, /init, the
// requested modules (decompressed, so busybox insmod can load them) and
// /etc/banger/modules listing them in load order. The output depends only on
// the inputs (no timestamps, sorted members).
func WriteInitrd(ctx context.Context, spec InitrdSpec, w io.Writer) error {
	bb, err := os.ReadFile(spec.Busybox)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	if err := checkStatic(bb); err != nil {
		return fmt.Errorf("busybox %s: %w", spec.Busybox, err)
	}
	order, err := resolveModules(spec.ModulesDir, spec.Modules)
	if err != nil {
		return err
	}

	files := map[string]initrdFile{}
	dirs := map[string]bool{}
	addDirs := func(p string) {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	add := func(name string, mode uint32, data []byte) {
		files[name] = initrdFile{hdr: cpio.Header{Name: name, Mode: mode, Size: int64(len(data))}, data: data}
		addDirs(name)
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "newroot", "sbin", "usr/bin", "usr/sbin"} {
		dirs[d] = true
		addDirs(d)
	}
	add("bin/busybox", cpio.TypeRegular|0o755, bb)
	add("init", cpio.TypeRegular|0o755, initScript)
	files["dev/console"] = initrdFile{hdr: cpio.Header{Name: "dev/console", Mode: cpio.TypeChar | 0o600, DevMajor: 5, DevMinor: 1}}
	files["dev/null"] = initrdFile{hdr: cpio.Header{Name: "dev/null", Mode: cpio.TypeChar | 0o666, DevMajor: 1, DevMinor: 3}}

	var list strings.Builder
	for _, rel := range order {
		data, err := readModule(ctx, filepath.Join(spec.ModulesDir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		name := path.Join("lib/modules", spec.Release, stripCompression(rel))
		add(name, cpio.TypeRegular|0o644, data)
		fmt.Fprintf(&list, "/%s\n", name)
	}
	add("etc/banger/modules", cpio.TypeRegular|0o644, []byte(list.String()))

	var names []string
	for d := range dirs {
		if _, isFile := files[d]; !isFile {
			files[d] = initrdFile{hdr: cpio.Header{Name: d, Mode: cpio.TypeDir | 0o755}}
		}
	}
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names) // parents sort before their children

	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	cw := cpio.NewWriter(zw)
	for _, n := range names {
		f := files[n]
		if err := cw.WriteHeader(&f.hdr); err != nil {
			return fmt.Errorf("write initrd: %w", err)
		}
		if _, err := cw.Write(f.data); err != nil {
			return fmt.Errorf("write initrd: %w", err)
		}
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("write initrd: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write initrd: %w", err)
	}
	return nil
}

func resolveModules(dir string, names []string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	defer f.Close()
	md, err := ParseModulesDep(f)
	if err != nil {
		return nil, err
	}
	builtin := map[string]bool{}
	if b, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		builtin, err = ParseBuiltin(b)
		b.Close()
		if err != nil {
			return nil, err
		}
	}
	order, err := md.Resolve(names, builtin)
	if err != nil {
		return nil, fmt.Errorf("initrd modules: %w", err)
	}
	return order, nil
}

func stripCompression(p string) string {
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		if strings.HasSuffix(p, ".ko"+ext) {
			return strings.TrimSuffix(p, ext)
		}
	}
	return p
}

// readModule returns a module's ELF bytes, decompressing .ko.gz in Go and
// .ko.xz / .ko.zst with the xz and zstd tools.
func readModule(ctx context.Context, p string) ([]byte, error) {
	var (
		data []byte
		err  error
	)
	switch {
	case strings.HasSuffix(p, ".ko.xz"):
		data, err = execx.Run(ctx, "xz", "-dc", p)
	case strings.HasSuffix(p, ".ko.zst"):
		data, err = execx.Run(ctx, "zstd", "-dcq", p)
	case strings.HasSuffix(p, ".ko.gz"):
		var raw []byte
		if raw, err = os.ReadFile(p); err == nil {
			data, err = decodeGzip(raw)
		}
	default:
		data, err = os.ReadFile(p)
	}
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", p, err)
	}
	if !bytes.HasPrefix(data, []byte("\x7fELF")) {
		return nil, fmt.Errorf("module %s is not an ELF object after decompression", p)
	}
	return data, nil
}

// checkStatic rejects a dynamically linked binary: the initrd has no libc.
func checkStatic(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("built for %v, want x86-64", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (install busybox-static)")
		}
	}
	return nil
}
