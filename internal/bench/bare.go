package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

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
			if m := b.masterOf(ctx, strings.SplitN(a[i+len("ifname="):], ",", 2)[0]); m != "" {
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
	ns := b.sb.netns
	if o, err := exec.Command("ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("create tap in %s: %v: %s", ns, err, o)
	}
	defer exec.Command("ip", "-n", ns, "link", "del", tap).Run()
	exec.Command("ip", "-n", ns, "link", "set", tap, "master", bridge).Run()
	exec.Command("ip", "-n", ns, "link", "set", tap, "up").Run()

	start := time.Now()
	qemu := b.sb.command(context.Background(), out[0], out[1:]...)
	qemu.Stdout, qemu.Stderr = io.Discard, io.Discard
	if err := qemu.Start(); err != nil {
		return 0, err
	}
	defer func() { qemu.Process.Kill(); qemu.Wait() }()
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	for {
		if b.sb.command(ctx, sshArgv[0], sshArgv[1:]...).Run() == nil {
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

// masterOf is the bridge a link in the sandbox's namespace is enslaved to.
func (b *bencher) masterOf(ctx context.Context, link string) string {
	out, err := exec.CommandContext(ctx, "ip", "-n", b.sb.netns, "-j", "link", "show", "dev", link).Output()
	if err != nil {
		return ""
	}
	var links []struct {
		Master string `json:"master"`
	}
	if json.Unmarshal(out, &links) != nil || len(links) != 1 {
		return ""
	}
	return links[0].Master
}
