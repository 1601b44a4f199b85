// Package guestconfig renders the per-VM files banger places in a guest's
// root before boot: hostname, hosts, the static address for the initrd,
// resolver, sshd drop-in, host key, authorized keys, the agent token, and
// the service layer of the image's init (systemd: the networkd file and the
// mount units for /root and Docker's data; runit: the sshd and agent
// services). It owns what those files say; it does not write
// them anywhere (internal/disk puts them into the overlay image) and it never
// touches the shared base image.
package guestconfig

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// DefaultWorkDiskLabel is the ext4 label of a VM's work disk; root.mount
// finds the disk by it.
const DefaultWorkDiskLabel = "banger-work"

// Paths of the rendered files inside the guest root.
const (
	HostKeyPath        = "/etc/ssh/ssh_host_ed25519_key"
	AuthorizedKeysPath = "/etc/ssh/banger_authorized_keys"
	NetworkUnitPath    = "/etc/systemd/network/10-banger.network"
	// NetworkPath is the initrd's input for the NIC, whatever the init.
	NetworkPath     = "/etc/banger/network"
	RootMountPath   = "/etc/systemd/system/root.mount"
	DockerMountPath = "/etc/systemd/system/var-lib-docker.mount"
)

// Config is everything that differs between two VMs' guest files.
type Config struct {
	Hostname string
	MAC      net.HardwareAddr
	// Address is the guest's IPv4 address with the bridge prefix length,
	// e.g. 172.30.0.5/24.
	Address netip.Prefix
	Gateway netip.Addr
	// DNS servers for the guest's resolv.conf: IPv4, not loopback; may be
	// empty (no resolver).
	DNS []netip.Addr
	// AuthorizedKeys are authorized_keys lines allowed to log in as root.
	AuthorizedKeys []string
	// HostKey is the guest's ed25519 host private key in OpenSSH PEM form
	// and HostKeyPub its public half as one authorized_keys-style line
	// (see NewHostKey).
	HostKey    []byte
	HostKeyPub string
	// WorkDiskLabel is the label of the disk mounted at /root;
	// empty means DefaultWorkDiskLabel.
	WorkDiskLabel string
	// AgentToken is the secret the guest agent requires on every request
	// (see NewAgentToken); written root-only to AgentTokenPath.
	AgentToken string
	// Init is the image's init system, which decides the service layer
	// (systemd units or runit services); empty means systemd.
	Init Init
}

// File is one entry to create in the guest root. Exactly one of Dir,
// Symlink != "" or a regular file (Content) is meant. Every entry is owned by
// root:root; Mode holds the permission bits (ignored for symlinks).
type File struct {
	Path    string // absolute path inside the guest root
	Mode    os.FileMode
	Content []byte
	Symlink string // symlink target, when the entry is a symlink
	Dir     bool
}

// Render validates c and returns the guest files, parents before children.
func Render(c Config) ([]File, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	label := c.WorkDiskLabel
	if label == "" {
		label = DefaultWorkDiskLabel
	}
	files := []File{
		{Path: "/etc", Mode: 0o755, Dir: true},
		{Path: "/etc/ssh", Mode: 0o755, Dir: true},
		{Path: "/etc/ssh/sshd_config.d", Mode: 0o755, Dir: true},
		regular("/etc/hostname", 0o644, c.Hostname+"\n"),
		regular("/etc/hosts", 0o644, hosts(c.Hostname)),
		regular("/etc/resolv.conf", 0o644, resolvConf(c.DNS)),
		regular("/etc/ssh/sshd_config.d/banger.conf", 0o644, sshdConfig),
		{Path: HostKeyPath, Mode: 0o600, Content: append([]byte(nil), c.HostKey...)},
		regular(HostKeyPath+".pub", 0o644, strings.TrimSpace(c.HostKeyPub)+"\n"),
		regular(AuthorizedKeysPath, 0o644, authorizedKeys(c.AuthorizedKeys)),
	}
	files = append(files, agentTokenFiles(c.AgentToken)...)
	files = append(files, regular(NetworkPath, 0o644, networkFile(c)))
	switch c.Init.orDefault() {
	case InitSystemd:
		files = append(files, systemdFiles(c, label)...)
	case InitRunit:
		files = append(files, RunitServices()...)
	}
	return withoutRepeatedDirs(files), nil
}

// systemdFiles are the units a systemd guest gets: networkd keeps the
// address the initrd set, and the mount units are fallbacks for what the
// initrd does (an initrd that predates them, another work disk label).
func systemdFiles(c Config, label string) []File {
	return []File{
		{Path: "/etc/systemd", Mode: 0o755, Dir: true},
		{Path: "/etc/systemd/network", Mode: 0o755, Dir: true},
		{Path: "/etc/systemd/system", Mode: 0o755, Dir: true},
		{Path: "/etc/systemd/system/local-fs.target.wants", Mode: 0o755, Dir: true},
		regular(NetworkUnitPath, 0o644, networkUnit(c)),
		regular(RootMountPath, 0o644, rootMount(label)),
		{Path: "/etc/systemd/system/local-fs.target.wants/root.mount", Symlink: "../root.mount"},
		regular(DockerMountPath, 0o644, dockerMount),
		{Path: "/etc/systemd/system/local-fs.target.wants/var-lib-docker.mount", Symlink: "../var-lib-docker.mount"},
	}
}

// withoutRepeatedDirs drops a directory entry whose path came earlier: the
// parts Render joins each list the parents they need.
func withoutRepeatedDirs(files []File) []File {
	seen := map[string]bool{}
	out := files[:0]
	for _, f := range files {
		if f.Dir {
			if seen[f.Path] {
				continue
			}
			seen[f.Path] = true
		}
		out = append(out, f)
	}
	return out
}

func regular(path string, mode os.FileMode, content string) File {
	return File{Path: path, Mode: mode, Content: []byte(content)}
}

const header = "# Managed by banger; local edits are overwritten.\n"

func hosts(name string) string {
	return header +
		"127.0.0.1\tlocalhost\n" +
		"127.0.1.1\t" + name + "\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"ff02::1\tip6-allnodes\n" +
		"ff02::2\tip6-allrouters\n"
}

// resolvConf is a regular file on purpose: the base image may ship
// /etc/resolv.conf as a symlink into systemd-resolved's runtime directory,
// which the guest does not necessarily run.
func resolvConf(servers []netip.Addr) string {
	var b strings.Builder
	b.WriteString(header)
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	return b.String()
}

// networkUnit configures the one NIC statically. Link-local addressing and
// router advertisements are off: the bridge offers neither, and waiting for
// them only slows boot. The bundle's initrd reads MACAddress=, the first
// Address= and Gateway= from this file and sets them before systemd starts
// (internal/bundle/build/init.sh), so keep them one KEY=VALUE per line.
func networkUnit(c Config) string {
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "[Match]\nMACAddress=%s\n\n", c.MAC)
	fmt.Fprintf(&b, "[Network]\nAddress=%s\nGateway=%s\n", c.Address, c.Gateway)
	for _, s := range c.DNS {
		fmt.Fprintf(&b, "DNS=%s\n", s)
	}
	b.WriteString("LinkLocalAddressing=no\nIPv6AcceptRA=no\n\n")
	b.WriteString("[Link]\nRequiredForOnline=yes\n")
	return b.String()
}

// networkFile is what banger's initrd reads to bring the NIC up before the
// init starts (internal/bundle/build/init.sh): the same MACAddress=,
// Address= and Gateway= lines as the networkd unit, one KEY=VALUE per line,
// in a file every init has.
func networkFile(c Config) string {
	return header + fmt.Sprintf("MACAddress=%s\nAddress=%s\nGateway=%s\n", c.MAC, c.Address, c.Gateway)
}

// sshdConfig is a drop-in read through Debian's "Include
// /etc/ssh/sshd_config.d/*.conf", which comes first in sshd_config, so these
// first-match-wins values take precedence. Naming the host key stops sshd
// from using any host keys baked into the shared base image.
const sshdConfig = header +
	"HostKey " + HostKeyPath + "\n" +
	"AuthorizedKeysFile " + AuthorizedKeysPath + " .ssh/authorized_keys\n" +
	"PermitRootLogin prohibit-password\n" +
	"PasswordAuthentication no\n" +
	"KbdInteractiveAuthentication no\n"

func authorizedKeys(keys []string) string {
	var b strings.Builder
	b.WriteString(header)
	for _, k := range keys {
		b.WriteString(strings.TrimSpace(k))
		b.WriteByte('\n')
	}
	return b.String()
}

// rootMount mounts the work disk at /root. banger's initrd mounts it before
// systemd starts, so this unit normally finds it mounted; it is the
// fallback when the initrd could not. sshd is not ordered after it (the
// image's ssh.service has no default dependencies, for a fast boot), so in
// that fallback a login that comes before the mount sees the image's /root.
func rootMount(label string) string {
	return header +
		"[Unit]\nDescription=banger work disk at /root\n\n" +
		"[Mount]\nWhat=/dev/disk/by-label/" + label + "\nWhere=/root\nType=ext4\nOptions=defaults\n\n" +
		"[Install]\nWantedBy=local-fs.target\n"
}

// dockerMount puts /var/lib/docker on the overlay disk's own ext4 (the
// guest init mounts that disk at /run/banger/ovl and creates docker/ on
// it). Docker's overlay2 driver cannot use an overlayfs root as its backing
// filesystem and would fall back to devicemapper on a loop file; on ext4 it
// works, and the data stays with the VM's system disk across stop/start.
const dockerMount = header +
	"[Unit]\nDescription=banger: Docker data on the overlay disk's ext4\n" +
	"ConditionPathIsDirectory=/run/banger/ovl/docker\nBefore=docker.service containerd.service\n\n" +
	"[Mount]\nWhat=/run/banger/ovl/docker\nWhere=/var/lib/docker\nType=none\nOptions=bind\n\n" +
	"[Install]\nWantedBy=local-fs.target\n"

// PerVMPaths are the guest files that make one VM itself: the non-directory
// entries Render writes, the machine id and the agent token. Saving a VM
// as an image leaves them out (the image keeps its own versions), as it
// does the state a guest generates for itself (see internal/image/imagebuild).
func PerVMPaths() []string {
	return []string{
		"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", NetworkUnitPath, NetworkPath,
		"/etc/ssh/sshd_config.d/banger.conf", HostKeyPath, HostKeyPath + ".pub", AuthorizedKeysPath,
		RootMountPath, "/etc/systemd/system/local-fs.target.wants/root.mount",
		DockerMountPath, "/etc/systemd/system/local-fs.target.wants/var-lib-docker.mount",
		AgentTokenPath, MachineIDPath,
	}
}
