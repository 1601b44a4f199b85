package build

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/agent"
)

// voidService is one runit service directory the Void rootfs gets under
// /etc/sv and enables in /etc/runit/runsvdir/default. Run is nil for a
// service whose package ships its own run script (only enabled here).
type voidService struct {
	Name string
	Run  []byte
}

// voidRunitServices are the services banger needs in a Void guest: its
// own sshd service "ssh" and the guest agent (runsv restarts it whenever it
// exits), with the content internal/guestconfig's RunitServices renders per
// VM (docs: /work/notes/runit-api.md on the runit branch; once both are
// merged this should call guestconfig.RunitServices instead), and Docker's
// own service from the docker package. They are kept in this one function
// so the guest-configuration side can change them in one place.
func voidRunitServices() []voidService {
	return []voidService{
		{Name: "ssh", Run: []byte("#!/bin/sh\nmkdir -p /run/sshd\nexec /usr/sbin/sshd -D -e\n")},
		{Name: "banger-vsock-agent", Run: []byte("#!/bin/sh\nexec " + agent.BinaryPath + "\n")},
		{Name: "docker"}, // the docker package's own /etc/sv/docker
	}
}

// voidDisabledServices are default services of Void's packages that must
// not run in a banger guest: the distribution's sshd (banger's "ssh"
// service would fight it for port 22), DHCP and Wi-Fi clients (the initrd
// configures the NIC), and gettys on virtual terminals a microVM does not
// have (the serial console keeps agetty-ttyS0).
var voidDisabledServices = []string{"sshd", "dhcpcd", "dhcpcd-*", "wpa_supplicant", "agetty-tty[0-9]*"}

// voidDockerModules are loaded at boot (runit's core services read
// /etc/modules-load.d) so Docker's bridge networking and NAT work with the
// bundle's modular kernel.
var voidDockerModules = []string{
	"overlay", "bridge", "br_netfilter", "veth",
	"nf_conntrack", "nf_nat", "nf_tables", "nft_chain_nat", "nft_compat",
	"ip_tables", "iptable_filter", "iptable_nat", "xt_MASQUERADE", "xt_conntrack", "xt_addrtype",
}

// voidDockerSysctl is Docker's forwarding prerequisite, applied at boot
// from /etc/sysctl.d by runit's core services.
const voidDockerSysctl = `# banger: Docker's bridge networking needs forwarding and bridged traffic
# to pass through netfilter.
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
`

// finishVoidTree turns an installed Void tree into a banger image: kernel
// modules, root's shell, sshd defaults, runit services, Docker's kernel
// prerequisites and the guest agent.
func finishVoidTree(tree guestTree, modulesDir, release, agentBinary string) error {
	// Void is usr-merged (/usr/sbin -> bin), so either directory will do.
	for _, need := range []string{"bash", "sshd", "runsvdir", "runit-init", "reboot", "poweroff", "dockerd", "ss"} {
		if !tree.exists("/usr/bin/"+need) && !tree.exists("/usr/sbin/"+need) {
			return fmt.Errorf("the Void rootfs has no %s in /usr/bin or /usr/sbin: packages.void must include base-minimal (runit-void), bash, openssh, iproute2 and docker", need)
		}
	}
	for _, need := range []string{"/bin/sh", "/etc/passwd"} {
		if !tree.exists(need) {
			return fmt.Errorf("the Void rootfs has no %s", need)
		}
	}
	if err := runitInit(tree); err != nil {
		return err
	}
	modDst, err := tree.resolve("/usr/lib/modules/"+release, false)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(modDst); err != nil {
		return err
	}
	if err := copyTree(modulesDir, modDst); err != nil {
		return fmt.Errorf("copy kernel modules into the rootfs: %w", err)
	}
	if err := setRootShell(tree, "/bin/bash"); err != nil {
		return err
	}

	// SSH: no host keys in a shared image, key-only root login, and the
	// drop-in directory banger's per-VM config uses.
	if _, err := tree.removeGlob("/etc/ssh/ssh_host_*"); err != nil {
		return err
	}
	if err := tree.writeFile("/etc/ssh/sshd_config.d/00-banger-image.conf", []byte(sshdImageConf), 0o644); err != nil {
		return err
	}
	if err := includeDropIns(tree, "/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf"); err != nil {
		return err
	}

	agentBin, err := os.ReadFile(agentBinary)
	if err != nil {
		return fmt.Errorf("install the guest agent: %w", err)
	}
	if err := tree.writeFile(agent.BinaryPath, agentBin, 0o755); err != nil {
		return err
	}
	if err := installRunitServices(tree, voidRunitServices()); err != nil {
		return err
	}
	if err := tree.writeFile("/etc/modules-load.d/banger-docker.conf",
		[]byte("# banger: Docker's networking modules\n"+strings.Join(voidDockerModules, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := tree.writeFile("/etc/sysctl.d/90-banger-docker.conf", []byte(voidDockerSysctl), 0o644); err != nil {
		return err
	}
	for _, f := range []struct{ path, data string }{
		{"/etc/hostname", "banger\n"},
		{"/etc/resolv.conf", "# written per VM by banger\n"},
	} {
		if err := tree.writeFile(f.path, []byte(f.data), 0o644); err != nil {
			return err
		}
	}
	root := tree.mustResolve("/root")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	return os.Chmod(root, 0o700)
}

// runitInit makes /sbin/init runit's (banger records the image's init from
// where /sbin/init leads) and points runsvdir's "current" at "default"
// when the packages leave either to the first boot.
func runitInit(tree guestTree) error {
	if !tree.exists("/sbin/init") {
		if err := tree.symlink("runit-init", "/usr/bin/init"); err != nil {
			return err
		}
	}
	target, err := tree.resolve("/sbin/init", true)
	if err != nil {
		return err
	}
	if base := filepath.Base(target); base != "runit-init" {
		return fmt.Errorf("/sbin/init in the Void rootfs leads to %s, not runit-init", base)
	}
	if !tree.exists("/etc/runit/runsvdir/current") {
		return tree.symlink("default", "/etc/runit/runsvdir/current")
	}
	return nil
}

// installRunitServices writes each service's run script (when banger
// provides one) and enables it, after disabling voidDisabledServices.
func installRunitServices(tree guestTree, svcs []voidService) error {
	for _, pat := range voidDisabledServices {
		if _, err := tree.removeGlob("/etc/runit/runsvdir/default/" + pat); err != nil {
			return err
		}
	}
	for _, s := range svcs {
		dir := "/etc/sv/" + s.Name
		if s.Run != nil {
			if err := tree.writeFile(dir+"/run", s.Run, 0o755); err != nil {
				return err
			}
		} else if !tree.exists(dir + "/run") {
			return fmt.Errorf("runit service %s: the rootfs has no %s/run (is its package in packages.void?)", s.Name, dir)
		}
		if err := tree.symlink(dir, "/etc/runit/runsvdir/default/"+s.Name); err != nil {
			return err
		}
	}
	if tree.exists("/etc/sv/agetty-ttyS0/run") {
		return tree.symlink("/etc/sv/agetty-ttyS0", "/etc/runit/runsvdir/default/agetty-ttyS0")
	}
	return nil
}

// setRootShell sets root's login shell in /etc/passwd and lists it in
// /etc/shells; /bin/sh stays whatever the distribution made it.
func setRootShell(tree guestTree, shell string) error {
	p := tree.mustResolve("/etc/passwd")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	found := false
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) == 7 && f[0] == "root" {
			f[6] = shell
			lines[i] = strings.Join(f, ":")
			found = true
		}
	}
	if !found {
		return fmt.Errorf("/etc/passwd in the rootfs has no root entry")
	}
	if err := tree.writeFile("/etc/passwd", []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return err
	}
	shells, _ := os.ReadFile(tree.mustResolve("/etc/shells"))
	for _, l := range strings.Split(string(shells), "\n") {
		if strings.TrimSpace(l) == shell {
			return nil
		}
	}
	if len(shells) > 0 && !bytes.HasSuffix(shells, []byte("\n")) {
		shells = append(shells, '\n')
	}
	return tree.writeFile("/etc/shells", append(shells, []byte(shell+"\n")...), 0o644)
}

// includeDropIns makes sure a config file's first directive is include
// (sshd keeps the first value it reads for a keyword, so the drop-ins must
// come before the distribution's settings).
func includeDropIns(tree guestTree, file, include string) error {
	b, err := os.ReadFile(tree.mustResolve(file))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if l == include {
			return nil
		}
		break
	}
	return tree.writeFile(file, append([]byte("# banger: per-image and per-VM settings first\n"+include+"\n\n"), b...), 0o644)
}
