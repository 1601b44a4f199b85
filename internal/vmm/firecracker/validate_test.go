package firecracker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/vmm/firecracker/fctest"

	"banger/internal/vmm"
)

func TestValidateMachine(t *testing.T) {
	for _, c := range []struct {
		vcpus, mem int
		want       string // "" for valid
	}{
		{1, 128, ""},
		{2, 1024, ""},
		{32, 4096, ""},
		{0, 512, "vcpu count 0 is out of range: firecracker allows 1 to 32"},
		{34, 512, "vcpu count 34 is out of range"},
		{3, 512, "vcpu count 3 is odd: firecracker allows 1 or an even number up to 32"},
		{2, 127, "memory 127 MiB is too small: at least 128 MiB is required"},
	} {
		err := ValidateMachine(c.vcpus, c.mem)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("ValidateMachine(%d, %d) = %v", c.vcpus, c.mem, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("ValidateMachine(%d, %d) = %v, want %q", c.vcpus, c.mem, err, c.want)
		}
	}
}

// The boot-args limit counts what Firecracker appends, and agrees with the
// fake, which builds the final command line the way Firecracker v1.16.1
// does and refuses InstanceStart when it overflows.
func TestBootArgsLimitMatchesFirecracker(t *testing.T) {
	spec := vmm.Spec{Disks: make([]vmm.Disk, 3), TAP: "bgr-1", AgentSocket: "/v.sock"}
	limit := maxCmdline - appendedArgsLen(spec)
	// The driver reserves two IRQ digits per device; these five devices
	// get IRQs 5 to 9, so Firecracker itself has exactly 5 bytes more.
	over := limit + 5 + 1
	for _, n := range []int{limit, over} {
		_, c := startFake(t, fctest.Config{})
		ctx := context.Background()
		dir := t.TempDir()
		s := spec
		s.Kernel, s.BootArgs, s.VCPUs, s.MemoryMiB = standIn(t, dir, "vmlinux"), strings.Repeat("x", n), 1, 128
		s.Disks = []vmm.Disk{{ID: "a", Path: standIn(t, dir, "a")}, {ID: "b", Path: standIn(t, dir, "b")}, {ID: "c", Path: standIn(t, dir, "c")}}
		s.AgentSocket = filepath.Join(dir, "v.sock")
		var err error
		for _, st := range configSteps(s) {
			if err = st.run(ctx, c); err != nil {
				break
			}
		}
		switch {
		case n == limit && err != nil:
			t.Errorf("%d bytes (the limit) refused by the fake: %v", n, err)
		case n == over && (err == nil || !strings.Contains(err.Error(), "command line too long")):
			t.Errorf("%d bytes (over the limit) accepted by the fake: %v", n, err)
		}
	}
}

func TestValidateSpec(t *testing.T) {
	good := vmm.Spec{ID: "0123abcd", Dir: "/tmp/vm", Kernel: "/k", BootArgs: "console=ttyS0", VCPUs: 2, MemoryMiB: 512,
		Disks: []vmm.Disk{{ID: "rootfs", Path: "/r"}, {ID: "work", Path: "/w"}}, TAP: "bgr-0123", LogPath: "/tmp/vm/firecracker.1.log"}
	if err := validateSpec(good); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		mod  func(*vmm.Spec)
		want string
	}{
		"disk id":        {func(s *vmm.Spec) { s.Disks[0].ID = "root-fs" }, `disk id "root-fs"`},
		"duplicate disk": {func(s *vmm.Spec) { s.Disks[1].ID = "rootfs" }, "used twice"},
		"no kernel":      {func(s *vmm.Spec) { s.Kernel = "" }, "no kernel"},
		"instance id":    {func(s *vmm.Spec) { s.ID = "a b" }, `vm id "a b"`},
		"long tap":       {func(s *vmm.Spec) { s.TAP = "a-very-long-tap-name" }, "Linux allows at most 15"},
		"long socket":    {func(s *vmm.Spec) { s.Dir = "/" + strings.Repeat("d", 120) }, "longer than the unix limit"},
		"boot args":      {func(s *vmm.Spec) { s.BootArgs = strings.Repeat("x", 2048) }, "boot args are 2048 bytes"},
		// 2 disks + network: Firecracker appends " pci=off" (8) and 3 × 36.
		"boot args with appended": {func(s *vmm.Spec) { s.BootArgs = strings.Repeat("x", 2047-8-3*36+1) }, "at most 1931 with this vm's devices"},
		"no log":                  {func(s *vmm.Spec) { s.LogPath = "" }, "no log path"},
	} {
		s := good
		s.Disks = append([]vmm.Disk(nil), good.Disks...)
		c.mod(&s)
		if err := validateSpec(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
}
