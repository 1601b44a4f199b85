// Package bench measures VM create and first-SSH readiness by driving the
// real banger CLI, and on the qemu path compares a boot through banger with
// the same disks booted by a bare qemu command line.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Run is one create measurement.
type Run struct {
	Name       string  `json:"name"`
	CreateMS   float64 `json:"create_ms"`
	SSHReadyMS float64 `json:"ssh_ready_ms"`
}

// Summary is min and median of a series.
type Summary struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
}

// Report is what bench-create prints.
type Report struct {
	Image    string  `json:"image"`
	VMM      string  `json:"vmm"`
	Accel    string  `json:"accel"`
	Runs     []Run   `json:"runs"`
	CreateMS Summary `json:"create_ms"`
	SSHMS    Summary `json:"ssh_ready_ms"`
	// On the qemu path: the last VM restarted through banger, then the
	// same disks booted by banger's qemu command line run by hand.
	StartSSHReadyMS     float64 `json:"start_ssh_ready_ms,omitempty"`
	BareQemuSSHReadyMS  float64 `json:"bare_qemu_ssh_ready_ms,omitempty"`
	OverheadVsBarePct   float64 `json:"overhead_vs_bare_pct,omitempty"`
	BareComparisonError string  `json:"bare_comparison_error,omitempty"`
}

// Main runs `create` or `boot` with args and returns the exit code.
func Main(args []string) int {
	if len(args) > 0 && args[0] == "boot" {
		return mainBoot(args[1:])
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(os.Stderr, "usage: banger-bench create [--runs N] [--image NAME] [--banger PATH] [--disk-size 8G] [--no-bare]\n"+
			"       banger-bench boot --image BASE --image NEW [--register NAME=BUNDLE_DIR] [--runs N] [--banger PATH] [--lock FILE]")
		return 2
	}
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	runs := fs.Int("runs", 3, "number of creates")
	image := fs.String("image", "", "image to create from (default: the default image)")
	banger := fs.String("banger", "./banger", "banger binary")
	diskSize := fs.String("disk-size", "8G", "work disk size")
	noBare := fs.Bool("no-bare", false, "skip the bare qemu comparison")
	timeout := fs.Duration("timeout", 5*time.Minute, "per-run limit for SSH readiness")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "--runs must be at least 1")
		return 2
	}
	b := &bencher{banger: *banger, image: *image, diskSize: *diskSize, timeout: *timeout, log: os.Stderr}
	rep, err := b.create(context.Background(), *runs, !*noBare)
	if rep != nil {
		printJSON(rep)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-create:", err)
		return 1
	}
	return 0
}

type bencher struct {
	banger, image, diskSize string
	timeout                 time.Duration
	log                     io.Writer
	vmm, accel              string // seen by boot
}

func printJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

func (b *bencher) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, b.banger, args...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, fmt.Errorf("banger %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return out, fmt.Errorf("banger %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

type vmInfo struct {
	ID, Name, VMM, Accel, IP, Dir string
	PID                           int
}

func (b *bencher) show(ctx context.Context, name string) (vmInfo, error) {
	out, err := b.cli(ctx, "vm", "show", "--json", name)
	if err != nil {
		return vmInfo{}, err
	}
	var v vmInfo
	return v, json.Unmarshal(out, &v)
}

// waitSSH polls `banger vm ssh NAME -- true` until it succeeds.
func (b *bencher) waitSSH(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	for {
		cmd := exec.CommandContext(ctx, b.banger, "vm", "ssh", name, "--", "true")
		if cmd.Run() == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vm %s: ssh not ready within %s", name, b.timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (b *bencher) create(ctx context.Context, runs int, bare bool) (*Report, error) {
	rep := &Report{Image: b.image}
	if rep.Image == "" {
		rep.Image = "default"
	}
	var last string
	defer func() {
		if last != "" {
			b.cli(context.Background(), "vm", "delete", "--force", last)
		}
	}()
	for i := 0; i < runs; i++ {
		name := "bench-" + randHex(3)
		args := []string{"vm", "create", "--name", name, "--no-wait", "--disk-size", b.diskSize}
		if b.image != "" {
			args = append(args, "--image", b.image)
		}
		start := time.Now()
		if _, err := b.cli(ctx, args...); err != nil {
			return rep, err
		}
		created := time.Since(start)
		if last != "" {
			b.cli(ctx, "vm", "delete", "--force", last)
		}
		last = name
		if err := b.waitSSH(ctx, name); err != nil {
			return rep, err
		}
		r := Run{Name: name, CreateMS: ms(created), SSHReadyMS: ms(time.Since(start))}
		fmt.Fprintf(b.log, "run %d: create %.0f ms, ssh ready %.0f ms\n", i+1, r.CreateMS, r.SSHReadyMS)
		rep.Runs = append(rep.Runs, r)
		if rep.VMM == "" {
			if v, err := b.show(ctx, name); err == nil {
				rep.VMM, rep.Accel = v.VMM, v.Accel
			}
		}
	}
	var c, s []float64
	for _, r := range rep.Runs {
		c, s = append(c, r.CreateMS), append(s, r.SSHReadyMS)
	}
	rep.CreateMS, rep.SSHMS = summarize(c), summarize(s)
	if bare && rep.VMM == "qemu" {
		if err := b.compareBare(ctx, last, rep); err != nil {
			rep.BareComparisonError = err.Error()
		}
	}
	return rep, nil
}

func summarize(xs []float64) Summary {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{Min: s[0], Median: med}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// compareBare boots the last VM's disks twice more, both second boots of
// the same disks: once with banger's own qemu command line run by hand on a
// TAP of its own, once through `banger vm start`.
func (b *bencher) compareBare(ctx context.Context, name string, rep *Report) error {
	v, err := b.show(ctx, name)
	if err != nil {
		return err
	}
	argv, err := cmdline(v.PID)
	if err != nil {
		return err
	}
	sshOut, err := b.cli(ctx, "vm", "ssh", "--print", name, "--", "true")
	if err != nil {
		return err
	}
	sshArgv := strings.Fields(strings.TrimSpace(string(sshOut)))
	bridge := "banger0"
	for _, a := range argv {
		if i := strings.Index(a, "ifname="); i >= 0 {
			if m := masterOf(strings.SplitN(a[i+len("ifname="):], ",", 2)[0]); m != "" {
				bridge = m
			}
		}
	}
	if _, err := b.cli(ctx, "vm", "stop", name); err != nil {
		return err
	}
	bare, err := b.timeBare(ctx, argv, sshArgv, bridge)
	if err != nil {
		return fmt.Errorf("bare qemu: %w", err)
	}
	rep.BareQemuSSHReadyMS = bare
	start := time.Now()
	if _, err := b.cli(ctx, "vm", "start", name); err != nil {
		return err
	}
	rep.StartSSHReadyMS = ms(time.Since(start))
	rep.OverheadVsBarePct = 100 * (rep.StartSSHReadyMS - bare) / bare
	return nil
}

// cmdline reads a process's argv.
func cmdline(pid int) ([]string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, fmt.Errorf("read vmm command line: %w", err)
	}
	return strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"), nil
}

// timeBare runs argv (a qemu command line banger used) with a TAP of its own
// and its sockets in a temporary directory, and times it to SSH.
func (b *bencher) timeBare(ctx context.Context, argv, sshArgv []string, bridge string) (float64, error) {
	tmp, err := os.MkdirTemp("", "banger-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	tap := "bgt-bench" + randHex(1)
	out := make([]string, 0, len(argv))
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case strings.HasPrefix(a, "tap,"):
			fields := strings.Split(a, ",")
			for j, f := range fields {
				if strings.HasPrefix(f, "ifname=") {
					fields[j] = "ifname=" + tap
				}
			}
			a = strings.Join(fields, ",")
		case a == "-pidfile":
			out = append(out, a, filepath.Join(tmp, "pid"))
			i++
			continue
		case strings.Contains(a, "path=") && strings.Contains(a, "socket,"):
			a = rewritePath(a, tmp)
		case strings.Contains(a, "file,id=console"):
			a = rewritePath(a, tmp)
		}
		out = append(out, a)
	}
	if o, err := exec.Command("ip", "tuntap", "add", "dev", tap, "mode", "tap").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("create tap (needs root): %v: %s", err, o)
	}
	defer exec.Command("ip", "link", "del", tap).Run()
	exec.Command("ip", "link", "set", tap, "master", bridge).Run()
	exec.Command("ip", "link", "set", tap, "up").Run()

	start := time.Now()
	qemu := exec.Command(out[0], out[1:]...)
	qemu.Stdout, qemu.Stderr = io.Discard, io.Discard
	if err := qemu.Start(); err != nil {
		return 0, err
	}
	defer func() { qemu.Process.Kill(); qemu.Wait() }()
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	for {
		if exec.CommandContext(ctx, sshArgv[0], sshArgv[1:]...).Run() == nil {
			return ms(time.Since(start)), nil
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("ssh not ready in time")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func rewritePath(arg, dir string) string {
	fields := strings.Split(arg, ",")
	for j, f := range fields {
		if strings.HasPrefix(f, "path=") {
			fields[j] = "path=" + filepath.Join(dir, filepath.Base(strings.TrimPrefix(f, "path=")))
		}
	}
	return strings.Join(fields, ",")
}

// masterOf is the bridge a link is enslaved to.
func masterOf(link string) string {
	target, err := os.Readlink("/sys/class/net/" + link + "/master")
	if err != nil {
		return ""
	}
	return filepath.Base(target)
}
