package firecracker

import (
	"strings"
	"testing"

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

func TestValidateSpec(t *testing.T) {
	good := vmm.Spec{ID: "0123abcd", Dir: "/tmp/vm", Kernel: "/k", BootArgs: "console=ttyS0", VCPUs: 2, MemoryMiB: 512,
		Disks: []vmm.Disk{{ID: "rootfs", Path: "/r"}, {ID: "work", Path: "/w"}}, TAP: "bgr-0123"}
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
		"boot args":      {func(s *vmm.Spec) { s.BootArgs = strings.Repeat("x", 2048) }, "at most 2047"},
	} {
		s := good
		s.Disks = append([]vmm.Disk(nil), good.Disks...)
		c.mod(&s)
		if err := validateSpec(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
}
