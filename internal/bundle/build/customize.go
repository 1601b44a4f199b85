package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"banger/internal/execx"
)

// AgentGuestPath is where the guest agent lives in the rootfs.
const AgentGuestPath = "/usr/local/bin/banger-vsock-agent"

// agentUnit keeps restarting the agent forever (no start limit): its
// transport may appear later than the service starts.
const agentUnit = `[Unit]
Description=banger guest agent (HTTP over vsock)
After=local-fs.target
StartLimitIntervalSec=0

[Service]
ExecStart=/usr/local/bin/banger-vsock-agent
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`

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

// maskedUnits only cost boot time in a VM: hardware and maintenance timers,
// ifupdown (banger uses systemd-networkd), waiting for "online", pstore,
// and the VGA console getty (serial-getty on ttyS0 stays, from the kernel
// console= argument).
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
}

var enabledUnits = []string{"systemd-networkd.service", "banger-vsock-agent.service", "ssh.service"}

// customizationKey changes whenever what customize does changes.
func customizationKey() string {
	return keyOf("customize/v1", agentUnit, sshdImageConf, strings.Join(maskedUnits, ","), strings.Join(enabledUnits, ","))
}

// customize turns a Debian tree into a banger base image. The agent binary
// itself is installed later, into the ext4 image (see injectAgent), so a new
// agent does not need a rootfs rebuild.
func customize(ctx context.Context, r *reporter, tree guestTree, release, modulesDir string) error {
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
	r.logf("removed ssh host keys: %v", removed)
	if err := tree.writeFile("/etc/ssh/sshd_config.d/00-banger-image.conf", []byte(sshdImageConf), 0o644); err != nil {
		return err
	}

	if err := tree.writeFile("/etc/systemd/system/banger-vsock-agent.service", []byte(agentUnit), 0o644); err != nil {
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
	// mmdebstrap leaves its apt/dpkg options (our proxy, unsafe-io) behind.
	for _, p := range []string{"/etc/apt/apt.conf.d/99mmdebstrap", "/etc/dpkg/dpkg.cfg.d/99mmdebstrap"} {
		hp := tree.mustResolve(p)
		if err := os.Remove(hp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// systemctl runs the guest's own systemctl on the tree (offline: enable,
// mask and set-default only edit symlinks).
func systemctl(ctx context.Context, r *reporter, tree guestTree, args ...string) error {
	argv := append([]string{tool("chroot"), string(tree), "/usr/bin/systemctl", "--no-reload"}, args...)
	if _, err := r.run(ctx, execx.Cmd{Argv: argv}); err != nil {
		return fmt.Errorf("systemctl %s in the rootfs: %w", args[0], err)
	}
	return nil
}
