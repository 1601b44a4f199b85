package disk

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"banger/internal/guestconfig"

	"golang.org/x/crypto/ssh"
)

// guestFiles renders a real guest configuration.
func guestFiles(tb testing.TB) []guestconfig.File {
	tb.Helper()
	priv, pub, err := guestconfig.NewHostKey()
	if err != nil {
		tb.Fatal(err)
	}
	userPub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public())
	if err != nil {
		tb.Fatal(err)
	}
	mac, _ := net.ParseMAC("02:b4:00:00:00:05")
	files, err := guestconfig.Render(guestconfig.Config{
		Hostname:       "calm-otter",
		MAC:            mac,
		Address:        netip.MustParsePrefix("172.30.0.5/24"),
		Gateway:        netip.MustParseAddr("172.30.0.1"),
		DNS:            []netip.Addr{netip.MustParseAddr("172.30.0.1")},
		AuthorizedKeys: []string{string(ssh.MarshalAuthorizedKey(userPub))},
		HostKey:        priv,
		HostKeyPub:     pub,
		AgentToken:     strings.Repeat("ab", 32),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// oddFiles exercise debugfs quoting and the mode/ownership paths.
var oddFiles = []guestconfig.File{
	{Path: "/a dir/with \"quotes\"/f", Mode: 0o640, Content: []byte("quoted\n")},
	{Path: "/<12>", Mode: 0o600, Content: []byte("not inode 12")},
	{Path: "/-dash", Mode: 0o644, Content: []byte("dash")},
	{Path: "/ünï\tcode", Mode: 0o644, Content: []byte("unicode")},
	{Path: "/empty", Mode: 0o644},
	{Path: "/suid", Mode: 0o755 | os.ModeSetuid, Content: []byte("#!/bin/sh\n")},
	{Path: "/sticky", Mode: 0o777 | os.ModeSticky, Dir: true},
	{Path: "/lnk", Symlink: "a dir/with \"quotes\"/f"},
}

func TestCreateOverlay(t *testing.T) {
	requireE2fsprogs(t)
	img := filepath.Join(tempDir(t), "overlay.ext4")
	files := append(guestFiles(t), oddFiles...)
	if err := CreateOverlay(ctx, img, 8<<30, files); err != nil {
		t.Fatal(err)
	}
	fsckClean(t, img)
	if l, err := Label(img); err != nil || l != OverlayLabel {
		t.Errorf("label = %q, %v", l, err)
	}
	apparent, allocated, err := Usage(img)
	if err != nil || apparent != 8<<30 || allocated > 64<<20 {
		t.Errorf("usage = %d apparent, %d allocated, %v; want 8 GiB sparse", apparent, allocated, err)
	}
	for _, d := range []string{UpperDir, WorkDir} {
		if got := stat(t, img, d); got != (inode{typ: "directory", mode: 0o755}) {
			t.Errorf("%s = %+v, want root-owned 0755 directory", d, got)
		}
	}
	checkFiles(t, img, UpperDir, files)
}

// checkFiles verifies every file as the guest will see it: root-owned,
// exact mode, exact content or link target.
func checkFiles(t *testing.T, img, root string, files []guestconfig.File) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f.Path)
		got := stat(t, img, p)
		want := inode{mode: unixPerm(f.Mode)}
		switch {
		case f.Dir:
			want.typ = "directory"
		case f.Symlink != "":
			want.typ, want.mode, want.linkTo = "symlink", 0o777, f.Symlink
		default:
			want.typ = "regular"
			if c := cat(t, img, p); c != string(f.Content) {
				t.Errorf("%s content = %q, want %q", p, c, f.Content)
			}
		}
		if got != want {
			t.Errorf("%s = %+v, want %+v", p, got, want)
		}
	}
}

func TestCreateOverlayRefusesExistingAndCleansUp(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	img := filepath.Join(dir, "overlay.ext4")
	if err := os.WriteFile(img, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := CreateOverlay(ctx, img, 1<<30, nil)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateOverlay over an existing file: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(img); string(b) != "keep" {
		t.Fatal("existing file was modified")
	}

	bad := filepath.Join(dir, "bad.ext4")
	err = CreateOverlay(ctx, bad, 1<<30, []guestconfig.File{{Path: "/x\ny", Mode: 0o644}})
	if err == nil || !strings.Contains(err.Error(), "line break") {
		t.Fatalf("newline in path: %v", err)
	}
	// A failure after mkfs (a file where a directory must go) removes the image.
	err = CreateOverlay(ctx, bad, 1<<30, []guestconfig.File{
		{Path: "/etc", Mode: 0o644, Content: []byte("file")},
		{Path: "/etc/hostname", Mode: 0o644},
	})
	if err == nil || !strings.Contains(err.Error(), "/upper/etc exists and is not a directory") {
		t.Fatalf("file in the way of a directory: %v", err)
	}
	if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("failed create left %s behind (%v)", bad, err)
	}
	if err := CreateOverlay(ctx, bad, 1000, nil); err == nil || !strings.Contains(err.Error(), "below the minimum") {
		t.Fatalf("tiny overlay: %v", err)
	}
}

func TestWriteFilesReplaces(t *testing.T) {
	requireE2fsprogs(t)
	img := filepath.Join(tempDir(t), "overlay.ext4")
	first := []guestconfig.File{
		{Path: "/etc", Mode: 0o755, Dir: true},
		{Path: "/etc/hostname", Mode: 0o644, Content: []byte("old\n")},
		{Path: "/etc/resolv.conf", Symlink: "../run/systemd/resolve/stub-resolv.conf"},
		{Path: "/etc/link-becomes-file", Symlink: "x"},
		{Path: "/etc/file-becomes-link", Mode: 0o600, Content: []byte("f")},
	}
	if err := CreateOverlay(ctx, img, 256<<20, first); err != nil {
		t.Fatal(err)
	}
	// The guest deleted a file that the lower layer has: overlayfs leaves a
	// whiteout (a 0/0 character device) in the upper directory.
	dfsWrite(t, img, "cd /upper/etc", "mknod whiteout c 0 0")
	if got := stat(t, img, "/upper/etc/whiteout").typ; got != "character special" {
		t.Fatalf("test setup: whiteout is %q", got)
	}

	second := []guestconfig.File{
		{Path: "/etc/hostname", Mode: 0o600, Content: []byte("new-and-longer\n")},
		{Path: "/etc/resolv.conf", Mode: 0o644, Content: []byte("nameserver 172.30.0.1\n")},
		{Path: "/etc/link-becomes-file", Mode: 0o644, Content: []byte("now a file")},
		{Path: "/etc/file-becomes-link", Symlink: "hostname"},
		{Path: "/etc/whiteout", Mode: 0o644, Content: []byte("back")},
		{Path: "/etc/systemd/system/deep/x.conf", Mode: 0o644, Content: []byte("deep")},
		{Path: "/etc", Mode: 0o750, Dir: true},
	}
	if err := WriteFiles(ctx, img, UpperDir, second); err != nil {
		t.Fatal(err)
	}
	fsckClean(t, img)
	checkFiles(t, img, UpperDir, second)
	for _, d := range []string{"/upper/etc/systemd", "/upper/etc/systemd/system/deep"} {
		if got := stat(t, img, d); got != (inode{typ: "directory", mode: 0o755}) {
			t.Errorf("implicit parent %s = %+v", d, got)
		}
	}

	// Into a root that does not exist yet, e.g. a fresh work disk layout.
	if err := WriteFiles(ctx, img, "/new/root", []guestconfig.File{{Path: "/f", Mode: 0o644, Content: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if c := cat(t, img, "/new/root/f"); c != "x" {
		t.Errorf("/new/root/f = %q", c)
	}
	fsckClean(t, img)
}

func TestWriteFilesRefusals(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	img := filepath.Join(dir, "overlay.ext4")
	if err := CreateOverlay(ctx, img, 256<<20, []guestconfig.File{{Path: "/etc/ssh", Mode: 0o755, Dir: true}}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		root  string
		files []guestconfig.File
		want  string
	}{
		{"file over directory", UpperDir, []guestconfig.File{{Path: "/etc/ssh", Mode: 0o644}}, "/etc/ssh: a directory is in the way"},
		{"relative root", "upper", nil, `root path "upper" is not clean and absolute`},
		{"unclean path", UpperDir, []guestconfig.File{{Path: "/etc/../x"}}, "not clean"},
		{"duplicate", UpperDir, []guestconfig.File{{Path: "/a"}, {Path: "/a"}}, "listed twice"},
		{"dir with content", UpperDir, []guestconfig.File{{Path: "/a", Dir: true, Content: []byte("x")}}, "cannot have content"},
		{"bad symlink", UpperDir, []guestconfig.File{{Path: "/a", Symlink: "x\ny"}}, "unusable symlink target"},
		{"device mode", UpperDir, []guestconfig.File{{Path: "/a", Mode: os.ModeDevice}}, "unsupported mode"},
		{"long component", UpperDir, []guestconfig.File{{Path: "/" + strings.Repeat("n", 256)}}, "longer than 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteFiles(ctx, img, tc.root, tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WriteFiles = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	after, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a refused WriteFiles modified the image")
	}

	notExt4 := filepath.Join(dir, "junk")
	if err := os.WriteFile(notExt4, bytes.Repeat([]byte{1}, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	err = WriteFiles(ctx, notExt4, UpperDir, []guestconfig.File{{Path: "/a", Mode: 0o644}})
	if err == nil || !strings.Contains(err.Error(), "Bad magic number") {
		t.Fatalf("WriteFiles into a non-ext4 file: %v", err)
	}
}

// TestOverlayOwnershipAsUnprivilegedUser runs CreateOverlay as uid 65534
// (re-running this test binary) and checks that files still end up owned
// by root: the property that lets bangerd run unprivileged.
func TestOverlayOwnershipAsUnprivilegedUser(t *testing.T) {
	requireE2fsprogs(t)
	if img := os.Getenv("BANGER_DISK_CHILD_IMAGE"); img != "" {
		if os.Getuid() == 0 {
			t.Fatal("child is still root")
		}
		if err := CreateOverlay(ctx, img, 1<<30, oddFiles); err != nil {
			t.Fatal(err)
		}
		return
	}
	if os.Getuid() != 0 {
		// Already unprivileged: TestCreateOverlay covers this directly.
		t.Skip("not root; TestCreateOverlay already runs unprivileged")
	}
	dir := tempDir(t)
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "disk.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "overlay.ext4")
	cmd := exec.Command(bin, "-test.run=^TestOverlayOwnershipAsUnprivilegedUser$", "-test.v")
	cmd.Env = append(os.Environ(), "BANGER_DISK_CHILD_IMAGE="+img, "HOME="+dir, "TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child as uid 65534: %v\n%s", err, out)
	}
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Fatal("image was not created by the unprivileged child")
	}
	checkFiles(t, img, UpperDir, oddFiles)
}
