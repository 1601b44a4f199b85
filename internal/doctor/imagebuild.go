package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/execx"
	"banger/internal/image/artifacts"
)

// ImageBuildChecks are `banger image build`'s prerequisites: the base
// rootfs it would start from (bases in order: default_base_rootfs, the
// bundle's rootfs.ext4, its rootfs-docker.ext4), the host tools the build
// runs, and which pinned artifacts are already cached or in the mirror (a
// build without network needs all of them). Every problem is a warning:
// image builds are optional.
func ImageBuildChecks(bases []string, cacheDir, debCacheDir, mirror string) []Check {
	return []Check{
		Func{CheckName: "image build base", CheckGroup: "image build", Fn: func(context.Context) (Status, string, string) {
			for _, b := range bases {
				if b == "" {
					continue
				}
				if _, err := os.Stat(b); err == nil {
					return Pass, "builds start from " + b, ""
				}
			}
			return Warn, "no base rootfs for `banger image build` (looked at " + strings.Join(nonEmpty(bases), ", ") + ")", "run `make runtime-bundle`, or set default_base_rootfs, or build --from an image"
		}},
		Func{CheckName: "image build tools", CheckGroup: "image build", Fn: func(context.Context) (Status, string, string) {
			var missing []string
			for _, t := range []struct{ prog, pkg string }{{"apt-get", "apt"}, {"dpkg", "dpkg"}, {"chroot", "coreutils"}, {"git", "git"}, {"mkfs.ext4", "e2fsprogs"}, {"debugfs", "e2fsprogs"}} {
				if _, err := execx.LookPath(t.prog); err != nil {
					missing = append(missing, t.prog+" ("+t.pkg+")")
				}
			}
			if len(missing) > 0 {
				return Warn, "missing for image builds: " + strings.Join(missing, ", "), "apt-get install the packages named"
			}
			return Pass, "apt-get, dpkg, chroot, git, mkfs.ext4 and debugfs present", ""
		}},
		Func{CheckName: "image build cache", CheckGroup: "image build", Fn: func(context.Context) (Status, string, string) {
			var have, want []string
			for _, a := range artifacts.Pinned() {
				if inCacheOrMirror(a, cacheDir, mirror) {
					have = append(have, a.String())
				} else {
					want = append(want, a.String())
				}
			}
			debs := "no Debian package cache yet"
			if entries, err := os.ReadDir(filepath.Join(debCacheDir)); err == nil && len(entries) > 0 {
				debs = "Debian package cache at " + debCacheDir
			}
			where := cacheDir
			if mirror != "" {
				where += " or artifact_mirror " + mirror
			}
			if len(want) > 0 {
				return Warn, fmt.Sprintf("not in %s: %s; %s", where, strings.Join(want, ", "), debs), "run `banger image fetch` on a host that reaches the npm registry (git bundles come only from artifact_mirror)"
			}
			return Pass, fmt.Sprintf("all %d pinned artifacts available (%s); %s", len(have), where, debs), ""
		}},
	}
}

func inCacheOrMirror(a artifacts.Artifact, cacheDir, mirror string) bool {
	if _, err := os.Stat(filepath.Join(cacheDir, a.FileName())); err == nil {
		return true
	}
	m := strings.TrimPrefix(mirror, "file://")
	if m == "" || strings.Contains(m, "://") {
		return false // an http(s) mirror is only known by fetching
	}
	_, err := os.Stat(filepath.Join(m, a.FileName()))
	return err == nil
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
