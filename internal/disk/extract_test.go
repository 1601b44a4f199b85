package disk

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// craftedRootfs makes an image without metadata checksums (so directory
// blocks can be patched by hand), runs debugfs commands on it, then
// renames entries by rewriting their bytes: ext4 itself never makes two
// entries of one name, but a crafted image can.
func craftedRootfs(t *testing.T, dir string, commands []string, renames map[string]string) string {
	t.Helper()
	img := filepath.Join(dir, "crafted.ext4")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool(t, "mkfs.ext4"), "-q", "-F", "-t", "ext4", "-O", "^metadata_csum", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	dfsWrite(t, img, commands...)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for from, to := range renames {
		if len(from) != len(to) || bytes.Count(b, []byte(from)) != 1 {
			t.Fatalf("rename %q -> %q: want one occurrence of a same-length name", from, to)
		}
		b = bytes.Replace(b, []byte(from), []byte(to), 1)
	}
	if err := os.WriteFile(img, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return img
}

// outsideFiles is a host file and directory a crafted image aims at.
type outsideFiles struct {
	file, dir string
	mtime     time.Time
}

func newOutside(t *testing.T) outsideFiles {
	t.Helper()
	d := filepath.Join(t.TempDir(), "outside")
	o := outsideFiles{file: filepath.Join(d, "target-outside"), dir: filepath.Join(d, "dir-outside"), mtime: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(o.file, []byte("original\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(o.file, o.mtime, o.mtime); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o outsideFiles) assertUntouched(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(o.file)
	st, err2 := os.Stat(o.file)
	if err != nil || err2 != nil || string(b) != "original\n" || st.Mode().Perm() != 0o600 || !st.ModTime().Equal(o.mtime) {
		t.Errorf("%s was modified: %q mode %v mtime %v (%v %v)", o.file, b, st.Mode(), st.ModTime(), err, err2)
	}
	if entries, _ := os.ReadDir(o.dir); len(entries) != 0 {
		t.Errorf("files were written into %s: %v", o.dir, entries)
	}
}

func TestMakeWorkRefusesCraftedRoot(t *testing.T) {
	requireE2fsprogs(t)
	cases := map[string]struct {
		commands func(o outsideFiles, payload string) []string
		renames  map[string]string
		want     string
	}{
		// rdump made the symlink, then opened "evil" again for the file
		// with O_TRUNC and wrote the payload onto the host file.
		"a symlink and a file of the same name": {
			commands: func(o outsideFiles, payload string) []string {
				return []string{"mkdir /root", "cd /root", "symlink evil " + o.file, "write " + payload + " evix"}
			},
			renames: map[string]string{"evix": "evil"},
			want:    `holds the name "evil" twice`,
		},
		// rdump ignored EEXIST from mkdir and wrote dlink/f through the
		// symlink into the host directory.
		"a symlink and a directory of the same name": {
			commands: func(o outsideFiles, payload string) []string {
				return []string{"mkdir /root", "cd /root", "symlink dlink " + o.dir, "mkdir dlinx", "cd dlinx", "write " + payload + " f"}
			},
			renames: map[string]string{"dlinx": "dlink"},
			want:    `holds the name "dlink" twice`,
		},
		"a directory linked into itself": {
			commands: func(o outsideFiles, payload string) []string {
				return []string{"mkdir /root", "mkdir /root/sub", "ln /root /root/sub/loop"}
			},
			want: "is linked more than once",
		},
		"a name with a slash": {
			commands: func(o outsideFiles, payload string) []string {
				return []string{"mkdir /root", "cd /root", "write " + payload + " aaaaaaaaaaaaaaaa"}
			},
			renames: map[string]string{"aaaaaaaaaaaaaaaa": "../../etc/passwd"},
			want:    "a name with a slash",
		},
		"a dot-dot entry": {
			commands: func(o outsideFiles, payload string) []string {
				return []string{"mkdir /root", "cd /root", "symlink qq " + o.dir}
			},
			renames: map[string]string{"qq": ".."},
			want:    `the name ".." twice`,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := tempDir(t)
			o := newOutside(t)
			payload := filepath.Join(dir, "payload")
			if err := os.WriteFile(payload, []byte("pwned\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			rootfs := craftedRootfs(t, dir, c.commands(o, payload), c.renames)
			work := filepath.Join(dir, "work.ext4")
			err := MakeWorkFromRootfs(ctx, rootfs, work, 128<<20)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("MakeWorkFromRootfs = %v, want an error saying %q", err, c.want)
			}
			o.assertUntouched(t)
			if _, err := os.Stat(work); !os.IsNotExist(err) {
				t.Errorf("failed make left %s behind", work)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 { // payload, crafted image
				t.Errorf("temporary files left in %s: %v", dir, entries)
			}
		})
	}
}

// Symlinks, however they point, are copied as symlinks and never followed.
func TestMakeWorkCopiesSymlinksWithoutFollowing(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	o := newOutside(t)
	long := "/" + strings.Repeat("x", 200) // a slow symlink, stored in a block
	rootfs := craftedRootfs(t, dir, []string{
		"mkdir /root", "cd /root",
		"symlink abs " + o.file, "symlink dirlink " + o.dir, "symlink long " + long,
		"mkdir deep", "cd deep", "mkdir er", "cd er", "symlink up ../../..",
	}, nil)
	work := filepath.Join(dir, "work.ext4")
	if err := MakeWorkFromRootfs(ctx, rootfs, work, 128<<20); err != nil {
		t.Fatal(err)
	}
	fsckClean(t, work)
	o.assertUntouched(t)
	for p, target := range map[string]string{"/abs": o.file, "/dirlink": o.dir, "/deep/er/up": "../../.."} {
		got := stat(t, work, p)
		if got.linkTo == "" { // a slow symlink: its target is its data
			got.linkTo = cat(t, work, p)
		}
		if got.typ != "symlink" || got.linkTo != target {
			t.Errorf("%s = %+v, want a symlink to %s", p, got, target)
		}
	}
	if got := strings.TrimSpace(dfs(t, work, "stat /long")); !strings.Contains(got, "Type: symlink") || !strings.Contains(got, "Size: 201") {
		t.Errorf("/long = %s", got)
	}
	if out, err := exec.Command(tool(t, "debugfs"), "-R", "cat /long", work).Output(); err != nil || string(out) != long {
		t.Errorf("/long points to %q (%v), want %q", out, err, long)
	}
}

// TestExtractDirAsTheBundleBuildDoes: ExtractDir (the bundle build's copy
// of a user's base rootfs, run as root) refuses the crafted image rdump
// wrote through, and copies a sane one with owners, modes and setuid bits.
func TestExtractDirAsTheBundleBuildDoes(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	o := newOutside(t)
	payload := filepath.Join(dir, "payload")
	if err := os.WriteFile(payload, []byte("pwned\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	crafted := craftedRootfs(t, dir, []string{"mkdir /etc", "cd /etc", "symlink evil " + o.file, "write " + payload + " evix"}, map[string]string{"evix": "evil"})
	if err := ExtractDir(ctx, crafted, "/", filepath.Join(dir, "tree")); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("ExtractDir of a crafted image = %v, want a refusal", err)
	}
	o.assertUntouched(t)

	sane := filepath.Join(t.TempDir(), "sane")
	os.Mkdir(sane, 0o755)
	img := craftedRootfs(t, sane, []string{
		"mkdir /home", "mkdir /home/u", "sif /home/u uid 1234", "sif /home/u gid 1234", "sif /home/u mode 040700",
		"mkdir /usr", "mkdir /usr/bin", "cd /usr/bin", "write " + payload + " passwd",
		"sif passwd mode 0104755", "symlink link passwd",
	}, nil)
	tree := filepath.Join(sane, "tree")
	if err := ExtractDir(ctx, img, "/", tree); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(tree, "usr/bin/passwd"))
	if err != nil || st.Mode()&os.ModeSetuid == 0 || st.Mode().Perm() != 0o755 {
		t.Errorf("passwd: %v %v, want setuid 0755", st.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(tree, "usr/bin/link")); err != nil || l != "passwd" {
		t.Errorf("symlink: %q %v", l, err)
	}
	if os.Geteuid() == 0 {
		if st, err := os.Stat(filepath.Join(tree, "home/u")); err != nil || statUID(st) != 1234 || st.Mode().Perm() != 0o700 {
			t.Errorf("home/u: owner %d mode %v %v, want 1234 0700", statUID(st), st.Mode(), err)
		}
	}
}

func statUID(st os.FileInfo) int {
	if st == nil {
		return -1
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}
