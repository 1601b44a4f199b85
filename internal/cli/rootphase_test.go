package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"banger/internal/image/imagebuild"
	"banger/internal/testenv"
)

// rootPhaseTestMain lets the test binary play both sides of the root
// phase: run through sudo with "image build-phase ..." it is banger's root
// half; with BANGER_TEST_ROOT_PHASE=<file> it is the user half, running
// runRootPhase for the buildPhase in <file>. It reports whether it ran.
func rootPhaseTestMain() bool {
	if len(os.Args) > 2 && os.Args[1] == "image" && os.Args[2] == "build-phase" {
		os.Exit(Run(context.Background(), os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
	}
	f := os.Getenv("BANGER_TEST_ROOT_PHASE")
	if f == "" {
		return false
	}
	b, err := os.ReadFile(f)
	var bp buildPhase
	if err == nil {
		err = json.Unmarshal(b, &bp)
	}
	if err == nil {
		e := &env{io: IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}}
		err = runRootPhase(context.Background(), e, bp, filepath.Dir(f))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func TestRootPhaseArgv(t *testing.T) {
	got := rootPhaseArgv("/usr/local/bin/banger", "/home/u/.local/state/banger/images/.tools-1/build-phase.json")
	want := []string{"sudo", "--", "/usr/local/bin/banger", "image", "build-phase", "--spec", "/home/u/.local/state/banger/images/.tools-1/build-phase.json"}
	if !slices.Equal(got, want) {
		t.Errorf("rootPhaseArgv = %q, want %q", got, want)
	}
}

func TestBuildPhaseRefusals(t *testing.T) {
	dir := t.TempDir()
	e := &env{io: IO{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	noenv := func(string) string { return "" }
	if err := runBuildPhase(context.Background(), e, filepath.Join(dir, "x.json"), 1000, noenv); err == nil || !strings.Contains(err.Error(), "runs as root") {
		t.Errorf("build-phase as uid 1000 = %v, want a refusal", err)
	}
	spec := filepath.Join(dir, "spec.json")
	for body, want := range map[string]string{
		`{"log":"x"}`:                        "exactly one of options and save",
		`{"options":{},"save":{},"log":"x"}`: "exactly one of options and save",
		`not json`:                           "build phase spec",
	} {
		os.WriteFile(spec, []byte(body), 0o600)
		if err := runBuildPhase(context.Background(), e, spec, 0, noenv); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("spec %s: %v, want %q", body, err, want)
		}
	}
	bp := buildPhase{UID: 1000, GID: 1000}
	env := map[string]string{"SUDO_UID": "1001", "SUDO_GID": "1000"}
	if _, _, err := phaseOwner(bp, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "sudo was run by uid 1001") {
		t.Errorf("phaseOwner with another sudo user = %v", err)
	}
	env["SUDO_UID"] = "1000"
	if uid, gid, err := phaseOwner(bp, func(k string) string { return env[k] }); err != nil || uid != 1000 || gid != 1000 {
		t.Errorf("phaseOwner = %d %d %v", uid, gid, err)
	}
}

// handBack gives the user what the root phase made, and nothing else.
func TestHandBackOnlyWhatThePhaseMade(t *testing.T) {
	testenv.RequireOrSkip(t, "root (file owners)", os.Geteuid() == 0)
	dir := t.TempDir()
	const uid, gid = 65534, 65534
	images := filepath.Join(dir, "images")
	os.MkdirAll(filepath.Join(images, "old", "v0"), 0o755)
	os.Chown(images, uid, gid)
	outDir := filepath.Join(images, "new", "v1")
	os.MkdirAll(outDir, 0o755)
	os.WriteFile(filepath.Join(outDir, "rootfs.ext4"), nil, 0o644)
	cache := filepath.Join(dir, "debs")
	os.MkdirAll(filepath.Join(cache, "archives"), 0o755)
	os.Chown(cache, uid, gid)
	os.WriteFile(filepath.Join(cache, "archives", "new.deb"), nil, 0o644) // made by the phase (root)
	other := filepath.Join(cache, "theirs")
	os.WriteFile(other, nil, 0o644)
	os.Chown(other, 4242, 4242) // someone else's: stays theirs

	if err := handBack(outDir, true, cache, uid, gid); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]int{
		outDir: uid, filepath.Join(outDir, "rootfs.ext4"): uid, filepath.Dir(outDir): uid,
		filepath.Join(cache, "archives", "new.deb"): uid, other: 4242,
		filepath.Join(images, "old", "v0"): 0,
	} {
		if got := ownerOf(t, p); got != want {
			t.Errorf("%s owned by %d, want %d", p, got, want)
		}
	}
	// A cache directory the user does not own is refused.
	rootCache := filepath.Join(dir, "rootcache")
	os.MkdirAll(rootCache, 0o755)
	if err := handBack(outDir, false, rootCache, uid, gid); err == nil || !strings.Contains(err.Error(), "not a directory of uid 65534") {
		t.Errorf("handBack into a root-owned cache = %v", err)
	}
}

func ownerOf(t *testing.T, p string) int {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Sys().(*syscall.Stat_t).Uid)
}

// The non-root path for real: a user (nobody) runs the root phase of an
// image save through sudo, allowed by a sudoers rule for exactly that
// command, and gets the image's files.
func TestRootPhaseThroughSudoAsNonRoot(t *testing.T) {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"sudo", "visudo", "mkfs.ext4", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				missing = append(missing, tool)
			}
		}
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		missing = append(missing, "a nobody user")
	}
	testenv.RequireOrSkip(t, strings.Join(missing, ", ")+" (root phase through sudo)", len(missing) == 0)
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	// Everything nobody needs is reachable: a 0755 tree, the binary
	// root-owned (a sudoers rule for a binary its user could replace would
	// be root for them).
	top, err := os.MkdirTemp("", "banger-rootphase-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	os.Chmod(top, 0o755)
	self, _ := os.Executable()
	exe := filepath.Join(top, "bin", "banger")
	os.MkdirAll(filepath.Dir(exe), 0o755)
	if out, err := exec.Command("cp", self, exe).CombinedOutput(); err != nil {
		t.Fatalf("copy test binary: %v: %s", err, out)
	}
	os.Chmod(exe, 0o755)

	mkfs := func(name string, files map[string]string) string {
		t.Helper()
		src := filepath.Join(top, "src-"+name)
		for p, data := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755)
			if !strings.HasSuffix(p, "/") {
				os.WriteFile(filepath.Join(src, p), []byte(data), 0o644)
			}
		}
		img := filepath.Join(top, name+".ext4")
		os.WriteFile(img, nil, 0o600)
		os.Truncate(img, 64<<20)
		if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", src, img).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4 %s: %v: %s", name, err, out)
		}
		return img
	}
	base := mkfs("base", map[string]string{"etc/base-file": "base\n", "root/": ""})
	ovl := mkfs("overlay", map[string]string{"upper/etc/from-upper": "upper\n", "work/": ""})
	work := mkfs("work", map[string]string{"from-work": "work\n"})

	state := filepath.Join(top, "state")
	images := filepath.Join(state, "images")
	export := filepath.Join(images, ".export-test")
	os.MkdirAll(export, 0o700)
	logPath := filepath.Join(state, "save.log")
	os.WriteFile(logPath, nil, 0o644)
	outDir := filepath.Join(images, "saved", "v1")
	bp := buildPhase{Save: &imagebuild.SaveOptions{BaseRootfs: base, Overlay: ovl, WorkDisk: work, OutDir: outDir}, Log: logPath}
	b, _ := json.Marshal(bp)
	userSpec := filepath.Join(export, "user.json")
	os.WriteFile(userSpec, b, 0o600)
	exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), state).Run()

	rb := make([]byte, 4)
	rand.Read(rb)
	sudoers := "/etc/sudoers.d/banger-test-" + hex.EncodeToString(rb)
	rule := fmt.Sprintf("nobody ALL=(root) NOPASSWD: %s image build-phase --spec *\n", exe)
	if err := os.WriteFile(sudoers, []byte(rule), 0o440); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sudoers) })
	if out, err := exec.Command("visudo", "-cf", sudoers).CombinedOutput(); err != nil {
		t.Fatalf("visudo -cf: %v: %s", err, out)
	}

	asNobody := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(exe, args...)
		cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + state}, env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Without sudo the root half refuses.
	if out, err := asNobody(nil, "image", "build-phase", "--spec", userSpec); err == nil || !strings.Contains(out, "runs as root") {
		t.Errorf("build-phase as nobody without sudo: %v\n%s", err, out)
	}
	out, err := asNobody([]string{"BANGER_TEST_ROOT_PHASE=" + userSpec})
	t.Logf("root phase through sudo:\n%s", out)
	if err != nil {
		t.Fatalf("root phase through sudo as nobody: %v", err)
	}
	if !strings.Contains(out, "root phase: sudo -- "+exe+" image build-phase --spec") {
		t.Errorf("the root phase's command line is not printed: %s", out)
	}
	for _, p := range []string{filepath.Dir(outDir), outDir, filepath.Join(outDir, "rootfs.ext4"), filepath.Join(outDir, "work-seed.ext4")} {
		if got := ownerOf(t, p); got != uid {
			t.Errorf("%s is owned by %d, want nobody (%d)", p, got, uid)
		}
	}
	for img, files := range map[string]map[string]string{
		filepath.Join(outDir, "rootfs.ext4"):    {"/etc/base-file": "base\n", "/etc/from-upper": "upper\n"},
		filepath.Join(outDir, "work-seed.ext4"): {"/from-work": "work\n"},
	} {
		for p, want := range files {
			got, err := exec.Command("debugfs", "-R", "cat "+p, img).Output()
			if err != nil || string(got) != want {
				t.Errorf("%s in %s = %q (%v), want %q", p, filepath.Base(img), got, err, want)
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(images, "saved", ".build-*")); len(left) != 0 {
		t.Errorf("scratch left: %v", left)
	}
}
