package fctest

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
)

// The per-endpoint semantics: what Firecracker checks after a body has
// deserialized. Fault texts follow Firecracker's where known; the
// vsock, network and drive ones are paraphrases carrying the same facts.
// All are called with s.mu held.

func (s *Server) action(kind string) (string, func()) {
	switch kind {
	case "InstanceStart":
		if s.started {
			return FaultAfterBoot, nil
		}
		if s.boot == nil {
			return FaultNoKernel, nil
		}
		args, _ := s.boot["boot_args"].(string)
		if full := s.finalCmdline(args); len(full)+1 > 2048 {
			return "Start microvm error: Cannot build the kernel command line: Inserting string would make command line too long.", nil
		}
		s.started = true
		fmt.Fprintf(s.cfg.Console, "[    0.000000] Linux version 6.1.0-fake (fctest) Command line: %s\n", s.finalCmdline(args))
		for _, p := range s.cfg.AgentPorts {
			fmt.Fprintf(s.cfg.Console, "fake guest: agent listening on vsock port %d\n", p)
		}
		if s.vsock != nil {
			s.vsock.activate()
		}
		return "", nil
	case "SendCtrlAltDel":
		if !s.started {
			return FaultBeforeBoot, nil
		}
		fmt.Fprintf(s.cfg.Console, "fake guest: reboot: Restarting system\n")
		return "", s.cfg.OnCtrlAltDel
	default: // FlushMetrics
		return "The metrics system is not initialized.", nil
	}
}

func (s *Server) putBootSource(b map[string]any) string {
	kernel := b["kernel_image_path"].(string)
	if err := openable(kernel); err != nil {
		return "The kernel file cannot be opened: " + err.Error()
	}
	if initrd, ok := b["initrd_path"].(string); ok {
		if err := openable(initrd); err != nil {
			return "The initrd file cannot be opened due to invalid path or invalid permissions. " + err.Error()
		}
	}
	if args, _ := b["boot_args"].(string); len(args) > 2047 {
		return "The kernel command line is invalid: Command line too large"
	}
	s.boot = b
	return ""
}

func (s *Server) putDrive(id string, b map[string]any) string {
	if _, vhost := b["socket"]; !vhost {
		// The spec: path_on_host and is_read_only are required for
		// virtio-block (the only kind banger uses).
		for _, f := range []string{"path_on_host", "is_read_only"} {
			if _, ok := b[f]; !ok {
				return fmt.Sprintf("Unable to create the block device: %s is required for a virtio-block drive", f)
			}
		}
		if err := openable(b["path_on_host"].(string)); err != nil {
			return "Unable to create the block device: " + err.Error()
		}
	}
	if root, _ := b["is_root_device"].(bool); root {
		for other, d := range s.drives {
			if r, _ := d["is_root_device"].(bool); r && other != id {
				return "A root block device already exists!"
			}
		}
	}
	if _, ok := s.drives[id]; !ok {
		s.driveIDs = append(s.driveIDs, id)
	}
	s.drives[id] = b
	return ""
}

func (s *Server) putMachine(b map[string]any) string {
	vcpus, _ := b["vcpu_count"].(json.Number).Int64()
	mem, _ := b["mem_size_mib"].(json.Number).Int64()
	smt, _ := b["smt"].(bool)
	if vcpus < 1 || vcpus > 32 || smt && vcpus > 1 && vcpus%2 != 0 {
		return "The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled."
	}
	if mem == 0 {
		return "The memory size (MiB) is invalid."
	}
	s.machine = b
	return ""
}

func (s *Server) putNet(id string, b map[string]any) string {
	dev := b["host_dev_name"].(string)
	if dev == "" || len(dev) > 15 {
		return fmt.Sprintf("Could not create the network device: Open tap device failed: Invalid TAP name %q", dev)
	}
	if mac, ok := b["guest_mac"].(string); ok {
		if hw, err := net.ParseMAC(mac); err != nil || len(hw) != 6 {
			return deserializeFault(fmt.Sprintf("invalid MAC address %q", mac))
		}
	}
	if mtu, ok := b["mtu"].(json.Number); ok {
		if n, _ := mtu.Int64(); n < 68 || n > 65535 {
			return "Could not create the network device: MTU must be between 68 and 65535"
		}
	}
	for other, n := range s.nets {
		if other != id && n["host_dev_name"] == dev {
			return fmt.Sprintf("Could not create the network device: The host device name %s is already in use.", dev)
		}
	}
	s.nets[id] = b
	return ""
}

func (s *Server) putVsock(b map[string]any) string {
	cid, _ := b["guest_cid"].(json.Number).Int64()
	if cid < 3 {
		return fmt.Sprintf("Cannot create backend for vsock device: invalid guest CID %d (minimum 3)", cid)
	}
	// Firecracker binds uds_path when the device is configured.
	if s.vsock != nil {
		s.vsock.close()
		s.vsock = nil
	}
	m, err := listenVsock(b["uds_path"].(string), s.cfg.AgentPorts, s.cfg.KeepSockets)
	if err != nil {
		return "Cannot create backend for vsock device: Error binding to the host-side Unix socket: " + err.Error()
	}
	m.powerOff = s.guestPowerOff
	s.vsock = m
	return ""
}

func (s *Server) putLogger(b map[string]any) string {
	if p, ok := b["log_path"].(string); ok {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return "Failed to open target file: " + err.Error()
		}
		f.Close()
	}
	return ""
}

// openable reports whether p can be opened for reading, like Firecracker
// does at configuration time.
func openable(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	f, err := os.Open(p)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			return fmt.Errorf("%s: %w", p, pe.Err)
		}
		return err
	}
	return f.Close()
}

// guestPowerOff is the fake guest's poweroff: the kernel's last words on
// the serial console, then silence; the process keeps running.
func (s *Server) guestPowerOff() {
	fmt.Fprintf(s.cfg.Console, "[  OK  ] Reached target poweroff.target - System Power Off.\r\n[   12.345678] reboot: Power down\r\n")
}

// finalCmdline is the command line Firecracker (x86_64, v1.16.1) hands the
// guest: the boot args, then "pci=off" (PCI is off by default), then one
// virtio_mmio.device=4K@<addr>:<irq> per virtio device (drives, network
// interfaces, vsock) in attach order. Its capacity is 2048 bytes with the
// terminating NUL (arch::x86_64::layout::CMDLINE_MAX_SIZE).
func (s *Server) finalCmdline(args string) string {
	out := args + " pci=off"
	n := len(s.driveIDs) + len(s.nets)
	if s.vsock != nil {
		n++
	}
	for i := range n {
		out += fmt.Sprintf(" virtio_mmio.device=4K@0x%x:%d", 0xc0001000+i*0x1000, 5+i)
	}
	return out
}
