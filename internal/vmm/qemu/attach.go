package qemu

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"banger/internal/vmm"
	"banger/internal/vsock"
)

// Attach serves the agent socket (Spec.AgentSocket, Firecracker's vsock
// handshake) for a running qemu: over the virtio-serial mux or, when the
// VM was started with a vhost-vsock device, by dialing AF_VSOCK. Which one
// is read from the running process's command line, so a bangerd restarted
// with different host capabilities still attaches the right way. Closing
// the attachment stops serving the socket; the VM keeps running.
func (d *Driver) Attach(ctx context.Context, spec vmm.Spec, p vmm.Process) (vmm.Attachment, error) {
	if !p.Alive() {
		return nil, vmm.ErrNotRunning
	}
	if spec.AgentSocket == "" {
		return nil, fmt.Errorf("attach to vm %s: no agent socket", spec.Name)
	}
	argv, err := processArgv(p.PID)
	if err != nil {
		return nil, fmt.Errorf("attach to vm %s: %w", spec.Name, err)
	}
	t, err := agentTransportOf(argv)
	if err != nil {
		return nil, fmt.Errorf("attach to vm %s: pid %d: %w", spec.Name, p.PID, err)
	}
	log := d.log.With("vm", spec.Name)
	if t.vsockCID != 0 {
		cid := t.vsockCID
		dial := func(ctx context.Context, port uint32) (vsockConn, uint32, error) {
			return dialVsock(ctx, cid, port)
		}
		c, err := serveHandshakeProxy(spec.AgentSocket, dial, log)
		if err != nil {
			return nil, fmt.Errorf("attach to vm %s: %w", spec.Name, err)
		}
		log.Debug("agent socket attached over vhost-vsock", "socket", spec.AgentSocket, "cid", cid)
		return c, nil
	}
	serial := t.serialSocket
	dialSerial := func(ctx context.Context) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "unix", serial)
	}
	c, err := vsock.ServeMux(spec.AgentSocket, dialSerial, log)
	if err != nil {
		return nil, fmt.Errorf("attach to vm %s: %w", spec.Name, err)
	}
	log.Debug("agent socket attached over virtio-serial", "socket", spec.AgentSocket, "serial", serial)
	return c, nil
}

// guestCID derives a vsock context id from the VM id. CIDs 0-2 are
// reserved; the range stays below 2^31 to keep clear of VMADDR_CID_ANY.
// Two VMs that hash alike make the second qemu fail to start ("Address
// already in use"), which Start reports with qemu's log.
func guestCID(vmID string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(vmID))
	return 3 + h.Sum32()%(1<<31-3)
}

// agentTransport is how a running qemu carries the guest agent.
type agentTransport struct {
	vsockCID     uint32
	serialSocket string
}

func processArgv(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, fmt.Errorf("read command line of pid %d: %w", pid, err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), nil
}

// agentTransportOf finds the agent device in a qemu command line built by
// buildArgs.
func agentTransportOf(argv []string) (agentTransport, error) {
	if len(argv) == 0 || !strings.Contains(filepath.Base(argv[0]), "qemu") {
		return agentTransport{}, errors.New("not a qemu process")
	}
	for i := 1; i+1 < len(argv); i++ {
		opts := splitOpts(argv[i+1])
		switch {
		case argv[i] == "-device" && opts[0] == "vhost-vsock-device":
			v, ok := optLookup(opts, "guest-cid")
			cid, err := strconv.ParseUint(v, 10, 32)
			if !ok || err != nil || cid < 3 {
				return agentTransport{}, fmt.Errorf("bad vhost-vsock device %q", argv[i+1])
			}
			return agentTransport{vsockCID: uint32(cid)}, nil
		case argv[i] == "-chardev" && opts[0] == "socket":
			if id, _ := optLookup(opts, "id"); id != "agent" {
				continue
			}
			if p, ok := optLookup(opts, "path"); ok && p != "" {
				return agentTransport{serialSocket: p}, nil
			}
		}
	}
	return agentTransport{}, errors.New("qemu has no banger agent device (vhost-vsock or agent chardev)")
}

// splitOpts splits a qemu option string at single commas; ",," is a
// literal comma.
func splitOpts(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != ',' {
			cur.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == ',' {
			cur.WriteByte(',')
			i++
			continue
		}
		out = append(out, cur.String())
		cur.Reset()
	}
	return append(out, cur.String())
}

func optLookup(opts []string, key string) (string, bool) {
	for _, o := range opts {
		if k, v, ok := strings.Cut(o, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}
