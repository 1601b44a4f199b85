package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// BootRun is one boot measurement of one image: a create and, of the same
// VM, a stop/start.
type BootRun struct {
	Image string `json:"image"`
	Name  string `json:"name"`
	// CreateSSHMS: `vm create` until `vm ssh -- true` succeeds.
	CreateSSHMS float64 `json:"create_ssh_ms"`
	// StartSSHMS: `vm start` of the stopped VM until `vm ssh -- true`
	// succeeds (boot → SSH without disk preparation).
	StartSSHMS float64 `json:"start_ssh_ms"`
	// GuestSSHDMS: in the guest, when ssh.service became active (sshd
	// listens) after kernel start, for the create boot and the start
	// boot: the boot's own share, without the host's polling. Under TCG
	// the guest clock may run slower than the host's.
	CreateGuestSSHDMS float64 `json:"create_guest_sshd_ms"`
	StartGuestSSHDMS  float64 `json:"start_guest_sshd_ms"`
}

// BootImage is the summary of one image's runs.
type BootImage struct {
	Image       string  `json:"image"`
	CreateSSHMS Summary `json:"create_ssh_ms"`
	StartSSHMS  Summary `json:"start_ssh_ms"`
	GuestSSHDMS Summary `json:"guest_sshd_ms"`
	// SystemdAnalyze is the guest's `systemd-analyze` line and the
	// critical chain of ssh.service, read after boot finished (last run).
	SystemdAnalyze string `json:"systemd_analyze,omitempty"`
}

// BootReport is what `banger-bench boot` prints. Ratios are the last
// image's median over the first's (below 1: the last boots faster).
type BootReport struct {
	VMM              string      `json:"vmm"`
	Accel            string      `json:"accel"`
	Runs             []BootRun   `json:"runs"`
	Images           []BootImage `json:"images"`
	CreateSSHRatio   float64     `json:"create_ssh_ratio"`
	StartSSHRatio    float64     `json:"start_ssh_ratio"`
	GuestSSHDRatio   float64     `json:"guest_sshd_ratio"`
	RatioDescription string      `json:"ratio_description"`
}

// registration is --register NAME=BUNDLE_DIR.
type registration struct{ name, dir string }

func parseRegistration(s string) (registration, error) {
	name, dir, ok := strings.Cut(s, "=")
	if !ok || name == "" || dir == "" {
		return registration{}, fmt.Errorf("--register %q: want NAME=BUNDLE_DIR", s)
	}
	return registration{name, dir}, nil
}

// args returns the `banger image register` arguments for a bundle
// directory: its rootfs, work seed, kernel, initrd and modules, so the
// image boots exactly as that bundle would.
func (r registration) args() ([]string, error) {
	meta := struct {
		KernelELF  string `json:"kernel_elf"`
		Initrd     string `json:"initrd"`
		ModulesDir string `json:"modules_dir"`
		Rootfs     string `json:"rootfs"`
		WorkSeed   string `json:"work_seed"`
		Packages   string `json:"packages"`
	}{}
	if err := readJSON(filepath.Join(r.dir, "bundle.json"), &meta); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", r.dir, err)
	}
	if meta.Rootfs == "" {
		return nil, fmt.Errorf("bundle %s: bundle.json names no rootfs", r.dir)
	}
	abs, err := filepath.Abs(r.dir)
	if err != nil {
		return nil, err
	}
	args := []string{"image", "register", "--name", r.name, "--rootfs", filepath.Join(abs, meta.Rootfs)}
	for _, f := range []struct{ flag, rel string }{
		{"--work-seed", meta.WorkSeed}, {"--kernel", meta.KernelELF}, {"--initrd", meta.Initrd},
		{"--modules", meta.ModulesDir}, {"--packages", meta.Packages},
	} {
		if f.rel != "" {
			args = append(args, f.flag, filepath.Join(abs, f.rel))
		}
	}
	return args, nil
}

// mainBoot is `banger-bench boot`.
func mainBoot(args []string) int {
	fs := flag.NewFlagSet("boot", flag.ContinueOnError)
	var images []string
	var regs []registration
	fs.Func("image", "image to boot (repeat; the first is the baseline of the ratios); \"default\" is the default image", func(s string) error {
		images = append(images, s)
		return nil
	})
	fs.Func("register", "register a bundle directory as image NAME first: NAME=BUNDLE_DIR (repeatable)", func(s string) error {
		r, err := parseRegistration(s)
		if err == nil {
			regs = append(regs, r)
		}
		return err
	})
	c := commonFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(images) < 2 {
		fmt.Fprintln(os.Stderr, "banger-bench boot: give at least two --image (the first is the baseline)")
		return 2
	}
	return c.run("boot", func(ctx context.Context, b *bencher) (any, error) {
		for _, r := range regs {
			a, err := r.args()
			if err == nil {
				_, err = b.cli(ctx, a...)
			}
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "registered %s from %s\n", r.name, r.dir)
		}
		rep, err := b.boot(ctx, images, c.runs, c.lock)
		return rep, err
	})
}

// boot measures every image runs times, interleaved so that a change in
// the host's load falls on all images alike.
func (b *bencher) boot(ctx context.Context, images []string, runs int, lock string) (*BootReport, error) {
	rep := &BootReport{}
	analyzed := map[string]string{}
	for i := 0; i < runs; i++ {
		for _, img := range images {
			r, analysis, err := b.bootOnce(ctx, img, lock, i == runs-1)
			if err != nil {
				return rep, err
			}
			if analysis != "" {
				analyzed[img] = analysis
			}
			fmt.Fprintf(b.log, "run %d %s: create → ssh %.0f ms, start → ssh %.0f ms\n", i+1, img, r.CreateSSHMS, r.StartSSHMS)
			rep.Runs = append(rep.Runs, r)
		}
	}
	for _, img := range images {
		var c, s, g []float64
		for _, r := range rep.Runs {
			if r.Image == img {
				c, s = append(c, r.CreateSSHMS), append(s, r.StartSSHMS)
				g = append(g, r.CreateGuestSSHDMS, r.StartGuestSSHDMS)
			}
		}
		rep.Images = append(rep.Images, BootImage{Image: img, CreateSSHMS: summarize(c), StartSSHMS: summarize(s),
			GuestSSHDMS: summarize(g), SystemdAnalyze: analyzed[img]})
	}
	rep.VMM, rep.Accel = b.vmm, b.accel
	first, last := rep.Images[0], rep.Images[len(rep.Images)-1]
	rep.CreateSSHRatio = round3(last.CreateSSHMS.Median / first.CreateSSHMS.Median)
	rep.StartSSHRatio = round3(last.StartSSHMS.Median / first.StartSSHMS.Median)
	rep.GuestSSHDRatio = round3(last.GuestSSHDMS.Median / first.GuestSSHDMS.Median)
	rep.RatioDescription = fmt.Sprintf("median of %s / median of %s", last.Image, first.Image)
	return rep, nil
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

// bootOnce creates a VM from img, waits for SSH, stops it, starts it again
// and waits for SSH, then deletes it. With analyze it first reads
// systemd-analyze in the guest.
func (b *bencher) bootOnce(ctx context.Context, img, lock string, analyze bool) (BootRun, string, error) {
	unlock, err := flockFile(lock)
	if err != nil {
		return BootRun{}, "", err
	}
	defer unlock()
	name := "bench-boot-" + randHex(3)
	r := BootRun{Image: img, Name: name}
	defer b.cli(context.Background(), "vm", "delete", "--force", name)
	args := []string{"vm", "create", "--name", name, "--no-wait", "--disk-size", b.diskSize}
	if img != "default" {
		args = append(args, "--image", img)
	}
	start := time.Now()
	if _, err := b.cli(ctx, args...); err != nil {
		return r, "", err
	}
	if err := b.waitSSH(ctx, name); err != nil {
		return r, "", err
	}
	r.CreateSSHMS = ms(time.Since(start))
	v, err := b.show(ctx, name)
	if err == nil {
		b.vmm, b.accel = v.VMM, v.Accel
	}
	r.CreateGuestSSHDMS = b.guestSSHD(ctx, name)
	// Let the first boot finish (Docker…) before stopping, so the stop
	// does not cut a boot short and the start is a boot like any other.
	if _, err := b.cli(ctx, "vm", "ssh", name, "--", "systemctl", "is-system-running", "--wait"); err != nil {
		fmt.Fprintf(b.log, "%s: systemctl is-system-running: %v\n", name, err)
	}
	if _, err := b.cli(ctx, "vm", "stop", name); err != nil {
		return r, "", err
	}
	start = time.Now()
	if _, err := b.cli(ctx, "vm", "start", name); err != nil {
		return r, "", err
	}
	if err := b.waitSSH(ctx, name); err != nil {
		return r, "", err
	}
	r.StartSSHMS = ms(time.Since(start))
	r.StartGuestSSHDMS = b.guestSSHD(ctx, name)
	var analysis string
	if analyze {
		out, err := b.cli(ctx, "vm", "ssh", name, "--", "systemctl is-system-running --wait >/dev/null; systemd-analyze; systemd-analyze critical-chain ssh.service")
		if err != nil {
			analysis = "systemd-analyze failed: " + err.Error()
		} else {
			analysis = string(out)
		}
	}
	return r, analysis, nil
}

// guestSSHD reads, in the guest, when ssh.service became active (sshd
// told systemd it listens: Type=notify), in ms after kernel start; 0 when
// it cannot tell. The journal's "Server listening" line is no good here:
// sshd may start before journald, whose timestamp is then its own.
func (b *bencher) guestSSHD(ctx context.Context, name string) float64 {
	out, err := b.cli(ctx, "vm", "ssh", name, "--",
		"systemctl show -p ActiveEnterTimestampMonotonic --value ssh.service")
	if err != nil {
		fmt.Fprintf(b.log, "%s: read when sshd became active: %v\n", name, err)
		return 0
	}
	us, err := parseMonotonicUS(string(out))
	if err != nil {
		fmt.Fprintf(b.log, "%s: %v\n", name, err)
		return 0
	}
	return float64(us) / 1000
}

// parseMonotonicUS reads a systemd monotonic timestamp in µs (guest
// output: anything else, and 0 (never), is an error).
func parseMonotonicUS(s string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v <= 0 || v > 1e12 {
		return 0, fmt.Errorf("bad monotonic timestamp %.80q", s)
	}
	return v, nil
}

// flockFile takes an exclusive flock on path (nothing when path is empty)
// and returns its release. The descriptor is close-on-exec, so banger and
// the daemon it may start do not inherit the lock.
func flockFile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
