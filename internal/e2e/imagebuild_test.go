package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"banger/internal/testenv"
)

// runOutsideNetns runs the CLI in the host's network namespace: only for
// `image fetch`, the fetch phase, which talks to the package registries and
// starts no daemon, links or VMs.
func (e *env) runOutsideNetns(args ...string) result {
	e.t.Helper()
	ns := e.netns
	e.netns = ""
	defer func() { e.netns = ns }()
	return e.run(args...)
}

// imagesDirEntries lists the managed images directory (nothing left over
// by a failed build: no version, no .build-/.tools- scratch).
func (e *env) imagesDirEntries(t *testing.T) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(e.stateDir(), "images"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(filepath.Join(e.stateDir(), "images"), p)
		if rel != "." && strings.Count(rel, string(filepath.Separator)) < 2 {
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func (e *env) imageNames(t *testing.T) []string {
	t.Helper()
	var ims []struct{ Name string }
	r := e.must("image", "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &ims); err != nil {
		t.Fatalf("image list --json: %v\n%s", err, r)
	}
	var names []string
	for _, im := range ims {
		names = append(names, im.Name)
	}
	return names
}

type imageJSON struct {
	Name, Rootfs string
	WorkSeed     string `json:"work_seed"`
	Managed      bool
	Versions     []string
}

func (e *env) image(t *testing.T, ref string) imageJSON {
	t.Helper()
	r := e.must("image", "show", "--json", ref)
	var im imageJSON
	if err := json.Unmarshal([]byte(r.stdout), &im); err != nil {
		t.Fatalf("image show --json: %v\n%s", err, r)
	}
	return im
}

// badBuild runs a build that must fail with want in its error and change
// nothing.
func (e *env) badBuild(t *testing.T, want string, args ...string) {
	t.Helper()
	imagesBefore, dirBefore := e.imageNames(t), e.imagesDirEntries(t)
	r := e.run(append([]string{"image", "build"}, args...)...)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("image build %v: want a failure mentioning %q, got %s", args, want, r)
	}
	if got := e.imageNames(t); !slices.Equal(got, imagesBefore) {
		t.Errorf("image build %v changed the images: %v -> %v", args, imagesBefore, got)
	}
	if got := e.imagesDirEntries(t); !slices.Equal(got, dirBefore) {
		t.Errorf("image build %v left files: %v -> %v", args, dirBefore, got)
	}
}

func TestImageBuildOnQemu(t *testing.T) {
	e := newVMEnv(t)
	bundle := os.Getenv("BANGER_TEST_BUNDLE")
	mirror := filepath.Join(repoRoot(), "..", "shared", "upstream")
	_, err := os.Stat(filepath.Join(mirror, "tmux-resurrect-v4.0.0.bundle"))
	testenv.RequireOrSkip(t, fmt.Sprintf("the tmux plugin bundles in %s (%v)", mirror, err), err == nil)
	e.extra = append(e.extra, "BANGER_ARTIFACT_MIRROR="+mirror)
	extra := filepath.Join(e.home, "extra.apt")
	os.WriteFile(extra, []byte("# small, not in the bundle\njq\n"), 0o644)
	unknown := filepath.Join(e.home, "unknown.apt")
	os.WriteFile(unknown, []byte("jq\nno-such-package-banger\n"), 0o644)

	// No network (the test's namespace) and no cache: nothing to build from.
	e.badBuild(t, "mise", "--name", "dev", "--docker")

	// The fetch phase, on the host: npm and the Debian archive.
	r := e.runOutsideNetns("image", "fetch", "--packages", extra)
	if r.code != 0 {
		t.Fatalf("image fetch: %s", r)
	}
	contains(t, r, "debian packages:")

	// Bad input, each changing nothing.
	e.must("image", "register", "--name", "reg", "--rootfs", filepath.Join(bundle, "rootfs-docker.ext4"))
	e.badBuild(t, "not built by `banger image build`", "--name", "reg")
	e.badBuild(t, "--from no-such-image: no such image", "--name", "x", "--from", "no-such-image")
	e.badBuild(t, "cannot read", "--name", "x", "--packages", filepath.Join(e.home, "missing.apt"))
	e.badBuild(t, "Unable to locate package no-such-package-banger", "--name", "x", "--packages", unknown)
	e.badBuild(t, "default image", "--name", "default")

	// A build with Docker, offline from the warm caches.
	start := time.Now()
	r = e.must("image", "build", "--name", "dev", "--docker", "--packages", extra)
	t.Logf("image build --docker: %s\n%s", time.Since(start).Round(time.Millisecond), r.stdout)
	for _, step := range []string{"extract base", "install packages", "docker: enable", "mise 2026.9.15 + opencode", "tmux plugins", "banger-vsock-agent", "mkfs.ext4 rootfs"} {
		contains(t, r, step)
	}
	// One log per build that got as far as opening it: the offline one
	// that failed, and this one.
	logs, _ := filepath.Glob(filepath.Join(e.stateDir(), "image-build", "dev-*.log"))
	if len(logs) != 2 {
		t.Errorf("build logs: %v", logs)
	} else if b, _ := os.ReadFile(logs[1]); !strings.Contains(string(b), "mkfs.ext4") || !strings.Contains(string(b), "# done in") {
		t.Errorf("build log %s lacks the commands:\n%s", logs[1], b)
	}
	dev := e.image(t, "dev")
	if !dev.Managed || !strings.HasPrefix(dev.Rootfs, filepath.Join(e.stateDir(), "images", "dev")+"/") || dev.WorkSeed == "" {
		t.Fatalf("built image: %+v", dev)
	}
	for _, v := range []string{"mise 2026.9.15", "opencode 1.18.33", "tmux-resurrect v4.0.0", "tmux-continuum v3.1.0", "jq 1.6", "docker.io "} {
		if !slices.ContainsFunc(dev.Versions, func(s string) bool { return strings.HasPrefix(s, v) }) {
			t.Errorf("image show dev does not record %q: %v", v, dev.Versions)
		}
	}
	contains(t, e.must("image", "list"), "dev")

	e.must("vm", "create", "--image", "dev", "--name", "e2e-a", "--memory", "768")
	check := func(vm, what, cmd string, want ...string) {
		t.Helper()
		out := e.ssh(t, vm, "bash", "-lc", cmd)
		if out.code != 0 {
			t.Errorf("%s: %s", what, out)
			return
		}
		for _, w := range want {
			if !strings.Contains(out.stdout, w) {
				t.Errorf("%s: want %q in %s", what, w, out)
			}
		}
	}
	check("e2e-a", "mise in a login shell", "type -P mise && mise --version", "/usr/local/bin/mise", "2026.9.15")
	check("e2e-a", "mise in an interactive shell", "bash -ic 'mise --version' 2>/dev/null", "2026.9.15")
	check("e2e-a", "opencode through mise", "mise ls opencode && command -v opencode && opencode --version && mise exec -- opencode --version",
		"1.18.33", "/root/.local/share/mise/installs/opencode/1.18.33")
	check("e2e-a", "tmux plugins", "test -f /root/.tmux/plugins/tmux-resurrect/resurrect.tmux && test -f /root/.tmux/plugins/tmux-continuum/continuum.tmux && "+
		"tmux new-session -d -s t && sleep 1 && echo restore=$(tmux show -gv @continuum-restore) interval=$(tmux show -gv @continuum-save-interval) && tmux show -gv status-right; tmux kill-server",
		"restore=off", "interval=15", "continuum_save.sh")
	check("e2e-a", "extra package", "jq --version", "jq-1.6")
	check("e2e-a", "agent service", "systemctl is-active banger-vsock-agent", "active")
	if r := e.run("vm", "ports", "e2e-a"); r.code != 0 {
		t.Errorf("the agent does not answer (vm ports): %s", r)
	}
	var docker result
	if !eventually(90*time.Second, func() bool {
		docker = e.ssh(t, "e2e-a", "systemctl is-active docker && docker info --format '{{.Driver}}'")
		return docker.code == 0
	}) || !strings.Contains(docker.stdout, "overlay2") {
		t.Errorf("docker in a VM of the --docker image: %s", docker)
	}

	// Rebuilding makes a new version; the VM keeps the old one until it goes.
	e.must("vm", "stop", "e2e-a")
	script := filepath.Join(e.home, "customize.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nset -e\necho \"customized as $(id -u)\" > /etc/banger-customized\n"), 0o755)
	e.writeConfig("customize_script = \"" + script + "\"\n")
	r = e.must("image", "build", "--name", "dev")
	contains(t, r, "customize_script customize.sh")
	dev2 := e.image(t, "dev")
	if dev2.Rootfs == dev.Rootfs {
		t.Fatalf("rebuild kept the rootfs path %s", dev.Rootfs)
	}
	if _, err := os.Stat(dev.Rootfs); err != nil {
		t.Errorf("the old version went while e2e-a uses it: %v", err)
	}
	e.must("vm", "start", "e2e-a")
	check("e2e-a", "old VM keeps its image", "dpkg -s docker.io >/dev/null && echo has-docker", "has-docker")
	r = e.run("image", "delete", "dev")
	if r.code == 0 {
		t.Errorf("image delete of an image in use succeeded: %s", r)
	}
	e.must("vm", "delete", "--force", "e2e-a")
	if _, err := os.Stat(dev.Rootfs); !os.IsNotExist(err) {
		t.Errorf("the old version stayed after its last VM went: %v", err)
	}

	// The image built without --docker has no Docker.
	e.must("vm", "create", "--image", "dev", "--name", "e2e-b", "--memory", "768")
	check("e2e-b", "customize_script ran last, as root", "cat /etc/banger-customized && mise --version", "customized as 0", "2026.9.15")
	out := e.ssh(t, "e2e-b", "sh", "-c", "command -v docker; dpkg -s docker.io; systemctl is-active docker; mise --version")
	if strings.Contains(out.stdout, "/docker") || strings.Contains(out.stdout, "Status: install ok installed") || strings.Contains(out.stdout, "\nactive") {
		t.Errorf("a VM of an image built without --docker has Docker: %s", out)
	}
	e.must("vm", "delete", "--force", "e2e-b")
	e.must("image", "delete", "dev")
	if _, err := os.Stat(filepath.Dir(dev2.Rootfs)); !os.IsNotExist(err) {
		t.Errorf("image delete left %s: %v", filepath.Dir(dev2.Rootfs), err)
	}
	if r := e.run("image", "delete", "default"); r.code == 0 || !strings.Contains(r.stderr, "default image") {
		t.Errorf("image delete default: %s", r)
	}
}
