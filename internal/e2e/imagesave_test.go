package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// runHelper runs one of the repository's shell helpers (customize.sh, ...)
// in the env, with its banger.
func (e *env) runHelper(script string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := e.command(ctx, filepath.Join(repoRoot(), script), args...)
	cmd.Env = append(cmd.Env, "BANGER="+filepath.Join(binDir, "banger"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{out.String(), errb.String(), code}
}

// customizeScript writes a file, a whiteout (/etc/motd removed), an opaque
// directory (/etc/skel replaced) and a file under /root, and records the
// throwaway VM's identity, which the saved image must not keep.
const customizeScript = `#!/bin/sh
set -e
echo saved-by-customize > /etc/banger-saved
rm /etc/motd
rm -rf /etc/skel && mkdir /etc/skel && echo only > /etc/skel/only
echo home > /root/from-customize
hostname > /etc/throwaway-hostname
cat /etc/machine-id > /etc/throwaway-machine-id
`

// saveWithCustomize runs customize.sh on image (one throwaway VM boot) and
// checks its refusals, which boot nothing; the caller boots a VM of the
// saved image and passes it to checkSaved.
func (e *env) saveWithCustomize(t *testing.T, image, saved string) {
	t.Helper()
	script := filepath.Join(e.home, "customize-test.sh")
	if err := os.WriteFile(script, []byte(customizeScript), 0o755); err != nil {
		t.Fatal(err)
	}
	before := e.imageNames(t)
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{image, filepath.Join(e.home, "missing.sh"), "x"}, "cannot read script"},
		{[]string{"no-such-image", script, "x"}, "no image no-such-image"},
		{[]string{image, script, image}, "image " + image + " already exists"},
		{[]string{image, script}, "customize.sh"}, // usage
	} {
		r := e.runHelper("customize.sh", bad.args...)
		if r.code == 0 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("customize.sh %v: want a failure mentioning %q, got %s", bad.args, bad.want, r)
		}
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{image, image}, "image " + image + " already exists"},
		{[]string{"--bogus", image, "x"}, "unknown option --bogus"},
		{[]string{image}, "interactive.sh"}, // usage
	} {
		r := e.runHelper("interactive.sh", bad.args...)
		if r.code == 0 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("interactive.sh %v: want a failure mentioning %q, got %s", bad.args, bad.want, r)
		}
	}
	if got := e.imageNames(t); !slices.Equal(got, before) {
		t.Errorf("refused helper runs changed the images: %v -> %v", before, got)
	}

	start := time.Now()
	r := e.runHelper("customize.sh", "--memory", "768", image, script, saved)
	t.Logf("customize.sh: %s\n%s", time.Since(start).Round(time.Millisecond), r.stdout)
	if r.code != 0 {
		t.Fatalf("customize.sh: %s", r)
	}
	contains(t, r, "apply the VM's changes (overlay)", "/root from the work disk", "mkfs.ext4 rootfs")
	im := e.image(t, saved)
	if !im.Managed || !strings.HasPrefix(im.Rootfs, filepath.Join(e.stateDir(), "images", saved)+"/") || im.WorkSeed == "" {
		t.Errorf("saved image: %+v", im)
	}
	// The throwaway VM, its export and the helper's record are gone.
	if vms := e.must("vm", "list").stdout; strings.Contains(vms, "bh-") {
		t.Errorf("customize.sh left its throwaway vm:\n%s", vms)
	}
	for _, p := range e.imagesDirEntries(t) {
		if strings.HasPrefix(p, ".") {
			t.Errorf("image save left %s in the images directory", p)
		}
	}
	if recs, _ := filepath.Glob(filepath.Join(e.stateDir(), "helpers", "*.vm")); len(recs) != 0 {
		t.Errorf("customize.sh left records: %v", recs)
	}
}

// checkSaved checks a running VM of the image customize.sh saved.
func (e *env) checkSaved(t *testing.T, vm string) {
	t.Helper()
	out := e.ssh(t, vm, "sh", "-c", "cat /etc/banger-saved /root/from-customize; ls -A /etc/skel; test -e /etc/motd && echo motd-back; "+
		"echo host=$(hostname) was=$(cat /etc/throwaway-hostname); "+
		"test \"$(cat /etc/machine-id)\" = \"$(cat /etc/throwaway-machine-id)\" && echo same-machine-id; true")
	if out.code != 0 {
		t.Fatalf("ssh into %s: %s", vm, out)
	}
	for _, want := range []string{"saved-by-customize\nhome\nonly\n", "host=" + vm + " was=bh-"} {
		if !strings.Contains(out.stdout, want) {
			t.Errorf("vm of the saved image: want %q in\n%s", want, out.stdout)
		}
	}
	for _, bad := range []string{"motd-back", "same-machine-id", ".bashrc"} {
		if strings.Contains(out.stdout, bad) {
			t.Errorf("vm of the saved image: %q in\n%s", bad, out.stdout)
		}
	}
	// A running VM cannot be saved; nothing changes.
	before := e.imageNames(t)
	r := e.run("image", "save", vm, "--name", "not-saved")
	if r.code == 0 || !strings.Contains(r.stderr, "only a stopped vm can be saved") {
		t.Errorf("image save of a running vm: %s", r)
	}
	if got := e.imageNames(t); !slices.Equal(got, before) {
		t.Errorf("a refused image save changed the images: %v -> %v", before, got)
	}
}

func TestCustomizeHelperOnQemu(t *testing.T) {
	e := newVMEnv(t)
	e.saveWithCustomize(t, "default", "saved")
	e.must("vm", "create", "--image", "saved", "--name", "e2e-a", "--memory", "768")
	e.checkSaved(t, "e2e-a")
}

// packages.sh turns a packages.apt-style list into a guest install script.
func TestPackagesShScripts(t *testing.T) {
	list := filepath.Join(t.TempDir(), "p.apt")
	os.WriteFile(list, []byte("# tools\ngit  curl # comment\n\n\tjq\n"), 0o644)
	lib := filepath.Join(repoRoot(), "packages.sh")
	out, err := exec.Command("sh", "-c", `. "$1"; read_packages "$2" | tr '\n' ,; echo; apt_install_script "$2"`, "sh", lib, list).CombinedOutput()
	if err != nil {
		t.Fatalf("packages.sh: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "git,curl,jq,\n#!/bin/sh\n") || !strings.Contains(string(out), "apt-get install -y --no-install-recommends git curl jq \n") {
		t.Errorf("packages.sh output:\n%s", out)
	}
	out, err = exec.Command("sh", "-c", `. "$1"; read_packages /nonexistent`, "sh", lib).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot read package list /nonexistent") {
		t.Errorf("read_packages of a missing file: %v %s", err, out)
	}
}

// fakeBanger is a banger that logs its arguments: "image show" knows the
// images in $IMAGES, "vm ssh" fails with 3 when $FAIL_SSH is set, and
// /tmp/banger-discard exists in the VM when $DISCARD is set.
const fakeBanger = `#!/bin/sh
echo "$*" >> "$LOG"
case "$1 $2" in
"image show") case " $IMAGES " in *" $3 "*) exit 0 ;; esac; echo "error: image $3 not found" >&2; exit 1 ;;
"vm ssh") [ -z "$FAIL_SSH" ] || exit 3
	case "$*" in *banger-discard*) [ -n "$DISCARD" ] || exit 1 ;; esac ;;
esac
exit 0
`

// The helpers' control flow, with a fake banger (no VM): the order of the
// banger commands, no save after a failed script, the throwaway VM deleted
// either way, and a VM left by a killed run deleted by the next one.
func TestCustomizeShFlow(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "banger")
	os.WriteFile(fake, []byte(fakeBanger), 0o755)
	script := filepath.Join(dir, "s.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ntrue\n"), 0o755)
	state := filepath.Join(dir, "state")
	run := func(failSSH bool, args ...string) (string, []string, error) {
		return runFakeHelper(dir, fake, state, "customize.sh", failSSH, nil, args...)
	}

	// A record of a throwaway VM whose helper run is gone.
	os.MkdirAll(filepath.Join(state, "helpers"), 0o755)
	os.WriteFile(filepath.Join(state, "helpers", "bh-dead00.vm"), []byte("999999999\n"), 0o644)

	out, calls, err := run(false, "--memory", "512", "base", script, "new")
	if err != nil {
		t.Fatalf("customize.sh: %v\n%s", err, out)
	}
	vm := ""
	for _, c := range calls {
		if f := strings.Fields(c); len(f) > 6 && f[0] == "vm" && f[1] == "create" {
			vm = f[5]
		}
	}
	want := []string{
		"vm delete --force bh-dead00",
		"image show base", "image show new",
		"vm create --image base --name " + vm + " --memory 512",
		"vm cp " + script + " " + vm + ":/tmp/banger-customize",
		"vm ssh " + vm + " -- chmod 0755 /tmp/banger-customize && cd /root && /bin/sh -c /tmp/banger-customize",
		"vm stop " + vm,
		"image save " + vm + " --name new",
		"vm delete --force " + vm,
	}
	if !slices.Equal(calls, want) {
		t.Errorf("customize.sh ran\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if recs, _ := filepath.Glob(filepath.Join(state, "helpers", "*")); len(recs) != 0 {
		t.Errorf("records left: %v", recs)
	}

	out, calls, err = run(true, "base", script, "new")
	if err == nil || !strings.Contains(out, "failed in") || !strings.Contains(out, "nothing was saved") {
		t.Errorf("customize.sh with a failing script: %v\n%s", err, out)
	}
	for _, c := range calls {
		if strings.HasPrefix(c, "image save") || strings.HasPrefix(c, "vm stop") {
			t.Errorf("a failed script still ran %q", c)
		}
	}
	if last := calls[len(calls)-1]; !strings.HasPrefix(last, "vm delete --force bh-") {
		t.Errorf("the throwaway vm was not deleted after a failure: %v", calls)
	}
	if recs, _ := filepath.Glob(filepath.Join(state, "helpers", "*")); len(recs) != 0 {
		t.Errorf("records left after a failure: %v", recs)
	}
}

// runFakeHelper runs a helper with the fake banger and returns its output
// and the banger commands it ran.
func runFakeHelper(dir, fake, state, helper string, failSSH bool, env []string, args ...string) (string, []string, error) {
	log := filepath.Join(dir, "log")
	os.Remove(log)
	cmd := exec.Command(filepath.Join(repoRoot(), helper), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "BANGER=" + fake, "LOG=" + log,
		"IMAGES=base", "BANGER_STATE_DIR=" + state}, env...)
	if failSSH {
		cmd.Env = append(cmd.Env, "FAIL_SSH=1")
	}
	out, err := cmd.CombinedOutput()
	b, _ := os.ReadFile(log)
	return string(out), strings.Split(strings.TrimSpace(string(b)), "\n"), err
}

func TestInteractiveShFlow(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "banger")
	os.WriteFile(fake, []byte(fakeBanger), 0o755)
	state := filepath.Join(dir, "state")
	out, calls, err := runFakeHelper(dir, fake, state, "interactive.sh", false, nil, "base", "new")
	if err != nil {
		t.Fatalf("interactive.sh: %v\n%s", err, out)
	}
	vm := strings.Fields(calls[2])[5]
	want := []string{
		"image show base", "image show new",
		"vm create --image base --name " + vm,
		"vm ssh " + vm,
		"vm ssh " + vm + " -- test -e /tmp/banger-discard",
		"vm stop " + vm,
		"image save " + vm + " --name new",
		"vm delete --force " + vm,
	}
	if !slices.Equal(calls, want) {
		t.Errorf("interactive.sh ran\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	out, calls, err = runFakeHelper(dir, fake, state, "interactive.sh", false, []string{"DISCARD=1"}, "base", "new")
	if err != nil || !strings.Contains(out, "nothing was saved") {
		t.Errorf("interactive.sh with /tmp/banger-discard: %v\n%s", err, out)
	}
	for _, c := range calls {
		if strings.HasPrefix(c, "image save") {
			t.Errorf("a discarded session was saved: %v", calls)
		}
	}
	if last := calls[len(calls)-1]; !strings.HasPrefix(last, "vm delete --force bh-") {
		t.Errorf("the throwaway vm was not deleted after a discard: %v", calls)
	}
}
