package disk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"banger/internal/execx"
	"banger/internal/testenv"
)

// requireE2fsprogs skips (fails under CI=true) when e2fsprogs is missing.
func requireE2fsprogs(tb testing.TB) {
	tb.Helper()
	err := CheckTools()
	testenv.RequireOrSkip(tb, fmt.Sprintf("e2fsprogs (%v)", err), err == nil)
}

func tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := execx.LookPath(name)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// dfs runs one read-only debugfs request and returns stdout.
func dfs(tb testing.TB, image, request string) string {
	tb.Helper()
	out, err := exec.Command(tool(tb, "debugfs"), "-R", request, image).Output()
	if err != nil {
		tb.Fatalf("debugfs -R %q %s: %v", request, image, err)
	}
	return string(out)
}

// dfsWrite runs read-write debugfs commands (test setup only).
func dfsWrite(tb testing.TB, image string, commands ...string) {
	tb.Helper()
	var stderr strings.Builder
	cmd := exec.Command(tool(tb, "debugfs"), "-w", "-f", "-", image)
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\n") + "\n")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || len(debugfsErrors(stderr.String())) > 0 {
		tb.Fatalf("debugfs -w %q: %v: %s", commands, err, stderr.String())
	}
}

type inode struct {
	typ      string // regular, directory, symlink, character special
	mode     uint32 // permission bits as debugfs prints them
	uid, gid int
	linkTo   string
}

var (
	reType  = regexp.MustCompile(`Type: (\S+( special)?)\s+Mode:\s+(\d+)`)
	reOwner = regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)`)
	reLink  = regexp.MustCompile(`Fast link dest: "(.*)"`)
)

// stat reads an inode's type, mode, owner and symlink target through
// debugfs, the same view the guest kernel will have.
func stat(tb testing.TB, image, p string) inode {
	tb.Helper()
	out := dfs(tb, image, "stat "+quote(p))
	m := reType.FindStringSubmatch(out)
	o := reOwner.FindStringSubmatch(out)
	if m == nil || o == nil {
		tb.Fatalf("stat %s in %s: unexpected output %q", p, image, out)
	}
	mode, _ := strconv.ParseUint(m[3], 8, 32)
	uid, _ := strconv.Atoi(o[1])
	gid, _ := strconv.Atoi(o[2])
	in := inode{typ: m[1], mode: uint32(mode), uid: uid, gid: gid}
	if l := reLink.FindStringSubmatch(out); l != nil {
		in.linkTo = l[1]
	}
	return in
}

func cat(tb testing.TB, image, p string) string {
	tb.Helper()
	return dfs(tb, image, "cat "+quote(p))
}

// fsckClean fails the test unless e2fsck -fn finds nothing to fix.
func fsckClean(tb testing.TB, image string) {
	tb.Helper()
	out, err := exec.Command(tool(tb, "e2fsck"), "-fn", image).CombinedOutput()
	if err != nil {
		tb.Fatalf("e2fsck -fn %s: %v\n%s", image, err, out)
	}
}

// mkfsFrom builds a test ext4 image of size bytes from a host directory.
func mkfsFrom(tb testing.TB, image, dir, label string, size int64) {
	tb.Helper()
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Truncate(image, size); err != nil {
		tb.Fatal(err)
	}
	args := []string{"-q", "-F", "-t", "ext4", "-L", label}
	if dir != "" {
		args = append(args, "-d", dir)
	}
	out, err := exec.Command(tool(tb, "mkfs.ext4"), append(args, image)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
}

func tempDir(tb testing.TB) string {
	tb.Helper()
	d := tb.TempDir()
	return filepath.Clean(d)
}

var ctx = context.Background()

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }
