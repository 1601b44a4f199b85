package disk

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lowerTree is a host tree as ExtractDir leaves a base rootfs.
func lowerTree(t *testing.T, dir, outside string) string {
	t.Helper()
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"etc/keep", "usr/share/doc/pkg", "opq", "gone-dir/sub", "rep"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, data := range map[string]string{
		"etc/hostname": "base\n", "etc/motd": "base motd\n", "etc/keep/a": "a\n", "etc/changed": "old\n",
		"usr/share/doc/pkg/README": "doc\n", "opq/old1": "1\n", "opq/old2": "2\n", "gone-dir/sub/f": "f\n",
		"rep/inner": "i\n",
	} {
		if err := os.WriteFile(filepath.Join(tree, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A link in the lower tree that leads out of it: the merge must
	// replace it, never write through it.
	if err := os.Symlink(outside, filepath.Join(tree, "lnk")); err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestMergeUpperAppliesWhiteoutsOpaqueDirsAndReplacements(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	o := newOutside(t)
	tree := lowerTree(t, dir, o.dir)
	payload := filepath.Join(dir, "payload")
	os.WriteFile(payload, []byte("new\n"), 0o644)
	img := craftedRootfs(t, dir, []string{
		"mkdir /upper", "mkdir /work",
		"cd /upper",
		"mkdir etc", "cd etc",
		"write " + payload + " changed", "sif changed mode 0100600", "sif changed uid 1000",
		"write " + payload + " hostname", // per-VM: skipped
		"write " + payload + " added",
		"mknod motd c 0 0", // whiteout
		"cd /upper",
		"mknod gone-dir c 0 0", // whiteout of a directory
		"mkdir opq", "ea_set opq trusted.overlay.opaque y", "cd opq", "write " + payload + " fresh", "cd /upper",
		"write " + payload + " rep",                                         // a file over a lower directory
		"mkdir lnk", "cd lnk", "write " + payload + " through", "cd /upper", // a directory over a lower symlink
		"mkdir skipped", "cd skipped", "write " + payload + " x", "cd /upper",
		"symlink sl etc/added",
		"mknod dev c 1 3", // a real device: not copied
	}, nil)

	skip := func(p string) bool { return p == "/etc/hostname" || p == "/skipped" }
	if err := MergeUpper(ctx, img, tree, skip); err != nil {
		t.Fatal(err)
	}
	o.assertUntouched(t)
	if ents, _ := os.ReadDir(o.dir); len(ents) != 0 {
		t.Errorf("the merge wrote through the lower tree's symlink into %s: %v", o.dir, ents)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(tree, p))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	for p, want := range map[string]string{
		"etc/changed": "new\n", "etc/added": "new\n", "etc/hostname": "base\n", "etc/keep/a": "a\n",
		"usr/share/doc/pkg/README": "doc\n", "opq/fresh": "new\n", "rep": "new\n", "lnk/through": "new\n", "sl": "new\n",
	} {
		if got := read(p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"etc/motd", "gone-dir", "opq/old1", "opq/old2", "skipped", "dev"} {
		if _, err := os.Lstat(filepath.Join(tree, p)); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
	if l, err := os.Readlink(filepath.Join(tree, "sl")); err != nil || l != "etc/added" {
		t.Errorf("symlink sl: %q %v", l, err)
	}
	st, err := os.Stat(filepath.Join(tree, "etc/changed"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("etc/changed: mode %v %v, want 0600", st.Mode(), err)
	}
	if os.Geteuid() == 0 && statUID(st) != 1000 {
		t.Errorf("etc/changed: owner %d, want 1000", statUID(st))
	}
	ents, _ := os.ReadDir(filepath.Join(tree, "opq"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"fresh"}) {
		t.Errorf("opaque dir holds %v, want only fresh", names)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".banger-stage-*")); len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
}

func TestMergeUpperRefusesRedirects(t *testing.T) {
	requireE2fsprogs(t)
	dir := tempDir(t)
	tree := lowerTree(t, dir, filepath.Join(dir, "nowhere"))
	img := craftedRootfs(t, dir, []string{
		"mkdir /upper", "cd /upper", "mkdir moved", "ea_set moved trusted.overlay.redirect /etc/keep",
	}, nil)
	err := MergeUpper(ctx, img, tree, nil)
	if err == nil || !strings.Contains(err.Error(), "redirects") || !strings.Contains(err.Error(), "/upper/moved") {
		t.Errorf("MergeUpper of a layer with a redirect = %v, want a refusal naming it", err)
	}
	notOverlay := craftedRootfs(t, t.TempDir(), []string{"mkdir /etc"}, nil)
	if err := MergeUpper(ctx, notOverlay, tree, nil); err == nil || !strings.Contains(err.Error(), "not a banger overlay") {
		t.Errorf("MergeUpper of a disk without /upper = %v", err)
	}
}
