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
	"strconv"
	"strings"
	"syscall"
	"time"

	"banger/internal/paths"
)

// sandbox is a banger installation of the benchmark's own: a temporary
// HOME and runtime directory, and a network namespace made with `ip netns
// add` (its daemon runs with BANGER_REQUIRE_NETNS=1), so the bridge, TAPs
// and NAT rules of the benchmark's VMs never touch the host's networking
// or the developer's own VMs. close deletes its VMs, stops its daemon,
// ends whatever is left in the namespace and removes the namespace and
// the directory.
type sandbox struct {
	netns string
	home  string
	env   []string
	log   io.Writer
}

// newSandbox needs root (ip netns add). bangerd and bundle are the daemon
// binary and runtime bundle directory the installation uses.
func newSandbox(bangerd, bundle string, log io.Writer) (*sandbox, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the benchmark runs its VMs in a network namespace of its own and needs root (sudo make …)")
	}
	var abs [2]string
	for i, p := range []string{bangerd, bundle} {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(a); err != nil {
			return nil, fmt.Errorf("benchmark sandbox: %w", err)
		}
		abs[i] = a
	}
	if _, err := os.Stat(filepath.Join(abs[1], "bundle.json")); err != nil {
		return nil, fmt.Errorf("runtime bundle %s: no bundle.json (give --bundle DIR, e.g. the test bundle from scripts/test-bundle.sh)", abs[1])
	}
	// Short: the daemon's and the VMs' unix sockets live under it.
	home, err := os.MkdirTemp("", "bgb-")
	if err != nil {
		return nil, err
	}
	s := &sandbox{netns: "banger-bench-" + randHex(4), home: home, log: log}
	run := filepath.Join(home, "run")
	if err := os.MkdirAll(run, 0o700); err != nil {
		os.RemoveAll(home)
		return nil, err
	}
	if out, err := exec.Command("ip", "netns", "add", s.netns).CombinedOutput(); err != nil {
		os.RemoveAll(home)
		return nil, fmt.Errorf("ip netns add %s: %v: %s", s.netns, err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("ip", "-n", s.netns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		s.removeNamespace()
		return nil, fmt.Errorf("loopback up in %s: %v: %s", s.netns, err, strings.TrimSpace(string(out)))
	}
	s.env = []string{
		"HOME=" + home,
		"XDG_RUNTIME_DIR=" + run,
		"PATH=" + os.Getenv("PATH"),
		"BANGER_DNS_LISTEN=127.0.0.1:0",
		"BANGER_REQUIRE_NETNS=1",
		"BANGER_RUNTIME_DIR=" + abs[1],
		"BANGER_DAEMON_BIN=" + abs[0],
	}
	fmt.Fprintf(log, "sandbox: network namespace %s, home %s, bundle %s\n", s.netns, home, abs[1])
	return s, nil
}

// command runs path inside the namespace with the installation's
// environment.
func (s *sandbox) command(ctx context.Context, path string, args ...string) *exec.Cmd {
	argv := append([]string{"netns", "exec", s.netns, path}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Env = s.env
	return cmd
}

// daemonPID is the sandbox's bangerd, 0 when none runs.
func (s *sandbox) daemonPID() int {
	l := paths.Layout{RuntimeDir: filepath.Join(s.home, "run", "banger")}
	b, err := os.ReadFile(l.DaemonPID())
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// close removes everything the sandbox made; banger is the CLI binary.
func (s *sandbox) close(banger string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if s.daemonPID() != 0 {
		if out, err := s.command(ctx, banger, "vm", "list", "--json").Output(); err == nil {
			var vms []struct{ Name string }
			if json.Unmarshal(out, &vms) == nil {
				for _, v := range vms {
					if o, err := s.command(ctx, banger, "vm", "delete", "--force", v.Name).CombinedOutput(); err != nil {
						fmt.Fprintf(s.log, "sandbox: delete vm %s: %v: %s\n", v.Name, err, strings.TrimSpace(string(o)))
					}
				}
			}
		}
		s.command(ctx, banger, "daemon", "stop").Run()
	}
	s.removeNamespace()
	os.RemoveAll(s.home)
}

// removeNamespace ends every process still in the namespace (its own
// VMMs or daemon, if a stop failed) and deletes it.
func (s *sandbox) removeNamespace() {
	for attempt := 0; attempt < 50; attempt++ {
		out, _ := exec.Command("ip", "netns", "pids", s.netns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		sig := syscall.SIGTERM
		if attempt >= 20 {
			sig = syscall.SIGKILL
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				syscall.Kill(pid, sig)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", s.netns).CombinedOutput(); err != nil {
		fmt.Fprintf(s.log, "sandbox: ip netns del %s: %v: %s\n", s.netns, err, strings.TrimSpace(string(out)))
	}
}
