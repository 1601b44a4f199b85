package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"banger/internal/paths"
)

// Run is one pass of the create benchmark, all on one VM (and its clones).
type Run struct {
	Name string `json:"name"`
	// CreateMS: `vm create --no-wait` returns.
	CreateMS float64 `json:"create_ms"`
	// SSHReadyMS: cold create → SSH, from the start of `vm create` until
	// `vm ssh -- true` succeeds.
	SSHReadyMS float64 `json:"ssh_ready_ms"`
	// StartSSHMS: stop/start → SSH, `vm start` of the stopped VM (stopped
	// once its first boot finished) until `vm ssh -- true` succeeds.
	// StartMS: until `vm start` returns (it waits for sshd's banner).
	StartSSHMS float64 `json:"start_ssh_ms"`
	StartMS    float64 `json:"start_ms"`
	// SuspendMS: `vm suspend` of the running VM, until it returns.
	SuspendMS float64 `json:"suspend_ms"`
	// SnapshotBytes: the disk space the suspended VM's memory and device
	// state files take (allocated blocks, not apparent size).
	SnapshotBytes int64 `json:"snapshot_bytes"`
	// ResumeSSHMS: resume → SSH, from the start of `vm resume` until `vm
	// ssh -- true` succeeds. ResumeMS: until `vm resume` returns (it
	// waits for sshd's banner).
	ResumeSSHMS float64 `json:"resume_ssh_ms"`
	ResumeMS    float64 `json:"resume_ms"`
	// ResumeColdBoot: the resume fell back to a cold boot (its figure is
	// then a boot, not a restore).
	ResumeColdBoot bool `json:"resume_cold_boot,omitempty"`
	// Clone4GMS, Clone64GMS: `vm clone` of the stopped VM with a 4G and
	// then (grown with vm set) a 64G work disk.
	Clone4GMS  float64 `json:"clone_4g_ms"`
	Clone64GMS float64 `json:"clone_64g_ms"`
	// VMMIdleCPUPct: CPU time of the VMM process over --idle seconds of a
	// booted, idle VM, in percent of one host CPU.
	VMMIdleCPUPct float64 `json:"vmm_idle_cpu_pct"`
	// BangerdRSSBytes: the daemon's resident memory with this VM running.
	BangerdRSSBytes int64 `json:"bangerd_rss_bytes"`
	// AgentRSSBytes: the guest agent's resident memory in the guest.
	AgentRSSBytes int64 `json:"agent_rss_bytes"`
	// SSHLoginMS: one `vm ssh -- true` on the booted, idle VM: what a
	// login costs by itself, part of every "→ SSH" figure.
	SSHLoginMS float64 `json:"ssh_login_ms"`
}

// Summary is min and median of a series.
type Summary struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
}

// Report is what bench-create prints: every run, then min and median of
// each figure, then the ratios the project's goals are stated in.
type Report struct {
	Image      string  `json:"image"`
	VMM        string  `json:"vmm"`
	Accel      string  `json:"accel"`
	DiskSize   string  `json:"disk_size"`
	IdleSec    float64 `json:"idle_window_s"`
	Runs       []Run   `json:"runs"`
	CreateMS   Summary `json:"create_ms"`
	SSHMS      Summary `json:"ssh_ready_ms"`
	StartSSHMS Summary `json:"start_ssh_ms"`
	StartMS    Summary `json:"start_ms"`
	SuspendMS  Summary `json:"suspend_ms"`
	Snapshot   Summary `json:"snapshot_bytes"`
	ResumeSSH  Summary `json:"resume_ssh_ms"`
	ResumeMS   Summary `json:"resume_ms"`
	Clone4G    Summary `json:"clone_4g_ms"`
	Clone64G   Summary `json:"clone_64g_ms"`
	VMMIdleCPU Summary `json:"vmm_idle_cpu_pct"`
	BangerdRSS Summary `json:"bangerd_rss_bytes"`
	AgentRSS   Summary `json:"agent_rss_bytes"`
	SSHLogin   Summary `json:"ssh_login_ms"`
	// ResumeVsStart: median resume → SSH over median stop/start → SSH
	// (both until a login works); ResumeVsStartBanner: the same for the
	// commands alone (until sshd's banner).
	ResumeVsStart       float64 `json:"resume_vs_start_ratio"`
	ResumeVsStartBanner float64 `json:"resume_vs_start_banner_ratio"`
	// Clone64GVs4G: median clone time at 64G over the one at 4G.
	Clone64GVs4G float64 `json:"clone_64g_vs_4g_ratio"`
	// On the qemu path with --bare: the last VM's disks booted by
	// banger's qemu command line run by hand, next to a `vm start`.
	StartSSHReadyMS     float64 `json:"start_ssh_ready_ms,omitempty"`
	BareQemuSSHReadyMS  float64 `json:"bare_qemu_ssh_ready_ms,omitempty"`
	OverheadVsBarePct   float64 `json:"overhead_vs_bare_pct,omitempty"`
	BareComparisonError string  `json:"bare_comparison_error,omitempty"`
}

const usage = "usage: banger-bench create [--runs N] [--image NAME] [--bundle DIR] [--banger PATH] [--bangerd PATH] [--disk-size 4G] [--idle 30s] [--bare] [--lock FILE]\n" +
	"       banger-bench boot --image BASE --image NEW [--register NAME=BUNDLE_DIR] [--runs N] [--bundle DIR] [--banger PATH] [--bangerd PATH] [--lock FILE]"

// Main runs `create` or `boot` with args and returns the exit code.
func Main(args []string) int {
	if len(args) > 0 && args[0] == "boot" {
		return mainBoot(args[1:])
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	c := commonFlags(fs)
	image := fs.String("image", "", "image to create from (default: the default image)")
	idle := fs.Duration("idle", 30*time.Second, "window over which the idle VMM's CPU is measured")
	bare := fs.Bool("bare", false, "also boot the last VM's disks with a bare qemu command line (qemu only)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *idle <= 0 {
		fmt.Fprintf(os.Stderr, "banger-bench create: --idle %s: must be positive\n", *idle)
		return 2
	}
	return c.run("create", func(ctx context.Context, b *bencher) (any, error) {
		b.image = *image
		rep, err := b.create(ctx, c.runs, *idle, *bare, c.lock)
		if rep == nil {
			return nil, err
		}
		return rep, err
	})
}

// common are the flags every subcommand has.
type common struct {
	runs                            int
	banger, bangerd, bundle, diskSz string
	lock                            string
	timeout                         time.Duration
}

func commonFlags(fs *flag.FlagSet) *common {
	c := &common{}
	fs.IntVar(&c.runs, "runs", 3, "number of runs")
	fs.StringVar(&c.banger, "banger", "./banger", "banger binary")
	fs.StringVar(&c.bangerd, "bangerd", "./bangerd", "bangerd binary (started inside the benchmark's network namespace)")
	defBundle := os.Getenv("BANGER_TEST_BUNDLE")
	if defBundle == "" {
		defBundle = "./runtime"
	}
	fs.StringVar(&c.bundle, "bundle", defBundle, "runtime bundle the benchmark's installation uses (default $BANGER_TEST_BUNDLE, else ./runtime)")
	fs.StringVar(&c.diskSz, "disk-size", "4G", "work disk size")
	fs.StringVar(&c.lock, "lock", "", "flock this file around each run's boots (for hosts that serialize VM tests)")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "per-boot limit for SSH readiness")
	return c
}

// run validates the common flags, sets up the sandbox, runs f, prints its
// report and removes the sandbox (also on SIGINT/SIGTERM).
func (c *common) run(name string, f func(context.Context, *bencher) (any, error)) int {
	if c.runs < 1 {
		fmt.Fprintf(os.Stderr, "banger-bench %s: --runs %d: must be at least 1\n", name, c.runs)
		return 2
	}
	sb, err := newSandbox(c.bangerd, c.bundle, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "banger-bench %s: %v\n", name, err)
		return 1
	}
	defer sb.close(c.banger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bencher{sb: sb, banger: c.banger, diskSize: c.diskSz, timeout: c.timeout, log: os.Stderr}
	rep, err := f(ctx, b)
	if rep != nil {
		printJSON(rep)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "banger-bench %s: %v\n", name, err)
		return 1
	}
	return 0
}

func (b *bencher) create(ctx context.Context, runs int, idle time.Duration, bare bool, lock string) (*Report, error) {
	rep := &Report{Image: b.image, DiskSize: b.diskSize, IdleSec: idle.Seconds()}
	if rep.Image == "" {
		rep.Image = "default"
	}
	var last string
	for i := 0; i < runs; i++ {
		r, err := b.createOnce(ctx, lock, idle, i == runs-1)
		if err != nil {
			return rep, err
		}
		last = r.Name
		fmt.Fprintf(b.log, "run %d: create→ssh %.0f ms, start→ssh %.0f ms (start %.0f), suspend %.0f ms (%d MiB), resume→ssh %.0f ms (resume %.0f), clone 4G %.0f ms / 64G %.0f ms, vmm idle %.2f%%, bangerd %d MiB, agent %d MiB, login %.0f ms\n",
			i+1, r.SSHReadyMS, r.StartSSHMS, r.StartMS, r.SuspendMS, r.SnapshotBytes>>20, r.ResumeSSHMS, r.ResumeMS, r.Clone4GMS, r.Clone64GMS,
			r.VMMIdleCPUPct, r.BangerdRSSBytes>>20, r.AgentRSSBytes>>20, r.SSHLoginMS)
		rep.Runs = append(rep.Runs, r)
	}
	col := func(f func(Run) float64) Summary {
		xs := make([]float64, 0, len(rep.Runs))
		for _, r := range rep.Runs {
			xs = append(xs, f(r))
		}
		return summarize(xs)
	}
	rep.CreateMS = col(func(r Run) float64 { return r.CreateMS })
	rep.SSHMS = col(func(r Run) float64 { return r.SSHReadyMS })
	rep.StartSSHMS = col(func(r Run) float64 { return r.StartSSHMS })
	rep.SuspendMS = col(func(r Run) float64 { return r.SuspendMS })
	rep.Snapshot = col(func(r Run) float64 { return float64(r.SnapshotBytes) })
	rep.ResumeSSH = col(func(r Run) float64 { return r.ResumeSSHMS })
	rep.StartMS = col(func(r Run) float64 { return r.StartMS })
	rep.ResumeMS = col(func(r Run) float64 { return r.ResumeMS })
	rep.Clone4G = col(func(r Run) float64 { return r.Clone4GMS })
	rep.Clone64G = col(func(r Run) float64 { return r.Clone64GMS })
	rep.VMMIdleCPU = col(func(r Run) float64 { return r.VMMIdleCPUPct })
	rep.BangerdRSS = col(func(r Run) float64 { return float64(r.BangerdRSSBytes) })
	rep.AgentRSS = col(func(r Run) float64 { return float64(r.AgentRSSBytes) })
	rep.SSHLogin = col(func(r Run) float64 { return r.SSHLoginMS })
	rep.ResumeVsStart = round3(rep.ResumeSSH.Median / rep.StartSSHMS.Median)
	rep.ResumeVsStartBanner = round3(rep.ResumeMS.Median / rep.StartMS.Median)
	rep.Clone64GVs4G = round3(rep.Clone64G.Median / rep.Clone4G.Median)
	rep.VMM, rep.Accel = b.vmm, b.accel
	if bare && rep.VMM == "qemu" && last != "" {
		unlock, err := flockFile(lock)
		if err != nil {
			return rep, err
		}
		defer unlock()
		defer b.cli(context.Background(), "vm", "delete", "--force", last)
		if _, err := b.cli(ctx, "vm", "start", last); err != nil {
			rep.BareComparisonError = err.Error()
		} else if err := b.compareBare(ctx, last, rep); err != nil {
			rep.BareComparisonError = err.Error()
		}
	}
	return rep, nil
}

// createOnce is one run: create → SSH, idle CPU and memory figures, stop →
// start → SSH, suspend, resume → SSH, stop, clone at 4G and at 64G. The
// VM and its clones are deleted afterwards, except the VM itself when
// keep is set (the bare comparison boots its disks).
func (b *bencher) createOnce(ctx context.Context, lock string, idle time.Duration, keep bool) (Run, error) {
	unlock, err := flockFile(lock)
	if err != nil {
		return Run{}, err
	}
	defer unlock()
	name := "bench-" + randHex(3)
	r := Run{Name: name}
	var clones []string
	defer func() {
		del := clones
		if !keep {
			del = append(del, name)
		}
		for _, n := range del {
			b.cli(context.Background(), "vm", "delete", "--force", n)
		}
	}()

	args := []string{"vm", "create", "--name", name, "--no-wait", "--disk-size", b.diskSize}
	if b.image != "" {
		args = append(args, "--image", b.image)
	}
	start := time.Now()
	if _, err := b.cli(ctx, args...); err != nil {
		return r, err
	}
	r.CreateMS = ms(time.Since(start))
	if err := b.waitSSH(ctx, name); err != nil {
		return r, err
	}
	r.SSHReadyMS = ms(time.Since(start))
	v, err := b.show(ctx, name)
	if err != nil {
		return r, err
	}
	b.vmm, b.accel = v.VMM, v.Accel

	// Idle figures once the boot is over (Docker and containerd up).
	if _, err := b.cli(ctx, "vm", "ssh", name, "--", "systemctl", "is-system-running", "--wait"); err != nil {
		fmt.Fprintf(b.log, "%s: systemctl is-system-running: %v\n", name, err)
	}
	if r.VMMIdleCPUPct, err = cpuPercent(ctx, v.PID, idle); err != nil {
		return r, err
	}
	if r.AgentRSSBytes, err = b.agentRSS(ctx, name); err != nil {
		return r, err
	}
	if r.BangerdRSSBytes, err = rssOf(b.sb.daemonPID()); err != nil {
		return r, fmt.Errorf("bangerd: %w", err)
	}
	start = time.Now()
	if _, err := b.cli(ctx, "vm", "ssh", name, "--", "true"); err != nil {
		return r, fmt.Errorf("ssh login: %w", err)
	}
	r.SSHLoginMS = ms(time.Since(start))

	if _, err := b.cli(ctx, "vm", "stop", name); err != nil {
		return r, err
	}
	start = time.Now()
	if _, err := b.cli(ctx, "vm", "start", name); err != nil {
		return r, err
	}
	r.StartMS = ms(time.Since(start))
	if err := b.waitSSH(ctx, name); err != nil {
		return r, err
	}
	r.StartSSHMS = ms(time.Since(start))

	start = time.Now()
	if _, err := b.cli(ctx, "vm", "suspend", name); err != nil {
		return r, err
	}
	r.SuspendMS = ms(time.Since(start))
	if r.SnapshotBytes, err = snapshotBytes(v.Dir); err != nil {
		return r, err
	}
	start = time.Now()
	out, err := b.cli(ctx, "vm", "resume", "--json", name)
	if err != nil {
		return r, err
	}
	r.ResumeMS = ms(time.Since(start))
	if err := b.waitSSH(ctx, name); err != nil {
		return r, err
	}
	r.ResumeSSHMS = ms(time.Since(start))
	r.ResumeColdBoot = resumedCold(out)

	if _, err := b.cli(ctx, "vm", "stop", name); err != nil {
		return r, err
	}
	for _, c := range []struct {
		size  string
		bytes int64
		into  *float64
	}{{"4G", 4 << 30, &r.Clone4GMS}, {"64G", 64 << 30, &r.Clone64GMS}} {
		if v.DiskSize != c.bytes {
			if _, err := b.cli(ctx, "vm", "set", "--disk-size", c.size, name); err != nil {
				return r, fmt.Errorf("grow the work disk to %s for the clone figure (create with --disk-size 4G or less): %w", c.size, err)
			}
			v.DiskSize = c.bytes
		}
		clone := name + "-c" + strings.ToLower(c.size)
		start = time.Now()
		if _, err := b.cli(ctx, "vm", "clone", name, "--name", clone); err != nil {
			return r, err
		}
		*c.into = ms(time.Since(start))
		clones = append(clones, clone)
	}
	return r, nil
}

// resumedCold tells from `vm resume --json` output whether the VM was
// booted from its disks instead of restored (banger says so in
// last_error).
func resumedCold(out []byte) bool {
	var vm struct {
		LastError string `json:"last_error"`
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if json.Unmarshal([]byte(line), &vm) == nil && vm.LastError != "" {
			return true
		}
	}
	return false
}

// agentRSS reads the guest agent's VmRSS inside the guest.
func (b *bencher) agentRSS(ctx context.Context, name string) (int64, error) {
	out, err := b.cli(ctx, "vm", "ssh", name, "--", "grep '^VmRSS:' /proc/$(pidof banger-vsock-agent)/status")
	if err != nil {
		return 0, fmt.Errorf("read the guest agent's RSS: %w", err)
	}
	return parseVmRSS(string(out))
}

// rssOf reads a host process's VmRSS.
func rssOf(pid int) (int64, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("no process (pid %d)", pid)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return parseVmRSS(line)
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS in /proc status", pid)
}

// parseVmRSS reads "VmRSS:   12345 kB" (guest output too: anything else
// is an error).
func parseVmRSS(s string) (int64, error) {
	f := strings.Fields(strings.TrimSpace(s))
	if len(f) != 3 || f[0] != "VmRSS:" || f[2] != "kB" {
		return 0, fmt.Errorf("not a VmRSS line: %.80q", s)
	}
	kb, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || kb <= 0 || kb > 1<<40 {
		return 0, fmt.Errorf("bad VmRSS value in %.80q", s)
	}
	return kb << 10, nil
}

// cpuPercent is the CPU time (user + system) pid uses over window, in
// percent of one CPU.
func cpuPercent(ctx context.Context, pid int, window time.Duration) (float64, error) {
	t0, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(window):
	}
	t1, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	const clkTck = 100 // USER_HZ on Linux
	return round3(100 * float64(t1-t0) / clkTck / time.Since(start).Seconds()), nil
}

// cpuTicks is utime+stime of pid from /proc/PID/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("vmm process: %w", err)
	}
	return parseStatTicks(string(b))
}

// parseStatTicks reads fields 14 and 15 (utime, stime) of a /proc/PID/stat
// line; the command name in parentheses may contain spaces.
func parseStatTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc stat line %.80q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat line %.80q", stat)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime in /proc stat line %.80q", stat)
	}
	return u + s, nil
}

// snapshotBytes is the allocated size of a suspended VM's snapshot files
// (memory and device state) in its directory dir.
func snapshotBytes(dir string) (int64, error) {
	var total int64
	found := false
	vd := paths.VMDir(dir)
	for _, f := range []string{vd.SnapshotMemory(), vd.SnapshotState()} {
		var st syscall.Stat_t
		if err := syscall.Stat(f, &st); err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return 0, err
		}
		found = true
		total += st.Blocks * 512
	}
	if !found {
		return 0, fmt.Errorf("suspended vm: no snapshot files in %s", dir)
	}
	return total, nil
}
