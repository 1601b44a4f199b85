package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/transfer"
)

// localCopier runs the guest's half of vm cp with the local sh and tar in
// place of ssh, so the scripts and both tar ends are exercised without a VM.
func localCopier(stdin string) (*copier, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	e := &env{io: IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errb}}
	return &copier{e: e, vm: api.VM{Name: "web"}, argv: func(remote string) []string { return []string{"sh", "-c", remote} }}, &out, &errb
}

func cp(t *testing.T, stdin string, recursive bool, args ...string) (string, error) {
	t.Helper()
	c, out, _ := localCopier(stdin)
	plan, err := transfer.ParseArgs(args)
	if err != nil {
		return "", err
	}
	if plan.Dir == transfer.Upload {
		err = c.upload(context.Background(), plan, recursive)
	} else {
		err = c.download(context.Background(), plan, recursive)
	}
	return out.String(), err
}

func TestVMCpScriptsAgainstLocalTar(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the guest side runs tar as root (--no-same-owner); run as root")
	}
	host, guest := t.TempDir(), t.TempDir()
	tree := filepath.Join(host, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o750)
	big := make([]byte, 3<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(tree, "big"), big, 0o640)
	os.WriteFile(filepath.Join(tree, "sub", "run"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("sub/run", filepath.Join(tree, "link"))

	// Upload a directory into an existing directory, and a file under a
	// new name.
	if _, err := cp(t, "", true, tree, "web:"+guest); err != nil {
		t.Fatal(err)
	}
	if _, err := cp(t, "", false, filepath.Join(tree, "big"), "web:"+filepath.Join(guest, "renamed")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(guest, "renamed")); !bytes.Equal(b, big) {
		t.Errorf("renamed upload differs")
	}
	if st, _ := os.Stat(filepath.Join(guest, "tree", "sub")); st == nil || st.Mode().Perm() != 0o750 {
		t.Errorf("uploaded dir mode: %v", st)
	}

	// Download it back under another name, and into a directory.
	back := t.TempDir()
	if _, err := cp(t, "", true, "web:"+filepath.Join(guest, "tree"), filepath.Join(back, "copy")); err != nil {
		t.Fatal(err)
	}
	if _, err := cp(t, "", false, "web:"+filepath.Join(guest, "renamed"), back); err != nil {
		t.Fatal(err)
	}
	if a, b := summary(t, tree), summary(t, filepath.Join(back, "copy")); a != b {
		t.Errorf("round trip changed the tree:\n%s\n---\n%s", a, b)
	}
	if b, _ := os.ReadFile(filepath.Join(back, "renamed")); !bytes.Equal(b, big) {
		t.Errorf("downloaded file differs")
	}

	// stdin and stdout.
	if _, err := cp(t, "piped\n", false, "-", "web:"+filepath.Join(guest, "x")); err != nil {
		t.Fatal(err)
	}
	if out, err := cp(t, "", false, "web:"+filepath.Join(guest, "x"), "-"); err != nil || out != "piped\n" {
		t.Errorf("to stdout: %q, %v", out, err)
	}

	// Errors name the problem and write nothing.
	for _, c := range []struct {
		args      []string
		recursive bool
		want      string
	}{
		{[]string{"web:" + filepath.Join(guest, "missing"), back}, false, "does not exist"},
		{[]string{"web:" + filepath.Join(guest, "tree"), back}, false, "-r"},
		{[]string{tree, "web:" + guest}, false, "-r"},
		{[]string{"-", "web:" + guest}, false, "is a directory"},
		{[]string{"web:" + guest + "/tree", "-"}, false, "is a directory"},
		{[]string{tree, "web:" + filepath.Join(guest, "no", "such", "dir")}, true, "does not exist"},
		{[]string{filepath.Join(tree, "big"), filepath.Join(tree, "sub", "run"), "web:" + filepath.Join(guest, "renamed")}, false, "not a directory"},
		{[]string{"web:" + filepath.Join(guest, "tree"), filepath.Join(back, "renamed")}, true, "not a directory"},
	} {
		if _, err := cp(t, "", c.recursive, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("vm cp %v: %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(back, "missing")); err == nil {
		t.Errorf("a failed copy left a file")
	}
}

func summary(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		extra := ""
		if info.Mode().IsRegular() {
			c, _ := os.ReadFile(p)
			sum := sha256.Sum256(c)
			extra = hex.EncodeToString(sum[:])
		} else if info.Mode()&fs.ModeSymlink != 0 {
			extra, _ = os.Readlink(p)
		}
		b.WriteString(rel + " " + info.Mode().String() + " " + extra + "\n")
		return nil
	})
	return b.String()
}
