package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input is refused before anything runs: no daemon (isolate makes
// starting one fail), no files.
func TestImageBuildBadInputNeedsNoDaemon(t *testing.T) {
	home := isolate(t)
	bad := filepath.Join(home, "bad.apt")
	os.WriteFile(bad, []byte("jq\n-o=APT::Foo\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "build"}, "--name is required"},
		{[]string{"image", "build", "--name", "Bad_Name"}, "--name"},
		{[]string{"image", "build", "--name", "default"}, "default image"},
		{[]string{"image", "build", "--name", "x", "--size", "12Q"}, `--size "12Q"`},
		{[]string{"image", "build", "--name", "x", "--packages", filepath.Join(home, "missing.apt")}, "cannot read " + filepath.Join(home, "missing.apt")},
		{[]string{"image", "build", "--name", "x", "--packages", bad}, `"-o=APT::Foo" is not a Debian package name`},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), c.args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		if code != ExitUsage || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, want %d and %q\nstderr: %s", c.args, code, ExitUsage, c.want, errOut.String())
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".state", "banger", "images")); !os.IsNotExist(err) {
		t.Errorf("a refused build made the images directory: %v", err)
	}
}
