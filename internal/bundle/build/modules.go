package build

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// InitrdModules are the modules the guest init loads, in the order given
// (each after its dependencies): block and network devices over virtio-mmio
// (how Firecracker and qemu microvm attach them), overlayfs for the root,
// vsock and virtio-console for the guest agent's two transports.
var InitrdModules = []string{
	"virtio_ring", "virtio", "virtio_mmio", "virtio_blk",
	"failover", "net_failover", "virtio_net", "overlay",
	"vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport",
	"virtio_console",
}

// ModuleDeps is a parsed modules.dep: module path (relative to
// lib/modules/<release>) → the paths it depends on.
type ModuleDeps struct {
	deps   map[string][]string
	byName map[string]string // canonical module name → path
}

// ParseModulesDep reads modules.dep as written by depmod.
func ParseModulesDep(r io.Reader) (*ModuleDeps, error) {
	md := &ModuleDeps{deps: map[string][]string{}, byName: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no colon", line)
		}
		md.deps[mod] = strings.Fields(rest)
		md.byName[ModuleName(mod)] = mod
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return md, nil
}

// ModuleName is the canonical name of a module file: the base name without
// the .ko[.xz|.zst|.gz] suffix, dashes as underscores.
func ModuleName(p string) string {
	b := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b, ".ko"), "-", "_")
}

// Resolve returns the module paths to load for names, every dependency
// before its dependents, each once. Names listed in builtin (canonical names
// of modules compiled into the kernel) are skipped; any other unknown name
// is an error.
func (md *ModuleDeps) Resolve(names []string, builtin map[string]bool) ([]string, error) {
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(p string, chain []string) error
	visit = func(p string, chain []string) error {
		switch state[p] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, p), " -> "))
		}
		state[p] = 1
		deps, ok := md.deps[p]
		if !ok {
			return fmt.Errorf("module %s is listed as a dependency but missing from modules.dep", p)
		}
		// depmod lists the full transitive closure, nearest dependency first;
		// modprobe loads from the end. Visiting each recursively gives the
		// same order and tolerates lists that are not closed.
		for i := len(deps) - 1; i >= 0; i-- {
			if err := visit(deps[i], append(chain, p)); err != nil {
				return err
			}
		}
		state[p] = 2
		order = append(order, p)
		return nil
	}
	for _, n := range names {
		canon := strings.ReplaceAll(n, "-", "_")
		p, ok := md.byName[canon]
		if !ok {
			if builtin[canon] {
				continue
			}
			return nil, fmt.Errorf("module %s is neither in modules.dep nor built into the kernel", n)
		}
		if err := visit(p, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// ParseBuiltin reads modules.builtin (one module path per line) into a set
// of canonical names.
func ParseBuiltin(r io.Reader) (map[string]bool, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			set[ModuleName(t)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return set, nil
}
