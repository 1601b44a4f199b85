package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeProbeEnv is the host as the probe sees it, with every boot counted.
type fakeProbeEnv struct {
	version, release string
	outcome          bootOutcome
	bootErr          error
	boots            int
}

func (f *fakeProbeEnv) qemuVersion(context.Context, string) (string, error) { return f.version, nil }
func (f *fakeProbeEnv) hostRelease() (string, error)                        { return f.release, nil }
func (f *fakeProbeEnv) bootKVM(context.Context, string, string, time.Duration) (bootOutcome, error) {
	f.boots++
	return f.outcome, f.bootErr
}

// probeFixture is a kernel file, an openable stand-in for /dev/kvm and a
// cache path, all in a temp dir.
func probeFixture(t *testing.T, env *fakeProbeEnv) ProbeOptions {
	t.Helper()
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinux")
	dev := filepath.Join(dir, "kvm")
	for _, p := range []string{kernel, dev} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ProbeOptions{
		Binary: "/usr/bin/qemu-system-x86_64", Kernel: kernel, KVMDevice: dev,
		CacheFile: filepath.Join(dir, "cache", "kvm-probe.json"),
		env:       env,
	}
}

func failingBoot() *fakeProbeEnv {
	return &fakeProbeEnv{version: "QEMU emulator version 7.2.22", release: "6.18.44",
		outcome: bootOutcome{detail: "qemu failed: failed to set MSR 0x10a", elapsed: 80 * time.Millisecond}}
}

func TestProbeNoKVMDevice(t *testing.T) {
	env := failingBoot()
	opts := probeFixture(t, env)
	opts.KVMDevice = filepath.Join(t.TempDir(), "missing-kvm")
	r := ProbeKVM(context.Background(), opts)
	if r.Usable || r.Accel != "tcg" || !strings.Contains(r.Reason, "does not exist") {
		t.Fatalf("result = %+v", r)
	}
	if env.boots != 0 {
		t.Fatalf("booted %d times without /dev/kvm", env.boots)
	}
	if _, err := os.Stat(opts.CacheFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a device check was cached: %v", err)
	}
}

func TestProbeKVMDeviceNotOpenable(t *testing.T) {
	env := failingBoot()
	opts := probeFixture(t, env)
	opts.KVMDevice = t.TempDir() // a directory cannot be opened read-write, even by root
	r := ProbeKVM(context.Background(), opts)
	if r.Usable || r.Accel != "tcg" || !strings.Contains(r.Reason, "cannot open") {
		t.Fatalf("result = %+v", r)
	}
	if env.boots != 0 {
		t.Fatalf("booted %d times", env.boots)
	}
}

func TestProbeFailedBootIsCachedUntilSomethingChanges(t *testing.T) {
	env := failingBoot()
	opts := probeFixture(t, env)
	ctx := context.Background()

	first := ProbeKVM(ctx, opts)
	if first.Usable || first.Accel != "tcg" ||
		!strings.Contains(first.Reason, "KVM is present but could not boot the guest kernel") ||
		!strings.Contains(first.Reason, "MSR 0x10a") {
		t.Fatalf("first = %+v", first)
	}
	second := ProbeKVM(ctx, opts)
	if env.boots != 1 || !second.CheckedAt.Equal(first.CheckedAt) || second.Reason != first.Reason {
		t.Fatalf("second probe not served from cache: boots=%d %+v", env.boots, second)
	}

	steps := []struct {
		name   string
		change func()
	}{
		{"refresh requested", func() { opts.Refresh = true }},
		{"kernel replaced", func() {
			opts.Refresh = false
			os.WriteFile(opts.Kernel, []byte("a longer kernel"), 0o644)
		}},
		{"kernel touched", func() {
			later := time.Now().Add(time.Hour)
			os.Chtimes(opts.Kernel, later, later)
		}},
		{"qemu upgraded", func() { env.version = "QEMU emulator version 8.2.0" }},
		{"host kernel upgraded", func() { env.release = "6.19.0" }},
		{"cache corrupted", func() { os.WriteFile(opts.CacheFile, []byte("{not json"), 0o644) }},
	}
	for _, s := range steps {
		before := env.boots
		s.change()
		ProbeKVM(ctx, opts)
		if env.boots != before+1 {
			t.Fatalf("%s: boots %d -> %d, want a new boot", s.name, before, env.boots)
		}
		ProbeKVM(ctx, ProbeOptions{Binary: opts.Binary, Kernel: opts.Kernel, KVMDevice: opts.KVMDevice, CacheFile: opts.CacheFile, env: env})
		if env.boots != before+1 {
			t.Fatalf("%s: the new verdict was not cached", s.name)
		}
	}
}

func TestProbeSuccessfulBoot(t *testing.T) {
	env := failingBoot()
	env.outcome = bootOutcome{ok: true, elapsed: 420 * time.Millisecond}
	opts := probeFixture(t, env)
	r := ProbeKVM(context.Background(), opts)
	if !r.Usable || r.Accel != "kvm" || !strings.Contains(r.Reason, "0.4s") {
		t.Fatalf("result = %+v", r)
	}
	if again := ProbeKVM(context.Background(), opts); !again.Usable || env.boots != 1 {
		t.Fatalf("cached success lost: %+v boots=%d", again, env.boots)
	}
}

func TestProbeThatCannotRunIsNotCached(t *testing.T) {
	env := failingBoot()
	env.bootErr = errors.New("probe directory: no space left on device")
	opts := probeFixture(t, env)
	r := ProbeKVM(context.Background(), opts)
	if r.Accel != "tcg" || !strings.Contains(r.Reason, "cannot probe KVM") {
		t.Fatalf("result = %+v", r)
	}
	ProbeKVM(context.Background(), opts)
	if env.boots != 2 {
		t.Fatalf("boots = %d: an aborted probe was cached", env.boots)
	}
}

func TestProbeMissingKernel(t *testing.T) {
	env := failingBoot()
	opts := probeFixture(t, env)
	opts.Kernel = filepath.Join(t.TempDir(), "no-vmlinux")
	r := ProbeKVM(context.Background(), opts)
	if r.Accel != "tcg" || !strings.Contains(r.Reason, "guest kernel") || env.boots != 0 {
		t.Fatalf("result = %+v boots=%d", r, env.boots)
	}
}
