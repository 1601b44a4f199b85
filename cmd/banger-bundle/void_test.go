package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/testenv"
)

func TestVoidRootfsCommandLine(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	var usage usageError
	if err := run(ctx, []string{"void-rootfs", "--frob"}); !errors.As(err, &usage) {
		t.Errorf("unknown flag: %v", err)
	}
	if err := run(ctx, []string{"void-rootfs", "--size", "12Q"}); err == nil || !strings.Contains(err.Error(), "--size") || !strings.Contains(err.Error(), "12Q") {
		t.Errorf("bad --size: %v", err)
	}

	// A mirror on a closed loopback port: a fast failure that names the
	// mirror and --mirror, and nothing written where the images would go.
	testenv.RequireOrSkip(t, "root (the Void build refuses to run without it)", os.Geteuid() == 0)
	bundle := t.TempDir()
	rel := "6.1.0-test"
	os.MkdirAll(filepath.Join(bundle, "modules", rel), 0o755)
	os.WriteFile(filepath.Join(bundle, "modules", rel, "modules.dep"), nil, 0o644)
	os.WriteFile(filepath.Join(bundle, "banger-vsock-agent"), []byte("agent"), 0o755)
	os.WriteFile(filepath.Join(bundle, "bundle.json"), []byte(`{"version":1,"kernel_release":"`+rel+`","modules_dir":"modules/`+rel+`","agent":"banger-vsock-agent"}`), 0o644)
	pkgs := filepath.Join(t.TempDir(), "packages.void")
	os.WriteFile(pkgs, []byte("bash\n"), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mirror := "http://" + ln.Addr().String()
	ln.Close()
	out := filepath.Join(t.TempDir(), "out", "rootfs-void.ext4")
	err = run(ctx, []string{"void-rootfs", "--mirror", mirror, "--bundle", bundle, "--packages", pkgs,
		"--out", out, "--size", "1G", "--log", filepath.Join(t.TempDir(), "void.log")})
	if err == nil || !strings.Contains(err.Error(), "mirror "+mirror) || !strings.Contains(err.Error(), "--mirror") {
		t.Fatalf("closed mirror: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(out)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the output directory was created: %v", err)
	}
	ents, _ := os.ReadDir(bundle)
	if len(ents) != 3 {
		t.Errorf("the bundle directory changed: %v", ents)
	}
}
