package disk

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// maxLinkHops bounds symlink resolution, as the kernel's ELOOP limit does.
const maxLinkHops = 40

// ErrNotInImage is returned (wrapped) by ResolvePath for a path that is
// not in the image.
var ErrNotInImage = errors.New("no such file in the image")

// ResolvePath resolves p inside the ext4 image the way the guest's kernel
// would: every symlink along it, in the directories or at the end,
// relative or absolute (absolute ones from the image's root), until a path
// without symlinks. It reads the image with debugfs and never mounts it.
// A missing component is an error wrapping ErrNotInImage.
func ResolvePath(ctx context.Context, image, p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("resolve %q in %s: not an absolute path", p, image)
	}
	todo := components(p)
	resolved := "/"
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c == ".." {
			resolved = path.Dir(resolved)
			continue
		}
		cand := path.Join(resolved, c)
		target, isLink, err := readLink(ctx, image, cand)
		if err != nil {
			return "", fmt.Errorf("resolve %s in %s: %w", p, image, err)
		}
		if !isLink {
			resolved = cand
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", fmt.Errorf("resolve %s in %s: more than %d symlinks", p, image, maxLinkHops)
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		todo = append(components(target), todo...)
	}
	return resolved, nil
}

// components splits p into its names, dropping empty ones and ".".
func components(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

var (
	statType     = regexp.MustCompile(`(?m)^Inode: \d+\s+Type: (\S+)`)
	fastLinkDest = regexp.MustCompile(`(?m)^Fast link dest: "(.*)"$`)
)

// readLink stats p (whose directories hold no symlinks) in image and, when
// it is a symlink, returns its target: from stat for a fast symlink (target
// in the inode), from its data block for a longer one.
func readLink(ctx context.Context, image, p string) (target string, isLink bool, err error) {
	if err := validatePath(p); err != nil {
		return "", false, err
	}
	out, stderr, err := output(ctx, nil, nil, "debugfs", "-c", "-R", "stat "+quote(p), image)
	if err != nil {
		return "", false, err
	}
	m := statType.FindStringSubmatch(string(out))
	if m == nil {
		if errs := debugfsErrors(string(stderr)); len(errs) > 0 && !strings.Contains(strings.Join(errs, " "), "not found") {
			return "", false, fmt.Errorf("debugfs stat %s: %s", p, strings.Join(errs, "; "))
		}
		return "", false, fmt.Errorf("%s: %w", p, ErrNotInImage)
	}
	if m[1] != "symlink" {
		return "", false, nil
	}
	if f := fastLinkDest.FindStringSubmatch(string(out)); f != nil {
		return f[1], true, nil
	}
	data, err := run(ctx, nil, nil, "debugfs", "-c", "-R", "cat "+quote(p), image)
	if err != nil {
		return "", false, err
	}
	if len(data) == 0 {
		return "", false, fmt.Errorf("symlink %s has an empty target", p)
	}
	return string(data), true, nil
}
