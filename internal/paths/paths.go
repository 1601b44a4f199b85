// Package paths resolves every file and directory banger uses: the XDG
// config, state, cache and runtime directories, the daemon socket, per-VM
// directories and the runtime bundle. Nothing else in banger builds paths
// from environment variables.
package paths

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// DefaultHelper is where `make install-helper` puts the root-owned copy of
// bangerd that non-root bangerd runs through `sudo -n` (config key
// helper_path). /usr/libexec and every directory above it are root-owned
// and writable by root alone on every distribution banger supports; that
// is not true of /usr/local on older Debian (group staff, mode 2775).
const DefaultHelper = "/usr/libexec/banger/bangerd"

// MaxSocketPath is the longest unix socket path Linux accepts (sun_path is
// 108 bytes including the terminating NUL).
const MaxSocketPath = 107

// Layout is the set of banger directories for one user.
type Layout struct {
	ConfigDir  string // ~/.config/banger
	StateDir   string // ~/.local/state/banger
	CacheDir   string // ~/.cache/banger
	RuntimeDir string // $XDG_RUNTIME_DIR/banger
	// RuntimeFallback is true when XDG_RUNTIME_DIR was unset and RuntimeDir is
	// a per-user directory under /tmp instead.
	RuntimeFallback bool
}

// FromEnv resolves the layout from the XDG variables and $HOME.
func FromEnv() (Layout, error) {
	home := os.Getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return Layout{}, errors.New("cannot find the home directory: set HOME")
		}
		home = h
	}
	xdg := func(env, def string) string {
		if v := os.Getenv(env); v != "" && filepath.IsAbs(v) {
			return v
		}
		return filepath.Join(home, def)
	}
	l := Layout{
		ConfigDir: filepath.Join(xdg("XDG_CONFIG_HOME", ".config"), "banger"),
		StateDir:  filepath.Join(xdg("XDG_STATE_HOME", ".local/state"), "banger"),
		CacheDir:  filepath.Join(xdg("XDG_CACHE_HOME", ".cache"), "banger"),
	}
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" && filepath.IsAbs(rt) {
		l.RuntimeDir = filepath.Join(rt, "banger")
	} else {
		l.RuntimeDir = filepath.Join(os.TempDir(), "banger-"+strconv.Itoa(os.Getuid()))
		l.RuntimeFallback = true
	}
	return l, nil
}

func (l Layout) ConfigFile() string { return filepath.Join(l.ConfigDir, "config.toml") }
func (l Layout) Socket() string     { return filepath.Join(l.RuntimeDir, "bangerd.sock") }
func (l Layout) DaemonLock() string { return filepath.Join(l.RuntimeDir, "bangerd.lock") }
func (l Layout) DaemonPID() string  { return filepath.Join(l.RuntimeDir, "bangerd.pid") }
func (l Layout) LogFile() string    { return filepath.Join(l.StateDir, "bangerd.log") }
func (l Layout) DBFile() string     { return filepath.Join(l.StateDir, "state.db") }

// InstallationFile holds the installation's stable id, which tags its
// TAPs, bridge claim and NAT rules.
func (l Layout) InstallationFile() string { return filepath.Join(l.StateDir, "installation-id") }
func (l Layout) VMsDir() string           { return filepath.Join(l.StateDir, "vms") }
func (l Layout) ImageBuildDir() string {
	return filepath.Join(l.StateDir, "image-build")
}
func (l Layout) SSHDir() string         { return filepath.Join(l.StateDir, "ssh") }
func (l Layout) SSHKey() string         { return filepath.Join(l.SSHDir(), "id_ed25519") }
func (l Layout) KnownHosts() string     { return filepath.Join(l.SSHDir(), "known_hosts") }
func (l Layout) ProbeCacheFile() string { return filepath.Join(l.CacheDir, "kvm-probe.json") }

// ArtifactCacheDir holds the image build's verified pinned artifacts, laid
// out like an artifact_mirror (see internal/image/artifacts).
func (l Layout) ArtifactCacheDir() string { return filepath.Join(l.CacheDir, "artifacts") }

// VM returns the directory of one VM.
func (l Layout) VM(id string) VMDir { return VMDir(filepath.Join(l.VMsDir(), id)) }

// CheckSocketPath returns an error when p is too long to bind as a unix socket.
func CheckSocketPath(p string) error {
	if len(p) > MaxSocketPath {
		return fmt.Errorf("socket path %s is %d bytes, longer than the unix limit of %d: use a shorter XDG_RUNTIME_DIR or XDG_STATE_HOME", p, len(p), MaxSocketPath)
	}
	return nil
}

// EnsureDirs creates the config, state, cache and runtime directories. The
// runtime directory is private (0700) because it holds the API socket; the
// /tmp fallback must also be a real directory owned by the user (see
// CheckRuntimeDir), or EnsureDirs refuses it.
func (l Layout) EnsureDirs() error {
	for _, d := range []string{l.ConfigDir, l.StateDir, l.CacheDir, l.VMsDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if l.RuntimeFallback {
		return ensureFallbackRuntimeDir(l.RuntimeDir)
	}
	if err := os.MkdirAll(l.RuntimeDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", l.RuntimeDir, err)
	}
	st, err := os.Stat(l.RuntimeDir)
	if err != nil {
		return err
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(l.RuntimeDir, 0o700); err != nil {
			return fmt.Errorf("restrict %s to 0700: %w", l.RuntimeDir, err)
		}
	}
	return nil
}

// VMDir is one VM's directory; each method names one file in it.
type VMDir string

func (d VMDir) String() string       { return string(d) }
func (d VMDir) Overlay() string      { return filepath.Join(string(d), "overlay.ext4") }
func (d VMDir) WorkDisk() string     { return filepath.Join(string(d), "work.ext4") }
func (d VMDir) PIDFile() string      { return filepath.Join(string(d), "vmm.pid") }
func (d VMDir) APISocket() string    { return filepath.Join(string(d), "api.sock") }
func (d VMDir) VsockSocket() string  { return filepath.Join(string(d), "vsock.sock") }
func (d VMDir) SerialSocket() string { return filepath.Join(string(d), "agent-serial.sock") }
func (d VMDir) HostKey() string      { return filepath.Join(string(d), "ssh_host_ed25519_key") }

// SnapshotMemory and SnapshotState hold a suspended VM's guest memory and
// VMM device state (qemu writes both into SnapshotMemory).
func (d VMDir) SnapshotMemory() string { return filepath.Join(string(d), "snapshot.mem") }
func (d VMDir) SnapshotState() string  { return filepath.Join(string(d), "snapshot.state") }

// AgentToken is the host's copy of the VM's agent token (0600); the guest
// has the other at agentproto.TokenPath.
func (d VMDir) AgentToken() string { return filepath.Join(string(d), "agent-token") }

// Sockets are the unix sockets a VM's directory may hold while it runs:
// the VMM's API (Firecracker) or QMP (qemu) socket, the hybrid vsock
// socket, and qemu's virtio-serial agent port.
func (d VMDir) Sockets() []string {
	return []string{d.APISocket(), d.VsockSocket(), d.SerialSocket()}
}

// BootLog is one boot's log of one stream: stream is "console" (the guest
// serial console, when the VMM separates it) or the VMM's name
// ("firecracker", "qemu": the VMM's own output). Boots are numbered from 1
// per VM; internal/vmm/bootlog decides the number and how many are kept.
func (d VMDir) BootLog(stream string, boot int) string {
	return filepath.Join(string(d), stream+"."+strconv.Itoa(boot)+".log")
}

// ImagesDir holds managed (built) images: <name>/<version>/rootfs.ext4,
// work-seed.ext4 and versions.txt.
func (l Layout) ImagesDir() string { return filepath.Join(l.StateDir, "images") }

// DebCacheDir is the image build's private apt state and .deb cache.
func (l Layout) DebCacheDir() string { return filepath.Join(l.CacheDir, "debs") }
