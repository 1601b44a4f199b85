package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/config"
	"banger/internal/paths"
	"banger/internal/store"
)

// fakeFirecracker writes a stand-in `firecracker` that answers --version
// like the real one.
func fakeFirecracker(t *testing.T, version string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "firecracker")
	script := "#!/bin/sh\n[ \"$1\" = --version ] && printf 'Firecracker v" + version + "\\n\\n' && exit 0\nexit 1\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestChooseChecksFirecrackerVersionAndKVM(t *testing.T) {
	kvm := filepath.Join(t.TempDir(), "kvm")
	os.WriteFile(kvm, nil, 0o600)
	noKVM := filepath.Join(t.TempDir(), "no-kvm")
	for _, c := range []struct {
		name, vmm, version, kvm string
		want, wantErr           string
	}{
		{"auto, usable firecracker, no qemu", "auto", "1.16.1", kvm, "firecracker", ""},
		{"auto, firecracker 1.7 and no qemu", "auto", "1.7.0", kvm, "", "neither a usable firecracker nor"},
		{"auto, no /dev/kvm and no qemu", "auto", "1.16.1", noKVM, "", "neither a usable firecracker nor"},
		{"explicit, too old", "firecracker", "1.7.1", kvm, "", "vmm = firecracker but firecracker 1.7.1 is too old: banger needs firecracker 1.8.0 or newer"},
		{"explicit, no kvm", "firecracker", "1.8.0", noKVM, "", "vmm = firecracker but firecracker needs " + noKVM + " read-write"},
		{"explicit, 1.8", "firecracker", "1.8.0", kvm, "firecracker", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &Daemon{
				cfg:        config.Config{VMM: c.vmm, FirecrackerBin: fakeFirecracker(t, c.version), QemuBin: "banger-test-no-such-qemu"},
				log:        slog.New(slog.DiscardHandler),
				runtimeDir: t.TempDir(),
			}
			h := &systemHost{d: d, kvmDevice: c.kvm}
			got, err := h.choose(context.Background())
			switch {
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("choose = %q, %v; want error %q", got, err, c.wantErr)
			case c.wantErr == "" && (err != nil || got != c.want):
				t.Fatalf("choose = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestKernelArgsPerVMM(t *testing.T) {
	t.Setenv("BANGER_KERNEL_ARGS", "")
	fc, qe := kernelArgs("firecracker"), kernelArgs("qemu")
	if strings.Contains(fc, "i8042.nopnp") {
		t.Errorf("firecracker boot args carry i8042.nopnp (Ctrl-Alt-Del would be ignored): %q", fc)
	}
	if !strings.Contains(qe, "i8042.nopnp") {
		t.Errorf("qemu boot args lost i8042.nopnp: %q", qe)
	}
	for _, a := range []string{fc, qe} {
		if !strings.Contains(a, "reboot=k") || !strings.Contains(a, "console=ttyS0") {
			t.Errorf("boot args %q", a)
		}
	}
}

// Failure messages name the current boot's logs that exist for the VM's
// VMM: under Firecracker there is no console file to point at.
func TestFailureLogsNameTheLogsOfTheVMMInUse(t *testing.T) {
	state := t.TempDir()
	d := &Daemon{layout: paths.Layout{StateDir: state}, log: slog.New(slog.DiscardHandler)}
	v := &store.VM{ID: "0123abcd", Name: "calm-otter", VMM: "firecracker"}
	dir := d.vmDir(v.ID)
	os.MkdirAll(dir.String(), 0o700)
	os.WriteFile(dir.BootLog("firecracker", 1), []byte("old boot\n"), 0o600)
	os.WriteFile(dir.BootLog("firecracker", 2), []byte("[    1.0] Kernel panic - not syncing: no disks\n"), 0o600)
	msg := d.logTail(v)
	if !strings.Contains(msg, "see "+dir.BootLog("firecracker", 2)) || strings.Contains(msg, "console") || strings.Contains(msg, "old boot") {
		t.Fatalf("logTail = %q", msg)
	}
	if !strings.Contains(msg, "Kernel panic") {
		t.Fatalf("logTail does not quote the log: %q", msg)
	}
	kept := d.keepFailureLog(v)
	b, _ := os.ReadFile(kept)
	if kept != filepath.Join(state, "failed-calm-otter-0123abcd.log") || !strings.Contains(string(b), "Kernel panic") || strings.Contains(string(b), "console") {
		t.Fatalf("failure log %s: %q", kept, b)
	}

	v.VMM = "qemu"
	os.WriteFile(dir.BootLog("console", 3), []byte("console line\n"), 0o600)
	os.WriteFile(dir.BootLog("qemu", 3), []byte("qemu line\n"), 0o600)
	msg = d.logTail(v)
	if !strings.Contains(msg, "see "+dir.BootLog("console", 3)+" and "+dir.BootLog("qemu", 3)) {
		t.Fatalf("qemu logTail = %q", msg)
	}
}
