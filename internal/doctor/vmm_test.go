package doctor

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/vmm/firecracker"
	"banger/internal/vmm/resolve"
)

func TestFirecrackerFixNamesTheRemedy(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("firecracker 1.7.0 is %w: ...", firecracker.ErrTooOld), "install Firecracker 1.8.0 or newer"},
		{fmt.Errorf("firecracker needs /dev/kvm read-write: %w", fs.ErrPermission), "usermod -aG kvm"},
		{fmt.Errorf("firecracker needs /dev/kvm read-write: %w", fs.ErrNotExist), "modprobe kvm"},
	} {
		if got := FirecrackerFix(c.err); !strings.Contains(got, c.want) {
			t.Errorf("FirecrackerFix(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestVMMCheckAgreesWithTheDaemonOnAFirecrackerOnlyHost: with a usable
// Firecracker and no qemu, doctor passes with Firecracker (it used to fail
// whenever qemu was missing); with a too-old one it fails naming the fix.
// bangerd's choice goes through the same resolve.Resolve (see the daemon's
// TestChooseChecksFirecrackerVersionAndKVM for its side).
func TestVMMCheckAgreesWithTheDaemonOnAFirecrackerOnlyHost(t *testing.T) {
	kvm := filepath.Join(t.TempDir(), "kvm")
	os.WriteFile(kvm, nil, 0o600)
	fake := func(version string) string {
		p := filepath.Join(t.TempDir(), "firecracker")
		os.WriteFile(p, []byte("#!/bin/sh\n[ \"$1\" = --version ] && printf 'Firecracker v"+version+"\\n\\n' && exit 0\nexit 1\n"), 0o755)
		return p
	}
	for _, c := range []struct {
		vmm, version string
		want         Status
		msg          string
	}{
		{"auto", "1.16.1", Pass, "firecracker 1.16.1 on KVM"},
		{"firecracker", "1.16.1", Pass, "firecracker 1.16.1 on KVM"},
		{"firecracker", "1.7.0", Fail, "is too old"},
		{"auto", "1.7.0", Fail, "no usable VMM"},
	} {
		in := resolve.Inputs{VMM: c.vmm, FirecrackerBin: fake(c.version), QemuBin: "banger-test-no-such-qemu", RuntimeDir: t.TempDir(), KVMDevice: kvm}
		r := VMMCheck(in, in.QemuBin, "", filepath.Join(t.TempDir(), "probe.json")).Run(context.Background())
		if r.Status != c.want || !strings.Contains(r.Message, c.msg) {
			t.Errorf("vmm=%s firecracker %s: %s %q, want %s %q", c.vmm, c.version, r.Status, r.Message, c.want, c.msg)
		}
	}
}
