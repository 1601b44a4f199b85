package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/buildlog"
	"banger/internal/execx"
	"banger/internal/xbps"
)

// voidInstaller unpacks XBPS packages into a rootfs tree and records them
// the way xbps-install does, so xbps in the guest sees them installed.
type voidInstaller struct {
	r         *buildlog.Reporter
	tree      guestTree
	arch      string
	requested map[string]bool

	contents      map[string]*xbps.Contents // by package name
	altGroups     map[string][]string       // group → providers, first is active
	scriptsRun    []string
	scriptsFailed []string
	configured    map[string]bool
}

// unpack extracts one verified package file into the tree.
func (in *voidInstaller) unpack(p *xbps.Package, file string) error {
	fh, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("package %s: %w", p.Pkgver, err)
	}
	defer fh.Close()
	c, err := xbps.ReadPackage(fh, func(e xbps.Entry, r io.Reader) error {
		if err := in.extract(e, r); err != nil {
			return fmt.Errorf("/%s: %w", e.Name, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("package %s (%s): %w", p.Pkgver, filepath.Base(file), err)
	}
	if c.Props.Pkgver != p.Pkgver {
		return fmt.Errorf("package %s: its props.plist says %s", p.Pkgver, c.Props.Pkgver)
	}
	if in.contents == nil {
		in.contents = map[string]*xbps.Contents{}
	}
	in.contents[p.Name] = c
	return nil
}

// extract writes one payload entry, owner, mode and mtime as recorded.
// Paths resolve inside the tree (an absolute symlink such as /var/run ->
// /run stays in the tree); a directory over an existing symlink to a
// directory keeps the link, as libarchive does for /bin -> usr/bin.
func (in *voidInstaller) extract(e xbps.Entry, r io.Reader) error {
	h := e.Header
	gp := "/" + e.Name
	mode := fs.FileMode(h.Mode & 0o777)
	if h.Mode&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if h.Mode&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if h.Mode&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	switch h.Typeflag {
	case tar.TypeDir:
		hp, err := in.tree.resolve(gp, true)
		if err != nil {
			return err
		}
		if st, err := os.Lstat(hp); err == nil && !st.IsDir() {
			if err := os.Remove(hp); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(hp, 0o755); err != nil {
			return err
		}
		return setMeta(hp, h, mode)
	case tar.TypeReg:
		hp, err := in.prepareLeaf(gp)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(hp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, io.LimitReader(r, h.Size)); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return setMeta(hp, h, mode)
	case tar.TypeSymlink:
		hp, err := in.prepareLeaf(gp)
		if err != nil {
			return err
		}
		if err := os.Symlink(h.Linkname, hp); err != nil {
			return err
		}
		if err := os.Lchown(hp, h.Uid, h.Gid); err != nil {
			return err
		}
		return unix.Lutimes(hp, []unix.Timeval{unix.NsecToTimeval(h.ModTime.UnixNano()), unix.NsecToTimeval(h.ModTime.UnixNano())})
	case tar.TypeLink:
		target, err := in.tree.resolve("/"+h.Linkname, false)
		if err != nil {
			return err
		}
		hp, err := in.prepareLeaf(gp)
		if err != nil {
			return err
		}
		return os.Link(target, hp)
	}
	return fmt.Errorf("unsupported entry type %q", h.Typeflag)
}

// prepareLeaf resolves a guest path for a new file or link, creating its
// parent directories and removing what was there (packages installed later
// overwrite files of earlier ones, as xbps does for files they share).
func (in *voidInstaller) prepareLeaf(gp string) (string, error) {
	hp, err := in.tree.resolve(gp, false)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return "", err
	}
	if st, err := os.Lstat(hp); err == nil {
		if st.IsDir() {
			return "", errors.New("a directory is in the way")
		}
		if err := os.Remove(hp); err != nil {
			return "", err
		}
	}
	return hp, nil
}

// setMeta applies owner, then mode (chown clears set-id bits), then mtime.
func setMeta(hp string, h *tar.Header, mode fs.FileMode) error {
	if err := os.Lchown(hp, h.Uid, h.Gid); err != nil {
		return err
	}
	if err := os.Chmod(hp, mode); err != nil {
		return err
	}
	return os.Chtimes(hp, h.ModTime, h.ModTime)
}

// alternatives creates the symlinks of every alternatives group. As in
// xbps, the first package (in install order) that registers a group
// provides its links; later providers are only recorded.
func (in *voidInstaller) alternatives(pkgs []*xbps.Package) error {
	in.altGroups = map[string][]string{}
	for _, p := range pkgs {
		groups := make([]string, 0, len(p.Alternatives))
		for g := range p.Alternatives {
			groups = append(groups, g)
		}
		sort.Strings(groups)
		for _, g := range groups {
			first := len(in.altGroups[g]) == 0
			in.altGroups[g] = append(in.altGroups[g], p.Name)
			if !first {
				continue
			}
			for _, alt := range p.Alternatives[g] {
				link, target, _ := strings.Cut(alt, ":")
				if !strings.HasPrefix(target, "/") {
					return fmt.Errorf("package %s: alternatives group %s: target %q is not absolute", p.Pkgver, g, target)
				}
				if !strings.HasPrefix(link, "/") {
					link = path.Join(path.Dir(target), link)
				}
				rel, err := filepath.Rel(path.Dir(path.Clean(link)), path.Clean(target))
				if err != nil {
					return err
				}
				if err := in.tree.symlink(rel, path.Clean(link)); err != nil {
					return fmt.Errorf("package %s: alternatives group %s: %w", p.Pkgver, g, err)
				}
				in.r.Logf("alternatives %s (%s): %s -> %s", g, p.Name, link, rel)
			}
		}
	}
	return nil
}

// scriptTimeout bounds one package script; they are small shell scripts.
const scriptTimeout = 2 * time.Minute

// runScripts runs each package's INSTALL script with the "post" action in
// a chroot of the tree, with the tree's own /bin/sh, in install order: what
// xbps-reconfigure does to configure an unpacked package (system accounts,
// /etc/shells, generated caches). The "pre" action (run by xbps before
// unpacking) is not run: before the first packages there is no shell to run
// it with. A script that fails leaves its package "unpacked" in the package
// database, so `xbps-reconfigure -a` in the guest configures it; the
// failures are reported, not fatal.
func (in *voidInstaller) runScripts(ctx context.Context, pkgs []*xbps.Package) error {
	in.configured = map[string]bool{}
	sh, err := in.tree.resolve("/bin/sh", true)
	if err != nil {
		return err
	}
	if st, err := os.Stat(sh); err != nil || st.Mode()&0o111 == 0 {
		in.r.Logf("no executable /bin/sh in the tree: package scripts not run")
		for _, p := range pkgs {
			if c := in.contents[p.Name]; c != nil && c.Install != nil {
				in.scriptsFailed = append(in.scriptsFailed, p.Pkgver+": no /bin/sh in the rootfs")
			} else {
				in.configured[p.Name] = true
			}
		}
		return nil
	}
	cleanup, err := in.chrootDevices()
	if err != nil {
		return err
	}
	defer cleanup()
	for _, p := range pkgs {
		c := in.contents[p.Name]
		if c == nil || c.Install == nil {
			in.configured[p.Name] = true
			continue
		}
		const script = "/.xbps-banger-INSTALL"
		if err := in.tree.writeFile(script, c.Install, 0o750); err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, scriptTimeout)
		// Own network, UTS, IPC and PID namespaces: a script cannot reach
		// the network or rename or signal anything on the host. The chroot
		// itself is no security boundary: the packages are trusted as far as
		// the mirror and its index are (sha256-checked, index unsigned).
		argv := []string{tool("unshare"), "--net", "--uts", "--ipc", "--pid", "--fork", "--kill-child",
			tool("chroot"), string(in.tree), "/bin/sh", script, "post", p.Name, p.Version, "no", "no", in.arch}
		_, err := in.r.Run(sctx, execx.Cmd{Argv: argv, Dir: string(in.tree), SystemEnv: true,
			// xbps-triggers compare XBPS_TARGET_ARCH with uname -m to pick
			// the tree's own useradd and friends.
			Env: []string{"PATH=/usr/bin:/usr/sbin:/bin:/sbin", "HOME=/root", "XBPS_TARGET_ARCH=" + in.arch}})
		cancel()
		os.Remove(in.tree.mustResolve(script))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			in.scriptsFailed = append(in.scriptsFailed, fmt.Sprintf("%s: %v", p.Pkgver, err))
			continue
		}
		in.configured[p.Name] = true
		in.scriptsRun = append(in.scriptsRun, p.Pkgver)
	}
	return nil
}

// chrootDevices gives the chroot the few device nodes scripts redirect to
// (/dev/null, /dev/zero, /dev/random, /dev/urandom) and removes them after:
// the image gets its /dev from devtmpfs at boot.
func (in *voidInstaller) chrootDevices() (func(), error) {
	dev, err := in.tree.resolve("/dev", true)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return nil, err
	}
	nodes := []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"random", 1, 8}, {"urandom", 1, 9}}
	var made []string
	cleanup := func() {
		for _, p := range made {
			os.Remove(p)
		}
	}
	for _, n := range nodes {
		p := filepath.Join(dev, n.name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			cleanup()
			return nil, fmt.Errorf("mknod /dev/%s in the rootfs: %w", n.name, err)
		}
		made = append(made, p)
	}
	return cleanup, nil
}

// writePkgdb records the installed packages in /var/db/xbps as xbps does
// (pkgdb-0.38.plist and one .<name>-files.plist per package), so
// xbps-query, xbps-install -u and xbps-reconfigure work in the guest.
func (in *voidInstaller) writePkgdb(pkgs []*xbps.Package, now time.Time) error {
	db := map[string]any{}
	for _, p := range pkgs {
		d := map[string]any{}
		for k, v := range p.Raw {
			switch k {
			case "filename-sha256", "filename-size", "repository":
				continue
			}
			d[k] = v
		}
		d["pkgname"] = p.Name
		d["install-date"] = now.UTC().Format("2006-01-02 15:04 MST")
		d["automatic-install"] = !in.requested[p.Name]
		d["state"] = "unpacked"
		if in.configured[p.Name] {
			d["state"] = "installed"
		}
		if c := in.contents[p.Name]; c != nil {
			if c.Install != nil {
				d["install-script"] = c.Install
			}
			if c.Remove != nil {
				d["remove-script"] = c.Remove
			}
			if err := in.tree.writeFile("/var/db/xbps/."+p.Name+"-files.plist", c.FilesList, 0o644); err != nil {
				return err
			}
		}
		db[p.Name] = d
	}
	if len(in.altGroups) > 0 {
		alts := map[string]any{}
		for g, provs := range in.altGroups {
			alts[g] = provs
		}
		db["_XBPS_ALTERNATIVES_"] = alts
	}
	b, err := xbps.MarshalPlist(db)
	if err != nil {
		return err
	}
	return in.tree.writeFile("/var/db/xbps/pkgdb-0.38.plist", b, 0o644)
}
