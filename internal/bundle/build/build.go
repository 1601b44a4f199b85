// Package build makes a runtime bundle from Debian: the cloud kernel package
// (bzImage, an ELF vmlinux cut out of it, the modules tree), an initrd made
// here (busybox-static, the virtio/overlay/vsock modules, banger's /init),
// and an mmdebstrap rootfs from packages.apt customised for banger, with its
// /root as a separate work-seed image. Each step records a key over its
// inputs in the bundle, so re-running with nothing changed does no work and
// a changed packages.apt rebuilds only the rootfs and work seed.
//
// VoidRootfs (void*.go) builds the experimental Void Linux rootfs and work
// seed beside a bundle, from a Void repository's binary packages read with
// internal/xbps, reusing the bundle's kernel modules and guest agent.
//
// It writes only inside the bundle directory and a scratch directory beside
// it. It mounts nothing itself (mmdebstrap mounts /proc, /sys and /dev in its
// own chroot while it runs, and the scratch directory is never deleted while
// anything is mounted in it) and leaves the host's package state alone
// (apt-get update aside, when the host's lists lack the kernel).
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"banger/internal/buildlog"
	"banger/internal/bundle"
)

// Defaults for Options.
const (
	DefaultSuite         = "bookworm"
	DefaultKernelPackage = "linux-image-cloud-amd64"
)

// Options configures Build and Rootfs.
type Options struct {
	Dest          string // bundle directory, created when missing
	Agent         string // banger-vsock-agent binary; Rootfs falls back to the bundle's copy
	Packages      string // packages.apt
	Suite         string // Debian suite, default DefaultSuite
	Mirror        string // Debian archive URL; "" = the host's apt sources or DefaultMirror
	KernelPackage string // default DefaultKernelPackage
	Firecracker   string // firecracker binary to copy in; "" = the one on PATH, if any
	BaseRootfs    string // Rootfs only: start from this ext4's content instead of mmdebstrap (Packages installed on top)
	Force         bool   // ignore the recorded stamps and redo every step
	// Owner, when set, owns every bundle file at the end (a build run
	// through sudo hands the bundle back to the user).
	Owner    *Owner
	Progress io.Writer // one line per step with wall times
	Log      io.Writer // every command and its output
}

// Owner is a uid/gid pair.
type Owner struct{ UID, GID int }

// Result summarises a build.
type Result struct {
	StepsRun int
	Meta     *bundle.Meta
}

// Build makes or updates the whole bundle in o.Dest.
func Build(ctx context.Context, o Options) (*Result, error) { return run(ctx, o, modeFull) }

// Rootfs rebuilds only the rootfs, work seed and agent of an existing bundle
// (its kernel modules are taken from the bundle).
func Rootfs(ctx context.Context, o Options) (*Result, error) { return run(ctx, o, modeRootfs) }

// Agent only installs o.Agent into an existing bundle and its rootfs image
// (debugfs; no root needed when the user owns the bundle). It is what
// `make build` uses to ship a rebuilt agent.
func Agent(ctx context.Context, o Options) (*Result, error) { return run(ctx, o, modeAgent) }

type mode int

const (
	modeFull mode = iota
	modeRootfs
	modeAgent
)

type builder struct {
	o       Options
	r       *buildlog.Reporter
	dest    string
	scratch string
	st      *stamps
	apt     *aptSource
	prev    *bundle.Meta // bundle.json before this run, if any
}

func run(ctx context.Context, o Options, m mode) (*Result, error) {
	full := m == modeFull
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if o.KernelPackage == "" {
		o.KernelPackage = DefaultKernelPackage
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Dest == "" || (m != modeAgent && o.Packages == "") {
		return nil, errors.New("build: Dest and Packages are required")
	}
	dest, err := filepath.Abs(o.Dest)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("create bundle directory: %w", err)
	}
	b := &builder{o: o, r: buildlog.New(o.Progress, o.Log), dest: dest}
	b.prev, _ = bundle.Load(dest)
	if o.Agent == "" {
		if full || b.prev == nil {
			return nil, errors.New("build: the guest agent binary is required (--agent)")
		}
		o.Agent = filepath.Join(dest, bundle.AgentName)
		b.o.Agent = o.Agent
	}
	inputs := []string{o.Agent}
	if m != modeAgent {
		inputs = append(inputs, o.Packages)
	}
	for _, in := range inputs {
		if _, err := os.Stat(in); err != nil {
			return nil, fmt.Errorf("build input: %w", err)
		}
	}
	if o.BaseRootfs != "" {
		if _, err := os.Stat(o.BaseRootfs); err != nil {
			return nil, fmt.Errorf("base rootfs: %w", err)
		}
	}
	if b.st, err = loadStamps(dest); err != nil {
		return nil, err
	}
	if b.scratch, err = os.MkdirTemp(filepath.Dir(dest), ".banger-bundle-build-"); err != nil {
		return nil, fmt.Errorf("create scratch directory: %w", err)
	}
	defer func() {
		if err := removeScratch(b.scratch); err != nil {
			b.r.Say("warning: %v", err)
		}
	}()

	var steps []step
	switch {
	case full:
		steps = append(steps, b.kernelStep(), b.initrdStep(), b.rootfsStep())
	case b.release() == "":
		return nil, fmt.Errorf("bundle %s has no kernel (bundle.json lacks kernel_release): build or fetch the whole bundle first", dest)
	case m == modeRootfs:
		steps = append(steps, b.rootfsStep())
	case m == modeAgent:
		if _, err := os.Stat(b.path(bundle.RootfsName)); err != nil {
			return nil, fmt.Errorf("bundle %s has no rootfs to install the agent into: %w", dest, err)
		}
	}
	steps = append(steps, b.agentStep())
	ran, err := runSteps(ctx, b.r, b.st, o.Force, steps)
	if err != nil {
		return nil, err
	}
	meta, changed, err := b.writeMeta(ran > 0)
	if err != nil {
		return nil, err
	}
	if changed {
		ran++
	}
	if o.Owner != nil {
		if err := chownTree(dest, o.Owner.UID, o.Owner.GID); err != nil {
			return nil, err
		}
	}
	return &Result{StepsRun: ran, Meta: meta}, nil
}

// aptSource is created on first use: a no-op rebuild never touches apt.
func (b *builder) aptSource(ctx context.Context) (*aptSource, error) {
	if b.apt != nil {
		return b.apt, nil
	}
	a, err := newAptSource(ctx, b.r, b.o.Suite, b.o.Mirror, b.scratch)
	if err != nil {
		return nil, err
	}
	b.apt = a
	return a, nil
}

// release is the bundle's kernel release: from this run's kernel step, or
// the bundle.json of a fetched bundle.
func (b *builder) release() string {
	if e, ok := b.st.Steps["kernel"]; ok && e.Info["release"] != "" {
		return e.Info["release"]
	}
	if b.prev != nil {
		return b.prev.KernelRelease
	}
	return ""
}

func (b *builder) kernelPackage() string {
	if e, ok := b.st.Steps["kernel"]; ok && e.Info["package"] != "" {
		return e.Info["package"]
	}
	if b.prev != nil {
		return b.prev.KernelPackage
	}
	return ""
}

func (b *builder) path(name string) string { return filepath.Join(b.dest, name) }

func (b *builder) modulesDir() string {
	return filepath.Join(b.dest, bundle.ModulesDirName, b.release())
}

func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
