package qemu

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"banger/internal/bundle"
	"banger/internal/execx"
	"banger/internal/testenv"
	"banger/internal/vmm/bootlog"
)

// TestMain doubles as bangerd's log pump when run with "logpump".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == bootlog.Subcommand {
		os.Exit(bootlog.Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// testPump runs the log pump from this test binary.
func testPump(t *testing.T) bootlog.Pump {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bootlog.Pump{Argv: []string{exe, bootlog.Subcommand}}
}

func requireQEMU(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping qemu boot in -short mode")
	}
	bin, err := execx.LookPath(DefaultBinary)
	if err != nil {
		testenv.RequireOrSkip(t, DefaultBinary+" (not installed)", false)
	}
	return bin
}

// testKernel is one kernel to boot, named by its form.
type testKernel struct {
	form string // "elf", "bzimage" or "host"
	path string
}

// testKernels finds guest kernels: both forms of the bundle in
// BANGER_TEST_BUNDLE, else the host's /boot/vmlinuz-*.
func testKernels(t *testing.T) []testKernel {
	t.Helper()
	if dir := os.Getenv("BANGER_TEST_BUNDLE"); dir != "" {
		m, err := bundle.Load(dir)
		if err != nil {
			t.Fatalf("BANGER_TEST_BUNDLE: %v", err)
		}
		var ks []testKernel
		for _, k := range []testKernel{{"elf", m.KernelELF}, {"bzimage", m.KernelImage}} {
			if k.path == "" {
				continue
			}
			k.path = bundle.Path(dir, k.path)
			if _, err := os.Stat(k.path); err != nil {
				t.Fatalf("BANGER_TEST_BUNDLE: %s kernel: %v", k.form, err)
			}
			ks = append(ks, k)
		}
		if len(ks) == 0 {
			t.Fatalf("BANGER_TEST_BUNDLE %s names no kernel", dir)
		}
		return ks
	}
	hosts, _ := filepath.Glob("/boot/vmlinuz-*")
	sort.Strings(hosts)
	for i := len(hosts) - 1; i >= 0; i-- {
		if f, err := os.Open(hosts[i]); err == nil {
			f.Close()
			return []testKernel{{"host", hosts[i]}}
		}
	}
	testenv.RequireOrSkip(t, "a guest kernel: set BANGER_TEST_BUNDLE or provide a readable /boot/vmlinuz-*", false)
	return nil
}

// buildWaitInitrd compiles testdata/waitinit and packs it as an initrd.
func buildWaitInitrd(t *testing.T) string {
	t.Helper()
	goBin, err := execx.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	dir := t.TempDir()
	initPath := filepath.Join(dir, "init")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := execx.Cmd{
		Argv: []string{goBin, "build", "-trimpath", "-o", initPath, "./testdata/waitinit"},
		Env:  []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"},
	}
	if _, err := cmd.Run(ctx); err != nil {
		t.Fatalf("build test init: %v", err)
	}
	init, err := os.ReadFile(initPath)
	if err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := writeInitrd(initrd, init); err != nil {
		t.Fatal(err)
	}
	return initrd
}
