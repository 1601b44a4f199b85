package qemu

import (
	"slices"
	"strings"
	"testing"

	"banger/internal/vmm"
)

func baseSpec() vmm.Spec {
	return vmm.Spec{
		ID: "1a2b3c4d", Name: "calm-otter", Dir: "/s/vms/1a2b3c4d",
		Kernel: "/b/vmlinux", Initrd: "/b/initrd.img", BootArgs: "console=ttyS0 reboot=k root=/dev/vda",
		VCPUs: 2, MemoryMiB: 1024,
		Disks: []vmm.Disk{
			{ID: "rootfs", Path: "/b/rootfs.ext4", ReadOnly: true},
			{ID: "overlay", Path: "/s/vms/1a2b3c4d/overlay.ext4"},
		},
		TAP: "bgr-1a2b", MAC: "02:1a:2b:3c:4d:00",
		AgentSocket: "/s/vms/1a2b3c4d/vsock.sock",
		LogPath:     "/s/vms/1a2b3c4d/qemu.log",
		ConsolePath: "/s/vms/1a2b3c4d/console.log",
		PIDFile:     "/s/vms/1a2b3c4d/vmm.pid",
	}
}

func serialLaunch(accel string) launchConfig {
	return launchConfig{Accel: accel, QMPSocket: "/s/vms/1a2b3c4d/api.sock", SerialSocket: "/s/vms/1a2b3c4d/agent-serial.sock"}
}

func TestBuildArgs(t *testing.T) {
	machine := func(accel, cpu, mem, smp string) []string {
		return []string{"-M", "microvm,acpi=on", "-accel", accel, "-cpu", cpu, "-m", mem, "-smp", smp,
			"-nodefaults", "-no-user-config", "-nographic", "-no-reboot"}
	}
	qmp := []string{"-chardev", "socket,id=qmp,path=/s/vms/1a2b3c4d/api.sock,server=on,wait=off", "-mon", "chardev=qmp,mode=control"}
	serial := []string{"-device", "virtio-serial-device",
		"-chardev", "socket,id=agent,path=/s/vms/1a2b3c4d/agent-serial.sock,server=on,wait=off",
		"-device", "virtserialport,chardev=agent,name=banger.agent"}
	disks := []string{
		"-drive", "id=rootfs,file=/b/rootfs.ext4,format=raw,if=none,cache=writeback,readonly=on", "-device", "virtio-blk-device,drive=rootfs",
		"-drive", "id=overlay,file=/s/vms/1a2b3c4d/overlay.ext4,format=raw,if=none,cache=writeback,discard=unmap", "-device", "virtio-blk-device,drive=overlay",
	}
	boot := []string{"-kernel", "/b/vmlinux", "-initrd", "/b/initrd.img", "-append", "console=ttyS0 reboot=t root=/dev/vda"}
	console := []string{"-chardev", "file,id=console,path=/s/vms/1a2b3c4d/console.log", "-serial", "chardev:console"}
	net := []string{"-netdev", "tap,id=net0,ifname=bgr-1a2b,script=no,downscript=no", "-device", "virtio-net-device,netdev=net0,mac=02:1a:2b:3c:4d:00"}
	pid := []string{"-pidfile", "/s/vms/1a2b3c4d/vmm.pid"}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	name := []string{"-name", "guest=calm-otter"}

	tests := []struct {
		name   string
		spec   func(*vmm.Spec)
		launch launchConfig
		want   []string
	}{
		{
			name:   "tcg with serial agent",
			launch: serialLaunch("tcg"),
			want:   cat(machine("tcg", "max", "1024", "2"), name, console, boot, disks, net, qmp, serial, pid),
		},
		{
			name:   "kvm uses the host cpu",
			launch: serialLaunch("kvm"),
			want:   cat(machine("kvm", "host", "1024", "2"), name, console, boot, disks, net, qmp, serial, pid),
		},
		{
			name:   "vhost-vsock and vhost-net",
			launch: launchConfig{Accel: "kvm", QMPSocket: "/s/vms/1a2b3c4d/api.sock", VsockCID: 4242, VhostNet: true},
			want: cat(machine("kvm", "host", "1024", "2"), name, console, boot, disks,
				[]string{"-netdev", "tap,id=net0,ifname=bgr-1a2b,script=no,downscript=no,vhost=on", "-device", "virtio-net-device,netdev=net0,mac=02:1a:2b:3c:4d:00"},
				qmp, []string{"-device", "vhost-vsock-device,guest-cid=4242"}, pid),
		},
		{
			name: "no tap, no initrd, no console file: console appended to the log",
			spec: func(s *vmm.Spec) {
				s.TAP, s.MAC, s.Initrd, s.ConsolePath, s.Disks = "", "", "", "", nil
				s.VCPUs, s.MemoryMiB = 1, 256
			},
			launch: serialLaunch("tcg"),
			want: cat(machine("tcg", "max", "256", "1"), name,
				[]string{"-chardev", "file,id=console,path=/s/vms/1a2b3c4d/qemu.log,append=on", "-serial", "chardev:console"},
				[]string{"-kernel", "/b/vmlinux", "-append", "console=ttyS0 reboot=t root=/dev/vda"},
				qmp, serial, pid),
		},
		{
			name: "commas in paths and names are doubled, the kernel command line is not",
			spec: func(s *vmm.Spec) {
				s.Name = "a,b"
				s.BootArgs = "console=ttyS0 x=1,2"
				s.Disks = []vmm.Disk{{ID: "work", Path: "/w/my,disk.ext4"}}
				s.ConsolePath = "/c,d/console.log"
				s.TAP = ""
			},
			launch: launchConfig{Accel: "tcg", QMPSocket: "/q,q/api.sock", SerialSocket: "/q,q/agent-serial.sock"},
			want: cat(machine("tcg", "max", "1024", "2"), []string{"-name", "guest=a,,b"},
				[]string{"-chardev", "file,id=console,path=/c,,d/console.log", "-serial", "chardev:console"},
				[]string{"-kernel", "/b/vmlinux", "-initrd", "/b/initrd.img", "-append", "console=ttyS0 x=1,2"},
				[]string{"-drive", "id=work,file=/w/my,,disk.ext4,format=raw,if=none,cache=writeback,discard=unmap", "-device", "virtio-blk-device,drive=work"},
				[]string{"-chardev", "socket,id=qmp,path=/q,,q/api.sock,server=on,wait=off", "-mon", "chardev=qmp,mode=control"},
				[]string{"-device", "virtio-serial-device",
					"-chardev", "socket,id=agent,path=/q,,q/agent-serial.sock,server=on,wait=off",
					"-device", "virtserialport,chardev=agent,name=banger.agent"},
				pid),
		},
		{
			name:   "tcg guests are told the host's TSC rate",
			launch: launchConfig{Accel: "tcg", QMPSocket: "/s/vms/1a2b3c4d/api.sock", SerialSocket: "/s/vms/1a2b3c4d/agent-serial.sock", TSCkHz: 2596122},
			want: cat(machine("tcg", "max", "1024", "2"), name, console,
				[]string{"-kernel", "/b/vmlinux", "-initrd", "/b/initrd.img", "-append", "console=ttyS0 reboot=t root=/dev/vda tsc_early_khz=2596122"},
				disks, net, qmp, serial, pid),
		},
		{
			name:   "console into a log pipe passed as qemu's descriptor 3",
			launch: launchConfig{Accel: "kvm", QMPSocket: "/s/vms/1a2b3c4d/api.sock", SerialSocket: "/s/vms/1a2b3c4d/agent-serial.sock", ConsoleFD: 3},
			want: cat(machine("kvm", "host", "1024", "2"), name,
				[]string{"-chardev", "file,id=console,path=/proc/self/fd/3", "-serial", "chardev:console"},
				boot, disks, net, qmp, serial, pid),
		},
		{
			name:   "kvm guests are not",
			launch: launchConfig{Accel: "kvm", QMPSocket: "/s/vms/1a2b3c4d/api.sock", SerialSocket: "/s/vms/1a2b3c4d/agent-serial.sock", TSCkHz: 2596122},
			want:   cat(machine("kvm", "host", "1024", "2"), name, console, boot, disks, net, qmp, serial, pid),
		},
		{
			name:   "a rate chosen by the caller wins",
			spec:   func(s *vmm.Spec) { s.BootArgs = "console=ttyS0 tsc_early_khz=1000000" },
			launch: launchConfig{Accel: "tcg", QMPSocket: "/s/vms/1a2b3c4d/api.sock", SerialSocket: "/s/vms/1a2b3c4d/agent-serial.sock", TSCkHz: 2596122},
			want: cat(machine("tcg", "max", "1024", "2"), name, console,
				[]string{"-kernel", "/b/vmlinux", "-initrd", "/b/initrd.img", "-append", "console=ttyS0 tsc_early_khz=1000000"},
				disks, net, qmp, serial, pid),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec()
			if tt.spec != nil {
				tt.spec(&spec)
			}
			got, err := buildArgs(spec, tt.launch)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("args mismatch\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}

func TestBuildArgsRejectsBadSpecs(t *testing.T) {
	tests := []struct {
		name   string
		spec   func(*vmm.Spec)
		launch func(*launchConfig)
		want   string
	}{
		{"no kernel", func(s *vmm.Spec) { s.Kernel = "" }, nil, "no kernel"},
		{"zero vcpus", func(s *vmm.Spec) { s.VCPUs = 0 }, nil, "vcpus 0"},
		{"tiny memory", func(s *vmm.Spec) { s.MemoryMiB = 16 }, nil, "memory 16 MiB"},
		{"disk id with comma", func(s *vmm.Spec) { s.Disks[0].ID = "root,fs" }, nil, `disk id "root,fs"`},
		{"duplicate disk id", func(s *vmm.Spec) { s.Disks[1].ID = "rootfs" }, nil, "used twice"},
		{"disk without path", func(s *vmm.Spec) { s.Disks[1].Path = "" }, nil, "has no path"},
		{"long tap name", func(s *vmm.Spec) { s.TAP = "bgr-0123456789abcdef" }, nil, "tap name"},
		{"tap with option injection", func(s *vmm.Spec) { s.TAP = "t0,vhost=on" }, nil, "tap name"},
		{"bad mac", func(s *vmm.Spec) { s.MAC = "02:1a" }, nil, "guest mac"},
		{"no output at all", func(s *vmm.Spec) { s.LogPath, s.ConsolePath = "", "" }, nil, "neither a console path nor a log path"},
		{"unknown accel", nil, func(l *launchConfig) { l.Accel = "hvf" }, `unknown qemu accelerator "hvf"`},
		{"two agent transports", nil, func(l *launchConfig) { l.VsockCID = 7 }, "exactly one agent transport"},
		{"no agent transport", nil, func(l *launchConfig) { l.SerialSocket = "" }, "exactly one agent transport"},
		{"reserved cid", nil, func(l *launchConfig) { l.SerialSocket, l.VsockCID = "", 2 }, "cid 2 is reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, l := baseSpec(), serialLaunch("tcg")
			if tt.spec != nil {
				tt.spec(&spec)
			}
			if tt.launch != nil {
				tt.launch(&l)
			}
			_, err := buildArgs(spec, l)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// Command is Start's command line with the console written by qemu itself.
func TestCommandIsStartsCommandLine(t *testing.T) {
	d := New(Options{Binary: "/opt/qemu", Accel: "kvm"})
	spec := baseSpec()
	spec.TAP = "" // no /dev/vhost-net probe
	got, err := d.Command(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := d.launchConfig(spec)
	if cfg.ConsoleFD != 0 || cfg.SerialSocket != "/s/vms/1a2b3c4d/agent-serial.sock" || cfg.QMPSocket != "/s/vms/1a2b3c4d/api.sock" {
		t.Fatalf("launch config %+v", cfg)
	}
	want, err := buildArgs(spec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, append([]string{"/opt/qemu"}, want...)) {
		t.Fatalf("Command = %q\nwant %q", got, want)
	}
	if !slices.Contains(got, "file,id=console,path=/s/vms/1a2b3c4d/console.log") {
		t.Errorf("Command does not write the console to the spec's file: %q", got)
	}
	spec.Kernel = ""
	if _, err := d.Command(spec); err == nil || !strings.Contains(err.Error(), "no kernel") {
		t.Errorf("Command of a spec without kernel: %v", err)
	}
}
