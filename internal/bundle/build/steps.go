package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"banger/internal/agent"
	"banger/internal/atomicfile"
	"banger/internal/buildlog"
	"banger/internal/bundle"
	"banger/internal/execx"
)

// The build's steps, in order. Each key lists everything its outputs
// depend on; see runSteps.

func (b *builder) kernelStep() step {
	return step{
		name: "kernel",
		key: func() (string, error) {
			return keyOf("kernel/v1", b.o.Suite, b.o.Mirror, b.o.KernelPackage), nil
		},
		outputs: func() []string {
			return []string{b.path(bundle.KernelELFName), b.path(bundle.KernelImageName), filepath.Join(b.modulesDir(), "modules.dep")}
		},
		run: func(ctx context.Context) (map[string]string, error) {
			apt, err := b.aptSource(ctx)
			if err != nil {
				return nil, err
			}
			k, err := buildKernel(ctx, b.r, apt, b.o.KernelPackage, b.scratch, b.dest)
			if err != nil {
				return nil, err
			}
			return map[string]string{"release": k.Release, "package": k.Package}, nil
		},
	}
}

func (b *builder) initrdStep() step {
	return step{
		name: "initrd",
		key: func() (string, error) {
			return keyOf("initrd/v1", b.o.Suite, b.o.Mirror, b.release(), b.kernelPackage(),
				hashBytes(initScript), strings.Join(InitrdModules, ",")), nil
		},
		outputs: func() []string { return []string{b.path(bundle.InitrdName)} },
		run: func(ctx context.Context) (map[string]string, error) {
			apt, err := b.aptSource(ctx)
			if err != nil {
				return nil, err
			}
			var busybox string
			if err := b.r.Timed("download busybox-static", func() error {
				busybox, err = fetchBusybox(ctx, b.r, apt, b.scratch)
				return err
			}); err != nil {
				return nil, err
			}
			err = b.r.Timed("write initrd", func() error {
				spec := InitrdSpec{Busybox: busybox, ModulesDir: b.modulesDir(), Release: b.release(), Modules: InitrdModules}
				return atomicfile.WriteFrom(b.path(bundle.InitrdName), 0o644, func(w io.Writer) error {
					return WriteInitrd(ctx, spec, w)
				})
			})
			return nil, err
		},
	}
}

// fetchBusybox downloads and unpacks Debian's busybox-static.
func fetchBusybox(ctx context.Context, r *buildlog.Reporter, apt *aptSource, scratch string) (string, error) {
	dir := filepath.Join(scratch, "busybox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	deb, err := apt.download(ctx, dir, "busybox-static")
	if err != nil {
		return "", err
	}
	root := filepath.Join(dir, "root")
	if _, err := r.Run(ctx, execx.Cmd{Argv: []string{"dpkg-deb", "-x", deb, root}}); err != nil {
		return "", fmt.Errorf("unpack busybox-static: %w", err)
	}
	for _, p := range []string{"bin/busybox", "usr/bin/busybox"} {
		if st, err := os.Stat(filepath.Join(root, p)); err == nil && st.Mode().IsRegular() {
			return filepath.Join(root, p), nil
		}
	}
	return "", errors.New("busybox-static package has no bin/busybox")
}

// baseIdentity identifies a --base-rootfs input cheaply (path, size, mtime);
// "" for an mmdebstrap build.
func baseIdentity(p string) string {
	if p == "" {
		return ""
	}
	st, err := os.Stat(p)
	if err != nil {
		return p
	}
	abs, _ := filepath.Abs(p)
	// "+packages": since packages.apt is installed on top of the base, a
	// rootfs built from the same base before that is stale.
	return fmt.Sprintf("%s:%d:%d+packages", abs, st.Size(), st.ModTime().UnixNano())
}

func (b *builder) rootfsStep() step {
	return step{
		name: "rootfs",
		key: func() (string, error) {
			pk, err := hashFile(b.o.Packages)
			if err != nil {
				return "", err
			}
			return keyOf("rootfs/v2", pk, b.o.Suite, b.o.Mirror, b.release(), b.kernelPackage(),
				customizationKey(), baseIdentity(b.o.BaseRootfs)), nil
		},
		outputs: func() []string {
			return []string{b.path(bundle.RootfsName), b.path(bundle.WorkSeedName), b.path(bundle.PackagesStampName), b.path(bundle.PackagesName)}
		},
		run: func(ctx context.Context) (map[string]string, error) {
			data, err := os.ReadFile(b.o.Packages)
			if err != nil {
				return nil, err
			}
			pkgs := linesOf(data)
			if len(pkgs) == 0 && b.o.BaseRootfs == "" {
				return nil, fmt.Errorf("%s lists no packages", b.o.Packages)
			}
			spec := rootfsSpec{
				Suite: b.o.Suite, Mirror: b.o.Mirror, Packages: pkgs, BaseRootfs: b.o.BaseRootfs,
				Release: b.release(), ModulesDir: b.modulesDir(), Scratch: b.scratch, Dest: b.dest,
			}
			if err := buildRootfs(ctx, b.r, spec); err != nil {
				return nil, err
			}
			if err := atomicfile.Write(b.path(bundle.PackagesStampName), []byte(hashBytes(data)+"\n"), 0o644); err != nil {
				return nil, err
			}
			if err := atomicfile.Write(b.path(bundle.PackagesName), data, 0o644); err != nil {
				return nil, err
			}
			// A fresh image lacks the agent: the agent step keys on this.
			return map[string]string{"build_id": strconv.FormatInt(time.Now().UnixNano(), 10)}, nil
		},
	}
}

func (b *builder) agentStep() step {
	return step{
		name: "agent",
		key: func() (string, error) {
			h, err := hashFile(b.o.Agent)
			if err != nil {
				return "", fmt.Errorf("agent: %w", err)
			}
			return keyOf("agent/v1", h, agent.BinaryPath, b.st.Steps["rootfs"].Info["build_id"]), nil
		},
		outputs: func() []string { return []string{b.path(bundle.AgentName)} },
		run: func(ctx context.Context) (map[string]string, error) {
			dst := b.path(bundle.AgentName)
			if same, _ := sameFile(b.o.Agent, dst); !same {
				if err := atomicfile.Copy(b.o.Agent, dst, 0o755); err != nil {
					return nil, fmt.Errorf("copy agent: %w", err)
				}
			}
			err := b.r.Timed("install agent into the rootfs (debugfs)", func() error {
				return injectAgent(ctx, b.r, b.path(bundle.RootfsName), dst, b.scratch)
			})
			return nil, err
		},
	}
}
