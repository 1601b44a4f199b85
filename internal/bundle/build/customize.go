package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"banger/internal/agent"
	"banger/internal/buildlog"
	"banger/internal/execx"
)

// sshdImageConf is baked into the image. It sorts before banger.conf, the
// per-VM drop-in (HostKey, AuthorizedKeysFile) written at VM create; sshd
// keeps the first value it reads for a keyword, so these cannot be relaxed
// per VM by accident.
const sshdImageConf = `# banger image defaults; per-VM settings are in banger.conf.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
`

// sshUnit replaces Debian's ssh.service. Debian orders sshd after
// network.target (so after systemd-networkd, itself after udev has
// announced the NIC) and, through the default dependencies, after
// sysinit.target and basic.target (journal flush, tmpfiles, utmp, the
// socket units): measured under TCG, network.target alone came seconds
// after the journald socket, and none of it is needed here. banger's
// initrd has already mounted the root and /root and given the NIC its
// address; sshd listens on the wildcard address and reads its host key
// and authorized keys from the root. So sshd starts as soon as systemd
// does, with ten times the CPU weight of the other units while the VM
// boots, and without Debian's "sshd -t" pre-check (a second sshd parsing
// the config and host keys again; sshd itself refuses a bad config).
// Logins still go through PAM (pam_systemd reaches logind once D-Bus is
// up; before that the session is simply not registered).
const sshUnit = `[Unit]
Description=OpenBSD Secure Shell server (banger: started first)
Documentation=man:sshd(8) man:sshd_config(5)
DefaultDependencies=no
Before=shutdown.target
Conflicts=shutdown.target
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/usr/sbin/sshd -t
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartPreventExitStatus=255
Type=notify
RuntimeDirectory=sshd
RuntimeDirectoryMode=0755
StartupCPUWeight=1000

[Install]
WantedBy=multi-user.target
Alias=sshd.service
`

// tmpConf replaces Debian's /usr/lib/tmpfiles.d/tmp.conf ("D /tmp", which
// makes systemd-tmpfiles-setup empty /tmp at boot). sshd starts before
// systemd-tmpfiles-setup here (sshUnit), so that would delete what a first
// login had just put in /tmp (a tmux socket, files); banger's initrd
// empties /tmp before the init starts instead.
const tmpConf = `# banger: /tmp is emptied at boot by banger's initrd, before any login;
# systemd-tmpfiles only creates it.
d /tmp 1777 root root -
`

// containerUnitDropIn keeps Docker and containerd off sshd's back while the
// VM boots: they start once sshd and the guest agent have, and until boot
// is over their CPU weight is a tenth of everything else's. Both still start
// at every boot, so containers with a restart policy come back.
const containerUnitDropIn = `# banger: start after sshd and the guest agent, at low CPU weight during boot.
[Unit]
After=ssh.service banger-vsock-agent.service

[Service]
StartupCPUWeight=10
`

// apparmorUnit replaces Debian's apparmor.service, which compiles every
// profile in /etc/apparmor.d before sysinit.target (seconds under TCG, on
// the path to everything). The image's profiles confine tools a dev VM does
// not run at boot, and Docker loads its own profile when it starts, so the
// profiles are loaded once sshd and the agent run, still before Docker and
// containerd, at the same low CPU weight during boot as those.
const apparmorUnit = `[Unit]
Description=Load AppArmor profiles (banger: after sshd and the guest agent)
Documentation=man:apparmor(7)
DefaultDependencies=no
After=local-fs.target systemd-journald-audit.socket ssh.service banger-vsock-agent.service
Before=shutdown.target containerd.service docker.service
Conflicts=shutdown.target
RequiresMountsFor=/var/cache/apparmor
AssertPathIsReadWrite=/sys/kernel/security/apparmor/.load
ConditionSecurity=apparmor

[Service]
Type=oneshot
ExecStart=/lib/apparmor/apparmor.systemd reload
ExecReload=/lib/apparmor/apparmor.systemd reload
ExecStop=/bin/true
RemainAfterExit=yes
StartupCPUWeight=10

[Install]
WantedBy=multi-user.target
`

// maskedUnits only cost boot time in a VM: hardware and maintenance timers,
// ifupdown (banger uses systemd-networkd), waiting for "online", pstore,
// the VGA console getty (serial-getty on ttyS0 stays, from the kernel
// console= argument), remounting a root that the initrd mounted as banger
// wants it (the fstab is empty), networkd config from ip= kernel arguments
// (banger writes the .network file) and loading the DRM module for logind
// (no display). The loop, dm_mod, fuse and configfs modules are not loaded
// ahead of use at every boot either (four modprobe runs next to sshd's
// start under TCG): the kernel loads them when /dev/loop-control,
// /dev/mapper/control or /dev/fuse (static nodes, still created) is first
// opened or configfs is mounted.
var maskedUnits = []string{
	"apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily-upgrade.service",
	"dpkg-db-backup.timer", "dpkg-db-backup.service",
	"e2scrub_all.timer", "e2scrub_all.service", "e2scrub_reap.service",
	"fstrim.timer", "fstrim.service",
	"man-db.timer", "man-db.service",
	"networking.service", "ifupdown-pre.service",
	"systemd-networkd-wait-online.service",
	"systemd-pstore.service",
	"getty@tty1.service",
	"systemd-remount-fs.service",
	"systemd-network-generator.service",
	"modprobe@drm.service",
	"modprobe@loop.service", "modprobe@dm_mod.service", "modprobe@fuse.service", "modprobe@configfs.service",
}

// maskedGenerators run before systemd starts any unit, on the path to
// everything, and have nothing to do in a banger VM: its disks carry no
// partition table (gpt-auto), it does not hibernate (hibernate-resume),
// has no crypttab, integritytab or veritytab (their generators), no
// offline system updates (system-update) and no systemd.run= argument
// (run). fstab, getty, rc-local, sysv and debug stay: a user may add an
// fstab line, /etc/rc.local, an init script or systemd.mask= at boot.
var maskedGenerators = []string{
	"systemd-gpt-auto-generator", "systemd-hibernate-resume-generator",
	"systemd-cryptsetup-generator", "systemd-integritysetup-generator", "systemd-veritysetup-generator",
	"systemd-system-update-generator", "systemd-run-generator",
}

var enabledUnits = []string{"systemd-networkd.service", "banger-vsock-agent.service", "ssh.service"}

// customizationKey changes whenever what customize does changes.
func customizationKey() string {
	return keyOf("customize/v3", agent.Unit, sshdImageConf, sshUnit, tmpConf, containerUnitDropIn, apparmorUnit,
		strings.Join(maskedUnits, ","), strings.Join(enabledUnits, ","), strings.Join(maskedGenerators, ","))
}

// customize turns a Debian tree into a banger base image. The agent binary
// itself is installed later, into the ext4 image (see injectAgent), so a new
// agent does not need a rootfs rebuild.
func customize(ctx context.Context, r *buildlog.Reporter, tree guestTree, release, modulesDir string) error {
	for _, need := range []string{"/usr/sbin/sshd", "/lib/systemd/systemd", "/usr/bin/systemctl"} {
		if !tree.exists(need) {
			return fmt.Errorf("the rootfs has no %s (banger needs systemd and openssh-server)", need)
		}
	}

	// Kernel modules, so udev and modprobe work in the guest.
	modDst, err := tree.resolve("/lib/modules/"+release, false)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(modDst); err != nil {
		return err
	}
	if err := copyTree(modulesDir, modDst); err != nil {
		return fmt.Errorf("copy kernel modules into the rootfs: %w", err)
	}

	// SSH: no host keys in a shared image (banger injects one per VM) and
	// key-only root login.
	removed, err := tree.removeGlob("/etc/ssh/ssh_host_*")
	if err != nil {
		return err
	}
	r.Logf("removed ssh host keys: %v", removed)
	if err := tree.writeFile("/etc/ssh/sshd_config.d/00-banger-image.conf", []byte(sshdImageConf), 0o644); err != nil {
		return err
	}

	if err := tree.writeFile("/etc/systemd/system/"+agent.UnitName, []byte(agent.Unit), 0o644); err != nil {
		return err
	}
	if err := bootOrdering(ctx, r, tree); err != nil {
		return err
	}
	if err := systemctl(ctx, r, tree, append([]string{"enable"}, enabledUnits...)...); err != nil {
		return err
	}
	if err := systemctl(ctx, r, tree, append([]string{"mask"}, maskedUnits...)...); err != nil {
		return err
	}
	if err := systemctl(ctx, r, tree, "set-default", "multi-user.target"); err != nil {
		return err
	}

	// Identity is per VM: an empty machine-id makes systemd generate one at
	// first boot (and commit it to the VM's overlay); hostname and resolver
	// come from banger's guest config.
	for _, f := range []struct {
		path, data string
	}{
		{"/etc/machine-id", ""},
		{"/etc/hostname", "banger\n"},
		{"/etc/resolv.conf", "# written per VM by banger\n"},
	} {
		if err := tree.writeFile(f.path, []byte(f.data), 0o644); err != nil {
			return err
		}
	}
	if err := tree.symlink("/etc/machine-id", "/var/lib/dbus/machine-id"); err != nil {
		return err
	}
	if err := stampUpdated(ctx, r, tree); err != nil {
		return err
	}
	// mmdebstrap leaves its apt/dpkg options (our proxy, unsafe-io) behind.
	for _, p := range []string{"/etc/apt/apt.conf.d/99mmdebstrap", "/etc/dpkg/dpkg.cfg.d/99mmdebstrap"} {
		hp := tree.mustResolve(p)
		if err := os.Remove(hp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// bootOrdering writes the units and drop-ins that keep sshd's path short
// (see sshUnit, containerUnitDropIn, apparmorUnit) and masks the
// generators it need not wait for (maskedGenerators).
func bootOrdering(ctx context.Context, r *buildlog.Reporter, tree guestTree) error {
	// ssh.service is enabled again (through the replacement) with the
	// other enabledUnits.
	if err := systemctl(ctx, r, tree, "disable", "ssh.service"); err != nil {
		return err
	}
	if err := maskGenerators(tree); err != nil {
		return err
	}
	files := []struct{ path, data string }{
		{"/etc/systemd/system/ssh.service", sshUnit},
		{"/etc/tmpfiles.d/tmp.conf", tmpConf},
		{"/etc/systemd/system/docker.service.d/banger.conf", containerUnitDropIn},
		{"/etc/systemd/system/containerd.service.d/banger.conf", containerUnitDropIn},
	}
	for _, f := range files {
		if err := tree.writeFile(f.path, []byte(f.data), 0o644); err != nil {
			return err
		}
	}
	if !tree.exists("/lib/systemd/system/apparmor.service") {
		return nil
	}
	// Re-enable through the replacement so it is wanted by
	// multi-user.target, no longer by sysinit.target.
	if err := systemctl(ctx, r, tree, "disable", "apparmor.service"); err != nil {
		return err
	}
	if err := tree.writeFile("/etc/systemd/system/apparmor.service", []byte(apparmorUnit), 0o644); err != nil {
		return err
	}
	return systemctl(ctx, r, tree, "enable", "apparmor.service")
}

// maskGenerators masks maskedGenerators: a link to /dev/null of a
// generator's name in /etc/systemd/system-generators (systemd.generator(7)).
func maskGenerators(tree guestTree) error {
	for _, g := range maskedGenerators {
		if err := tree.symlink("/dev/null", "/etc/systemd/system-generators/"+g); err != nil {
			return err
		}
	}
	return nil
}

// stampUpdated creates the users systemd-sysusers would create at first
// boot, then marks /etc and /var as up to date with /usr, so units with
// ConditionNeedsUpdate= (systemd-sysusers, on the way to sysinit.target)
// do not run at every VM's first boot. After an upgrade inside the guest
// /usr is newer again and they run as usual.
func stampUpdated(ctx context.Context, r *buildlog.Reporter, tree guestTree) error {
	if tree.exists("/usr/bin/systemd-sysusers") {
		argv := []string{tool("chroot"), string(tree), "/usr/bin/systemd-sysusers"}
		if _, err := r.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
			return fmt.Errorf("systemd-sysusers in the rootfs: %w", err)
		}
	}
	usr, err := os.Stat(tree.mustResolve("/usr"))
	if err != nil {
		return fmt.Errorf("stat /usr in the rootfs: %w", err)
	}
	// Whole seconds later than /usr: systemd compares seconds first, and
	// the ext4 image may not keep nanoseconds.
	stamp := usr.ModTime().Truncate(time.Second).Add(time.Second)
	data := fmt.Sprintf("# This file was created by banger's image build (like systemd-update-done).\nTIMESTAMP_NSEC=%d\n", usr.ModTime().UnixNano())
	for _, p := range []string{"/etc/.updated", "/var/.updated"} {
		if err := tree.writeFile(p, []byte(data), 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(tree.mustResolve(p), stamp, stamp); err != nil {
			return fmt.Errorf("stamp %s in the rootfs: %w", p, err)
		}
	}
	return nil
}

// systemctl runs the guest's own systemctl on the tree (offline: enable,
// mask and set-default only edit symlinks).
func systemctl(ctx context.Context, r *buildlog.Reporter, tree guestTree, args ...string) error {
	argv := append([]string{tool("chroot"), string(tree), "/usr/bin/systemctl", "--no-reload"}, args...)
	if _, err := r.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
		return fmt.Errorf("systemctl %s in the rootfs: %w", args[0], err)
	}
	return nil
}
