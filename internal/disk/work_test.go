package disk

import (
	"banger/internal/humanize"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeSeed builds a small work-seed like an image ships: ext4 with a file.
func makeSeed(tb testing.TB, dir, label string, size int64) string {
	tb.Helper()
	src := filepath.Join(dir, "seed-src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, ".bashrc"), []byte("export PS1='seed$ '\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	seed := filepath.Join(dir, "work-seed.ext4")
	mkfsFrom(tb, seed, src, label, size)
	return seed
}

func fsBytes(tb testing.TB, img string) int64 {
	tb.Helper()
	sb, err := readSuperblock(img)
	if err != nil {
		tb.Fatal(err)
	}
	return sb.bytes()
}

func TestCloneSeedAndGrow(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	seed := makeSeed(t, dir, "some-seed", 256<<20)
	work := filepath.Join(dir, "work.ext4")
	if err := CloneSeed(ctx, seed, work); err != nil {
		t.Fatal(err)
	}
	if l, _ := Label(work); l != WorkLabel {
		t.Errorf("clone label = %q, want %q", l, WorkLabel)
	}
	if l, _ := Label(seed); l != "some-seed" {
		t.Errorf("seed label changed to %q", l)
	}
	if st, _ := os.Stat(work); st.Mode().Perm() != 0o600 {
		t.Errorf("clone mode = %v, want 0600", st.Mode())
	}
	if err := CloneSeed(ctx, seed, work); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("clone over an existing work disk: %v, want ErrExist", err)
	}
	if _, err := os.Stat(work + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("clone left %s.tmp behind", work)
	}

	if err := Grow(ctx, work, 4<<30); err != nil {
		t.Fatal(err)
	}
	if got := fsBytes(t, work); got != 4<<30 {
		t.Errorf("file system after grow = %d bytes, want 4 GiB", got)
	}
	fsckClean(t, work)
	if c := cat(t, work, "/.bashrc"); !strings.Contains(c, "seed$") {
		t.Errorf("content lost in grow: %q", c)
	}
	if g, err := unzeroedHoleGroups(work); err != nil || len(g) != 0 {
		t.Errorf("groups with unflagged all-hole inode tables after grow: %v, %v", g, err)
	}
	if _, alloc, _ := Usage(work); alloc > 64<<20 {
		t.Errorf("grown disk allocates %s; it should stay sparse", humanize.Bytes(alloc))
	}

	// Same size: nothing to do. Smaller: refused with both sizes named.
	if err := Grow(ctx, work, 4<<30); err != nil {
		t.Errorf("grow to the current size: %v", err)
	}
	err := Grow(ctx, work, 2<<30)
	if !errors.Is(err, ErrShrink) || !strings.Contains(err.Error(), "from 4 GiB to 2 GiB") {
		t.Errorf("shrink: %v, want ErrShrink naming 4 GiB and 2 GiB", err)
	}
	if n, _ := Size(work); n != 4<<30 {
		t.Errorf("refused shrink changed the size to %d", n)
	}
}

func superU32(tb testing.TB, img string, off int64) uint32 {
	tb.Helper()
	f, err := os.Open(img)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var b [4]byte
	if _, err := f.ReadAt(b[:], 1024+off); err != nil {
		tb.Fatal(err)
	}
	return binary.LittleEndian.Uint32(b[:])
}

// TestGrowAfterGuestUse covers a disk the guest has mounted since its last
// check: resize2fs demands e2fsck -f first and Grow runs it.
func TestGrowAfterGuestUse(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	work := filepath.Join(dir, "work.ext4")
	if err := CloneSeed(ctx, makeSeed(t, dir, WorkLabel, 256<<20), work); err != nil {
		t.Fatal(err)
	}
	// As after a guest mount: last mount time later than the last check.
	// debugfs's ssv keeps the superblock checksum right.
	now := time.Now().Unix()
	dfsWrite(t, work, "ssv mtime @"+itoa(now), "ssv lastcheck @"+itoa(now-3600))
	if got := superU32(t, work, 0x40); int64(got) != now-3600 {
		t.Fatalf("test setup: lastcheck = %d", got)
	}
	if err := Grow(ctx, work, 1<<30); err != nil {
		t.Fatal(err)
	}
	if got := fsBytes(t, work); got != 1<<30 {
		t.Errorf("file system after grow = %d bytes", got)
	}
	if got := int64(superU32(t, work, 0x40)); got < now {
		t.Errorf("lastcheck = %d: e2fsck did not run before resize2fs", got)
	}
	fsckClean(t, work)

	// A file system the kernel flagged with errors (but that preen mode can
	// clear) also goes through e2fsck.
	dfsWrite(t, work, "ssv state 2")
	if err := Grow(ctx, work, 2<<30); err != nil {
		t.Fatal(err)
	}
	fsckClean(t, work)
}

func TestGrowFailureRestoresSize(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	work := filepath.Join(dir, "work.ext4")
	if err := CloneSeed(ctx, makeSeed(t, dir, WorkLabel, 256<<20), work); err != nil {
		t.Fatal(err)
	}
	// Damage preen mode must not repair unattended (cleared root inode),
	// on a disk that was mounted since its last check.
	now := time.Now().Unix()
	dfsWrite(t, work, "clri <2>", "ssv mtime @"+itoa(now), "ssv lastcheck @"+itoa(now-3600))
	err := Grow(ctx, work, 1<<30)
	if err == nil {
		t.Fatal("grow of a corrupt file system succeeded")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "e2fsck -f") {
		t.Errorf("error does not say how to repair: %v", err)
	}
	if n, _ := Size(work); n != 256<<20 {
		t.Errorf("failed grow left the file at %d bytes, want the original 256 MiB", n)
	}
}

func itoa(n int64) string { return strconvFormat(n) }

func TestMakeWorkFromRootfs(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	tree := filepath.Join(dir, "tree")
	for p, content := range map[string]string{
		"root/.bashrc":              "alias ll='ls -l'\n",
		"root/.ssh/authorized_keys": "",
		"root/ro/secret":            "s3cret",
		"root/name with space":      "x",
		"etc/hostname":              "image\n",
	} {
		full := filepath.Join(tree, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(".bashrc", filepath.Join(tree, "root/link")); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs.ext4")
	mkfsFrom(t, rootfs, tree, "rootfs", 128<<20)
	// Owners and modes a non-root test cannot create on the host.
	dfsWrite(t, rootfs,
		"sif /root mode 040700", "sif /root uid 0", "sif /root gid 0",
		"sif /root/.bashrc uid 0", "sif /root/.bashrc gid 0",
		"sif /root/.ssh mode 040700", "sif /root/.ssh uid 1000", "sif /root/.ssh gid 1000",
		"sif /root/.ssh/authorized_keys mode 0100600", "sif /root/.ssh/authorized_keys uid 1000", "sif /root/.ssh/authorized_keys gid 1000",
		"sif /root/ro mode 040500", "sif /root/ro uid 0", "sif /root/ro gid 0",
		"sif /root/ro/secret mode 0100400", "sif /root/ro/secret uid 0", "sif /root/ro/secret gid 0",
		`sif "/root/name with space" uid 0`, `sif "/root/name with space" gid 0`,
		"sif /root/link uid 0", "sif /root/link gid 0",
	)

	work := filepath.Join(dir, "work.ext4")
	if err := MakeWorkFromRootfs(ctx, rootfs, work, 512<<20); err != nil {
		t.Fatal(err)
	}
	fsckClean(t, work)
	if l, _ := Label(work); l != WorkLabel {
		t.Errorf("label = %q", l)
	}
	if n, _ := Size(work); n != 512<<20 {
		t.Errorf("size = %d", n)
	}
	for p, want := range map[string]inode{
		"/":                     {typ: "directory", mode: 0o700},
		"/.bashrc":              {typ: "regular", mode: 0o644},
		"/.ssh":                 {typ: "directory", mode: 0o700, uid: 1000, gid: 1000},
		"/.ssh/authorized_keys": {typ: "regular", mode: 0o600, uid: 1000, gid: 1000},
		"/ro":                   {typ: "directory", mode: 0o500},
		"/ro/secret":            {typ: "regular", mode: 0o400},
		"/name with space":      {typ: "regular", mode: 0o644},
		"/link":                 {typ: "symlink", mode: 0o777, linkTo: ".bashrc"},
	} {
		if got := stat(t, work, p); got != want {
			t.Errorf("%s = %+v, want %+v", p, got, want)
		}
	}
	if c := cat(t, work, "/ro/secret"); c != "s3cret" {
		t.Errorf("/ro/secret = %q", c)
	}
	if out := dfs(t, work, "ls -p /"); strings.Contains(out, "hostname") || strings.Contains(out, "/etc/") {
		t.Errorf("files outside /root were copied:\n%s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 { // tree, rootfs, work
		t.Errorf("temporary files left in %s: %v", dir, entries)
	}
	if err := MakeWorkFromRootfs(ctx, rootfs, work, 512<<20); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second make over the same path: %v, want ErrExist", err)
	}
}

func TestMakeWorkFromRootfsWithoutRoot(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	tree := filepath.Join(dir, "tree", "etc")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs.ext4")
	mkfsFrom(t, rootfs, filepath.Dir(tree), "rootfs", 64<<20)
	work := filepath.Join(dir, "work.ext4")
	if err := MakeWorkFromRootfs(ctx, rootfs, work, 128<<20); err != nil {
		t.Fatal(err)
	}
	fsckClean(t, work)
	if got := stat(t, work, "/"); got != (inode{typ: "directory", mode: 0o700}) {
		t.Errorf("root dir = %+v", got)
	}

	bad := filepath.Join(dir, "from-junk.ext4")
	if err := MakeWorkFromRootfs(ctx, filepath.Join(dir, "missing.ext4"), bad, 128<<20); err == nil {
		t.Error("made a work disk from a missing rootfs")
	}
	if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed make left %s behind", bad)
	}
}

func TestIsExt4SizeUsage(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	img := filepath.Join(dir, "a.ext4")
	mkfsFrom(t, img, "", "lbl", 64<<20)
	short := filepath.Join(dir, "short")
	junk := filepath.Join(dir, "junk")
	os.WriteFile(short, []byte("tiny"), 0o600)
	os.WriteFile(junk, make([]byte, 4096), 0o600)
	for p, want := range map[string]bool{img: true, short: false, junk: false} {
		if got, err := IsExt4(p); err != nil || got != want {
			t.Errorf("IsExt4(%s) = %v, %v; want %v", filepath.Base(p), got, err, want)
		}
	}
	if _, err := IsExt4(filepath.Join(dir, "missing")); err == nil {
		t.Error("IsExt4 of a missing file: no error")
	}
	if l, err := Label(img); err != nil || l != "lbl" {
		t.Errorf("Label = %q, %v", l, err)
	}
	if n, err := Size(img); err != nil || n != 64<<20 {
		t.Errorf("Size = %d, %v", n, err)
	}
	apparent, alloc, err := Usage(img)
	if err != nil || apparent != 64<<20 || alloc <= 0 || alloc >= apparent {
		t.Errorf("Usage = %d, %d, %v; want sparse", apparent, alloc, err)
	}
}
