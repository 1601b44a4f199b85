package imagebuild

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"banger/internal/execx"
)

// CheckDebianBase refuses a base rootfs that is positively not Debian (or
// a Debian derivative): an image build installs packages with apt in the
// base's userspace. The Void image has its own builder (make rootfs-void).
// A base without a readable /etc/os-release is let through; the build
// fails later with apt's own error if it is not Debian either.
func CheckDebianBase(ctx context.Context, rootfs string) error {
	osr, err := readImageFile(ctx, rootfs, "/etc/os-release")
	if err != nil || osr == "" {
		return nil
	}
	fields := parseOSRelease(osr)
	id := fields["ID"]
	like := strings.Fields(fields["ID_LIKE"])
	if id == "debian" || slices.Contains(like, "debian") {
		return nil
	}
	if id == "void" {
		return fmt.Errorf("base rootfs %s is Void Linux (/etc/os-release ID=void): `banger image build` is Debian-only; build the Void image with `make rootfs-void` and register it with `make void-register`", rootfs)
	}
	return fmt.Errorf("base rootfs %s is %q (/etc/os-release ID=%s), not Debian: `banger image build` installs packages with apt and is Debian-only", rootfs, fields["PRETTY_NAME"], id)
}

func parseOSRelease(s string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		out[k] = strings.Trim(v, `"'`)
	}
	return out
}

var fastLink = regexp.MustCompile(`Fast link dest: "([^"]*)"`)

// readImageFile reads a small file out of an ext4 image with debugfs (no
// mount), following symlinks inside the image (os-release is usually a
// link to ../usr/lib/os-release).
func readImageFile(ctx context.Context, image, p string) (string, error) {
	for hops := 0; hops < 8; hops++ {
		if strings.ContainsAny(p, "\"\n") {
			return "", fmt.Errorf("path %q", p)
		}
		st, err := execx.Cmd{Argv: []string{debugfsTool(), "-R", `stat "` + p + `"`, image}}.Run(ctx)
		if err != nil {
			return "", err
		}
		if m := fastLink.FindSubmatch(st); m != nil {
			target := string(m[1])
			if !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(p), target)
			}
			p = path.Clean(target)
			continue
		}
		if !strings.Contains(string(st), "Type: regular") {
			return "", nil
		}
		out, err := execx.Cmd{Argv: []string{debugfsTool(), "-R", `cat "` + p + `"`, image}}.Run(ctx)
		if err != nil {
			return "", err
		}
		if len(out) > 64<<10 {
			out = out[:64<<10]
		}
		return string(out), nil
	}
	return "", errors.New("too many symlinks")
}

func debugfsTool() string {
	if p, err := execx.LookPath("debugfs"); err == nil {
		return p
	}
	return "debugfs"
}
