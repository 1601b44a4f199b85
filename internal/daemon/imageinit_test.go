package daemon

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/store"
)

// initRootfs builds an ext4 rootfs whose /sbin/init links to target (a
// file it creates), or that has no /sbin/init when target is "".
func initRootfs(t *testing.T, target string) string {
	t.Helper()
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "root"), 0o700)
	os.MkdirAll(filepath.Join(src, "sbin"), 0o755)
	if target != "" {
		os.MkdirAll(filepath.Join(src, filepath.Dir(target)), 0o755)
		os.WriteFile(filepath.Join(src, target), nil, 0o755)
		os.Symlink(target, filepath.Join(src, "sbin", "init"))
	}
	img := filepath.Join(t.TempDir(), "rootfs.ext4")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "banger-root", "-d", src, img, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	return img
}

// hasGuestFile reports whether the overlay's upper layer has p.
func hasGuestFile(t *testing.T, overlay, p string) bool {
	t.Helper()
	out, _ := exec.Command("debugfs", "-R", "stat /upper"+p, overlay).CombinedOutput()
	return strings.Contains(string(out), "Inode:")
}

func TestImageInitIsDetectedAndDecidesTheServiceLayer(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()

	sys := td.create(t, "calm-otter")
	if im, err := td.GetImage(ctx, td.cfg.DefaultImage); err != nil || im.Init != "systemd" {
		t.Fatalf("default image: init %q, %v; want systemd", im.Init, err)
	}
	overlay := td.layout.VM(sys.ID).Overlay()
	if !hasGuestFile(t, overlay, "/etc/systemd/system/root.mount") || hasGuestFile(t, overlay, "/etc/sv") {
		t.Error("a systemd guest did not get exactly the systemd service layer")
	}
	if !hasGuestFile(t, overlay, "/etc/banger/network") {
		t.Error("a systemd guest has no /etc/banger/network for the initrd")
	}

	im, err := td.RegisterImage(ctx, api.RegisterImageRequest{Name: "deb-runit", Rootfs: initRootfs(t, "/lib/runit/runit-init")})
	if err != nil || im.Init != "runit" {
		t.Fatalf("register a runit rootfs: init %q, %v", im.Init, err)
	}
	vm, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "busy-bee", Image: "deb-runit", DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	overlay = td.layout.VM(vm.ID).Overlay()
	for _, p := range []string{"/etc/sv/ssh/run", "/etc/sv/banger-vsock-agent/run", "/etc/runit/runsvdir/default/ssh", "/etc/banger/network", "/etc/banger/agent-token"} {
		if !hasGuestFile(t, overlay, p) {
			t.Errorf("a runit guest has no %s", p)
		}
	}
	if hasGuestFile(t, overlay, "/etc/systemd") {
		t.Error("a runit guest got systemd units")
	}

	// A clone of the runit VM is rendered for runit again.
	if _, err := td.StopVM(ctx, "busy-bee", api.StopRequest{TimeoutSeconds: 5}, nil); err != nil {
		t.Fatal(err)
	}
	clone, err := td.CloneVM(ctx, "busy-bee", api.CloneVMRequest{Name: "busy-bee-2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !hasGuestFile(t, td.layout.VM(clone.ID).Overlay(), "/etc/sv/ssh/run") || hasGuestFile(t, td.layout.VM(clone.ID).Overlay(), "/etc/systemd") {
		t.Error("the clone of a runit VM lost its runit services or got systemd units")
	}
}

func TestImageRegisterInitErrorsAndOverride(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()
	busybox := initRootfs(t, "/bin/busybox")
	for _, tc := range []struct {
		req  api.RegisterImageRequest
		want []string
	}{
		{api.RegisterImageRequest{Name: "bb", Rootfs: busybox}, []string{"/sbin/init is /bin/busybox", "neither systemd nor runit", "--init"}},
		{api.RegisterImageRequest{Name: "none", Rootfs: initRootfs(t, "")}, []string{"has no /sbin/init", "systemd or runit"}},
		{api.RegisterImageRequest{Name: "bad", Rootfs: busybox, Init: "openrc"}, []string{`"openrc" is not supported`, "systemd or runit"}},
	} {
		_, err := td.RegisterImage(ctx, tc.req)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("register %s: %v; want an error containing %q", tc.req.Name, err, w)
			}
		}
		if _, err := td.store.ResolveImage(ctx, tc.req.Name); err == nil {
			t.Errorf("a refused registration recorded image %s", tc.req.Name)
		}
	}
	im, err := td.RegisterImage(ctx, api.RegisterImageRequest{Name: "bb", Rootfs: busybox, Init: "runit"})
	if err != nil || im.Init != "runit" {
		t.Fatalf("--init runit over detection: %q, %v", im.Init, err)
	}
}

func TestImageRecordedBeforeInitsGetsOneOnShow(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()
	old := store.Image{ID: newID(), Name: "old", Rootfs: initRootfs(t, "/lib/runit/runit-init")}
	if err := td.store.UpsertImage(ctx, &old); err != nil {
		t.Fatal(err)
	}
	ims, err := td.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range ims {
		if im.Name == "old" && im.Init != "runit" {
			t.Errorf("image list: old image's init %q, want runit", im.Init)
		}
	}
	if rec, _ := td.store.ResolveImage(ctx, "old"); rec.Init != "runit" {
		t.Errorf("the detected init was not recorded: %q", rec.Init)
	}
}

func TestImageWithoutDetectableInit(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()
	rootfs := initRootfs(t, "/bin/busybox")
	old := store.Image{ID: newID(), Name: "odd", Rootfs: rootfs, Kernel: td.cfg.DefaultKernel, Initrd: td.cfg.DefaultInitrd}
	if err := td.store.UpsertImage(ctx, &old); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second time from the failure cache
		if im, err := td.GetImage(ctx, "odd"); err != nil || im.Init != "" {
			t.Fatalf("image show of an undetectable image: init %q, %v; want none", im.Init, err)
		}
	}
	_, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "busy-bee", Image: "odd", DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "/sbin/init is /bin/busybox") || !strings.Contains(err.Error(), "--init") {
		t.Fatalf("create from an image without a known init: %v", err)
	}
	if vms, _ := td.ListVMs(ctx); len(vms) != 0 {
		t.Fatalf("a refused create left %d vms", len(vms))
	}
}
