package qemu

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"banger/internal/agent/agentproto"
	"banger/internal/network"
	"banger/internal/vmm"
)

// launchConfig is what Start decides about one boot beyond the Spec itself.
type launchConfig struct {
	Accel     string // "kvm" or "tcg"
	QMPSocket string
	// Exactly one agent transport: a vhost-vsock device with this guest
	// CID, or a virtio-serial port whose host end is SerialSocket.
	VsockCID     uint32
	SerialSocket string
	VhostNet     bool // /dev/vhost-net is usable: offload the TAP's data path
	// TSCkHz is the host's TSC rate, told to TCG guests (see tsc_amd64.go);
	// 0 when unknown.
	TSCkHz uint64
	// ConsoleFD, when set, is the descriptor of qemu's own that receives
	// the serial console: the write end of a log pipe (internal/vmm/bootlog)
	// that launch passes in, opened by qemu as /proc/self/fd/N. Zero
	// writes the console to the spec's files directly.
	ConsoleFD int
}

// qemuID is what qemu accepts as a device, drive or chardev id.
var qemuID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,31}$`)

// optValue escapes a value inside a qemu "key=value,key=value" option
// string, where a literal comma is written twice.
func optValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// machineArgs is the part of the command line shared by VM boots and the
// KVM probe: a microvm with ACPI (the Debian kernel finds virtio-mmio
// devices only through ACPI, as under Firecracker), no default devices, no
// user config files, and -no-reboot so that a guest reboot ends the qemu
// process the way it ends a Firecracker process.
func machineArgs(accel string, memMiB, vcpus int) ([]string, error) {
	var cpu string
	switch accel {
	case "kvm":
		cpu = "host"
	case "tcg":
		cpu = "max"
	default:
		return nil, fmt.Errorf("unknown qemu accelerator %q (want kvm or tcg)", accel)
	}
	return []string{
		"-M", "microvm,acpi=on",
		"-accel", accel,
		"-cpu", cpu,
		"-m", strconv.Itoa(memMiB),
		"-smp", strconv.Itoa(vcpus),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
	}, nil
}

// consoleArgs sends the guest's first serial port to path. A dedicated
// console file starts empty at each boot; when the console shares the VMM
// log it is appended like the rest of that log.
func consoleArgs(path string, appendToFile bool) []string {
	opt := "file,id=console,path=" + optValue(path)
	if appendToFile {
		opt += ",append=on"
	}
	return []string{"-chardev", opt, "-serial", "chardev:console"}
}

// buildArgs returns qemu's arguments (without argv[0]) for spec.
func buildArgs(spec vmm.Spec, l launchConfig) ([]string, error) {
	if err := validateSpec(spec, l); err != nil {
		return nil, err
	}
	args, err := machineArgs(l.Accel, spec.MemoryMiB, spec.VCPUs)
	if err != nil {
		return nil, err
	}
	name := spec.Name
	if name == "" {
		name = spec.ID
	}
	if name != "" {
		args = append(args, "-name", "guest="+optValue(name))
	}
	switch {
	case l.ConsoleFD > 0:
		args = append(args, consoleArgs("/proc/self/fd/"+strconv.Itoa(l.ConsoleFD), false)...)
	case spec.ConsolePath != "":
		args = append(args, consoleArgs(spec.ConsolePath, false)...)
	default:
		args = append(args, consoleArgs(spec.LogPath, true)...)
	}
	args = append(args, "-kernel", spec.Kernel)
	if spec.Initrd != "" {
		args = append(args, "-initrd", spec.Initrd)
	}
	if cmdline := kernelCmdline(spec.BootArgs, l.Accel, l.TSCkHz); cmdline != "" {
		args = append(args, "-append", cmdline)
	}
	for _, d := range spec.Disks {
		drive := "id=" + d.ID + ",file=" + optValue(d.Path) + ",format=raw,if=none,cache=writeback"
		if d.ReadOnly {
			drive += ",readonly=on"
		} else {
			// Lets the guest's fstrim give blocks back to the sparse file.
			drive += ",discard=unmap"
		}
		args = append(args, "-drive", drive, "-device", "virtio-blk-device,drive="+d.ID)
	}
	if spec.TAP != "" {
		netdev := "tap,id=net0,ifname=" + spec.TAP + ",script=no,downscript=no"
		if l.VhostNet {
			netdev += ",vhost=on"
		}
		args = append(args, "-netdev", netdev, "-device", "virtio-net-device,netdev=net0,mac="+spec.MAC)
	}
	args = append(args,
		"-chardev", "socket,id=qmp,path="+optValue(l.QMPSocket)+",server=on,wait=off",
		"-mon", "chardev=qmp,mode=control",
	)
	if l.VsockCID != 0 {
		args = append(args, "-device", "vhost-vsock-device,guest-cid="+strconv.FormatUint(uint64(l.VsockCID), 10))
	} else {
		args = append(args,
			"-device", "virtio-serial-device",
			"-chardev", "socket,id=agent,path="+optValue(l.SerialSocket)+",server=on,wait=off",
			"-device", "virtserialport,chardev=agent,name="+agentproto.SerialPortName,
		)
	}
	if spec.PIDFile != "" {
		args = append(args, "-pidfile", spec.PIDFile)
	}
	return args, nil
}

// kernelCmdline adapts the caller's command line to a qemu microvm:
//   - reboot=k becomes reboot=t: microvm has no i8042 keyboard controller,
//     so a keyboard-controller reset goes nowhere and the guest would hang
//     instead of rebooting; a triple fault resets the machine, which
//     -no-reboot turns into a qemu exit (how a clean stop ends the VMM);
//   - TCG guests get tsc_early_khz= (unless the caller chose a value): on a
//     loaded host the kernel fails to calibrate the TSC against the
//     emulated PIT and hangs early in boot.
func kernelCmdline(bootArgs, accel string, tscKHz uint64) string {
	fields := strings.Fields(bootArgs)
	for i, f := range fields {
		if f == "reboot=k" {
			fields[i] = "reboot=t"
		}
	}
	if accel == "tcg" && tscKHz != 0 && !strings.Contains(bootArgs, "tsc_early_khz=") {
		fields = append(fields, "tsc_early_khz="+strconv.FormatUint(tscKHz, 10))
	}
	return strings.Join(fields, " ")
}

func validateSpec(spec vmm.Spec, l launchConfig) error {
	var errs []string
	if spec.Kernel == "" {
		errs = append(errs, "no kernel")
	}
	if spec.VCPUs < 1 || spec.VCPUs > 255 {
		errs = append(errs, fmt.Sprintf("vcpus %d out of range 1..255", spec.VCPUs))
	}
	if spec.MemoryMiB < 64 {
		errs = append(errs, fmt.Sprintf("memory %d MiB is below 64 MiB", spec.MemoryMiB))
	}
	if spec.ConsolePath == "" && spec.LogPath == "" {
		errs = append(errs, "neither a console path nor a log path")
	}
	seen := map[string]bool{}
	for _, d := range spec.Disks {
		if !qemuID.MatchString(d.ID) {
			errs = append(errs, fmt.Sprintf("disk id %q: want a letter followed by letters, digits, '-', '.' or '_'", d.ID))
		}
		if seen[d.ID] {
			errs = append(errs, fmt.Sprintf("disk id %q used twice", d.ID))
		}
		seen[d.ID] = true
		if d.Path == "" {
			errs = append(errs, fmt.Sprintf("disk %q has no path", d.ID))
		}
	}
	if spec.TAP != "" {
		if err := network.ValidateName(spec.TAP); err != nil {
			errs = append(errs, fmt.Sprintf("tap name: %v", err))
		}
		if hw, err := net.ParseMAC(spec.MAC); err != nil || len(hw) != 6 {
			errs = append(errs, fmt.Sprintf("guest mac %q is not a 6-byte MAC address", spec.MAC))
		}
	}
	if l.QMPSocket == "" {
		errs = append(errs, "no qmp socket")
	}
	if (l.VsockCID == 0) == (l.SerialSocket == "") {
		errs = append(errs, "need exactly one agent transport (vsock cid or serial socket)")
	}
	if l.VsockCID != 0 && l.VsockCID < 3 {
		errs = append(errs, fmt.Sprintf("vsock guest cid %d is reserved", l.VsockCID))
	}
	if len(errs) > 0 {
		return errors.New("invalid qemu vm spec: " + strings.Join(errs, "; "))
	}
	return nil
}
