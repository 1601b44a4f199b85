package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/atomicfile"
	"banger/internal/execx"
)

// A usable /dev/kvm does not mean KVM can run the guest: on some
// paravirtualised and nested hosts qemu aborts on an MSR the host refuses,
// or the guest kernel hangs before its first message. So the probe boots
// the bundle kernel under -accel kvm with the same CPU model the driver
// uses and a one-file initrd, and believes KVM only when the guest's init
// prints its marker. The verdict is cached, keyed by everything it
// depends on.

// ProbeResult is the verdict of ProbeKVM.
type ProbeResult struct {
	Usable    bool      `json:"usable"` // KVM can boot the kernel
	Accel     string    `json:"accel"`  // "kvm" when Usable, else "tcg"
	Reason    string    `json:"reason"` // why, for doctor and logs
	CheckedAt time.Time `json:"checked_at"`
}

// ProbeOptions configures ProbeKVM.
type ProbeOptions struct {
	// Binary is the qemu executable; empty means qemu-system-x86_64 on PATH.
	Binary string
	// Kernel is the guest kernel the driver will boot (bzImage or ELF).
	Kernel string
	// CacheFile keeps the verdict (paths.Layout.ProbeCacheFile()); empty
	// disables caching.
	CacheFile string
	// Timeout bounds the probe boot; zero means 15 seconds.
	Timeout time.Duration
	// Refresh ignores a cached verdict.
	Refresh bool
	Logger  *slog.Logger
	// KVMDevice is "/dev/kvm" when empty.
	KVMDevice string

	env probeEnv // the host; replaced in tests
}

// probeEnv is what the probe needs from the host beyond /dev/kvm.
type probeEnv interface {
	qemuVersion(ctx context.Context, binary string) (string, error)
	hostRelease() (string, error)
	// bootKVM boots kernel with the probe initrd. An error means the probe
	// could not be run at all; a failed boot is a bootOutcome.
	bootKVM(ctx context.Context, binary, kernel string, timeout time.Duration) (bootOutcome, error)
}

type bootOutcome struct {
	ok      bool
	detail  string // why the boot failed
	elapsed time.Duration
}

// probeKey is everything a cached verdict depends on.
type probeKey struct {
	Binary      string `json:"binary"`
	QEMU        string `json:"qemu"`
	Kernel      string `json:"kernel"`
	KernelSize  int64  `json:"kernel_size"`
	KernelMTime int64  `json:"kernel_mtime_ns"`
	HostRelease string `json:"host_release"`
}

type probeCache struct {
	Key    probeKey    `json:"key"`
	Result ProbeResult `json:"result"`
}

// ProbeKVM decides whether qemu can use KVM to boot opts.Kernel. It never
// fails: when KVM cannot be used, or the probe itself cannot run, the
// result says "tcg" and why. Only verdicts of a real boot are cached; the
// cheap /dev/kvm checks run every time, so adding the user to the kvm
// group takes effect at once.
func ProbeKVM(ctx context.Context, opts ProbeOptions) ProbeResult {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env := opts.env
	if env == nil {
		env = hostEnv{}
	}
	dev := opts.KVMDevice
	if dev == "" {
		dev = "/dev/kvm"
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	tcg := func(reason string) ProbeResult {
		return ProbeResult{Accel: "tcg", Reason: reason, CheckedAt: time.Now().UTC()}
	}

	if _, err := os.Stat(dev); errors.Is(err, fs.ErrNotExist) {
		return tcg(dev + " does not exist (no hardware virtualisation, or the kvm module is not loaded)")
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return tcg(fmt.Sprintf("cannot open %s read-write: %v (is the user in the kvm group?)", dev, errors.Unwrap(err)))
	}
	f.Close()
	bin, err := resolveBinary(opts.Binary)
	if err != nil {
		return tcg("cannot probe KVM: " + err.Error())
	}
	st, err := os.Stat(opts.Kernel)
	if err != nil {
		return tcg("cannot probe KVM: guest kernel: " + err.Error())
	}
	version, err := env.qemuVersion(ctx, bin)
	if err != nil {
		return tcg("cannot probe KVM: " + err.Error())
	}
	release, err := env.hostRelease()
	if err != nil {
		return tcg("cannot probe KVM: " + err.Error())
	}
	key := probeKey{
		Binary: bin, QEMU: version,
		Kernel: opts.Kernel, KernelSize: st.Size(), KernelMTime: st.ModTime().UnixNano(),
		HostRelease: release,
	}
	if opts.CacheFile != "" && !opts.Refresh {
		if r, ok := readProbeCache(opts.CacheFile, key); ok {
			log.Debug("kvm probe: cached verdict", "accel", r.Accel, "reason", r.Reason, "checked_at", r.CheckedAt)
			return r
		}
	}

	out, err := env.bootKVM(ctx, bin, opts.Kernel, timeout)
	if err != nil {
		return tcg("cannot probe KVM: " + err.Error())
	}
	r := tcg("KVM is present but could not boot the guest kernel (paravirtualised host?): " + out.detail)
	if out.ok {
		r = ProbeResult{Usable: true, Accel: "kvm", Reason: fmt.Sprintf("KVM booted the guest kernel in %.1fs", out.elapsed.Seconds()), CheckedAt: time.Now().UTC()}
	}
	log.Info("kvm probe", "accel", r.Accel, "reason", r.Reason, "kernel", opts.Kernel, "elapsed", out.elapsed)
	if opts.CacheFile != "" {
		if err := writeProbeCache(opts.CacheFile, probeCache{Key: key, Result: r}); err != nil {
			log.Warn("kvm probe: cannot cache the verdict", "file", opts.CacheFile, "error", err)
		}
	}
	return r
}

// DetectVhostVsock reports whether the current user can open
// /dev/vhost-vsock, which qemu needs for a vhost-vsock-device.
func DetectVhostVsock() bool { return deviceUsable("/dev/vhost-vsock") }

func readProbeCache(path string, key probeKey) (ProbeResult, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ProbeResult{}, false
	}
	var c probeCache
	if json.Unmarshal(b, &c) != nil || c.Key != key || (c.Result.Accel != "kvm" && c.Result.Accel != "tcg") {
		return ProbeResult{}, false
	}
	return c.Result, true
}

func writeProbeCache(path string, c probeCache) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// hostEnv is the real host.
type hostEnv struct{}

func (hostEnv) qemuVersion(ctx context.Context, binary string) (string, error) {
	out, err := execx.Run(ctx, binary, "-version")
	if err != nil {
		return "", fmt.Errorf("qemu version: %w", err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line, nil
}

func (hostEnv) hostRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

func (hostEnv) bootKVM(ctx context.Context, binary, kernel string, timeout time.Duration) (bootOutcome, error) {
	return probeBoot(ctx, binary, "kvm", kernel, timeout)
}

// probeBoot boots kernel with the marker init under accel and reports
// whether the marker reached the serial console.
func probeBoot(ctx context.Context, binary, accel, kernel string, timeout time.Duration) (bootOutcome, error) {
	dir, err := os.MkdirTemp("", "banger-kvm-probe-")
	if err != nil {
		return bootOutcome{}, fmt.Errorf("probe directory: %w", err)
	}
	defer os.RemoveAll(dir)
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := writeInitrd(initrd, probeInitELF()); err != nil {
		return bootOutcome{}, err
	}
	console := filepath.Join(dir, "console.log")
	args, err := machineArgs(accel, 256, 1)
	if err != nil {
		return bootOutcome{}, err
	}
	args = append(args, consoleArgs(console, false)...)
	var tsc uint64
	if accel == "tcg" {
		tsc = hostTSCkHz()
	}
	args = append(args, "-kernel", kernel, "-initrd", initrd, "-append", kernelCmdline("console=ttyS0 panic=-1", accel, tsc))

	bctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	_, runErr := execx.Cmd{Argv: append([]string{binary}, args...)}.Run(bctx)
	elapsed := time.Since(start)
	out, _ := os.ReadFile(console)
	switch {
	case bytes.Contains(out, []byte(probeMarker)):
		return bootOutcome{ok: true, elapsed: elapsed}, nil
	case ctx.Err() != nil:
		return bootOutcome{}, ctx.Err()
	case bctx.Err() != nil:
		return bootOutcome{detail: fmt.Sprintf("no sign of the guest's init within %s%s", timeout, consoleHint(out)), elapsed: elapsed}, nil
	case runErr != nil:
		var xerr *execx.Error
		if errors.As(runErr, &xerr) && strings.TrimSpace(xerr.Stderr) != "" {
			return bootOutcome{detail: "qemu failed: " + firstLine(xerr.Stderr), elapsed: elapsed}, nil
		}
		return bootOutcome{detail: "qemu failed: " + runErr.Error(), elapsed: elapsed}, nil
	default:
		return bootOutcome{detail: "qemu exited before the guest's init ran" + consoleHint(out), elapsed: elapsed}, nil
	}
}

// consoleHint quotes the last console line, which shows how far the guest
// kernel got.
func consoleHint(console []byte) string {
	l := lastLine(string(console))
	if l == "" {
		return " (no console output)"
	}
	return " (console ends: " + l + ")"
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return clip(lines[len(lines)-1])
}

// firstLine is qemu's own complaint; later lines are often an assertion
// that followed from it.
func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return clip(l)
}

func clip(l string) string {
	l = strings.TrimSpace(l)
	if len(l) > 200 {
		l = l[:200] + "…"
	}
	return l
}
