package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/agent"
	"banger/internal/api"
)

// builtVersion fakes what `banger image build` leaves: a version
// directory with a rootfs, a work seed and the version record.
func builtVersion(t *testing.T, td *testDaemon, name, version string) api.RegisterImageRequest {
	t.Helper()
	dir := filepath.Join(td.layout.ImagesDir(), name, version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{td.cfg.DefaultRootfs: builtRootfsName, td.cfg.DefaultWorkSeed: builtWorkSeedName} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, dst), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, builtVersionsName), []byte("jq 1.6-2.1\nmise 2026.9.15\n"), 0o644)
	return api.RegisterImageRequest{Name: name, Managed: true, Rootfs: filepath.Join(dir, builtRootfsName), WorkSeed: filepath.Join(dir, builtWorkSeedName)}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestBuiltImageVersionsLiveAsLongAsTheirUsers(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()

	v1 := builtVersion(t, td, "dev", "v1")
	im, err := td.RegisterImage(ctx, v1)
	if err != nil {
		t.Fatal(err)
	}
	if !im.Managed || im.Kernel == "" || strings.Join(im.Versions, ",") != "jq 1.6-2.1,mise 2026.9.15" {
		t.Fatalf("registered: %+v", im)
	}
	vm, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "old-one", Image: "dev", DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A rebuild: the record moves on, the VM keeps v1.
	v2 := builtVersion(t, td, "dev", "v2")
	im2, err := td.RegisterImage(ctx, v2)
	if err != nil {
		t.Fatal(err)
	}
	if im2.ID != im.ID || im2.Rootfs != v2.Rootfs || !exists(v1.Rootfs) {
		t.Fatalf("rebuild: %+v; v1 there: %v", im2, exists(v1.Rootfs))
	}
	if _, err := td.DeleteImage(ctx, "dev"); err == nil {
		t.Fatal("image delete succeeded while a VM uses the image")
	}
	if _, err := td.DeleteVM(ctx, vm.Name, true); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Dir(v1.Rootfs)) {
		t.Error("v1 stayed after its last VM went")
	}
	if !exists(v2.Rootfs) {
		t.Fatal("the current version went with the old VM")
	}

	// A third version with no VM on v2 drops v2 at once.
	v3 := builtVersion(t, td, "dev", "v3")
	if _, err := td.RegisterImage(ctx, v3); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Dir(v2.Rootfs)) {
		t.Error("v2 stayed though nothing used it")
	}
	if _, err := td.DeleteImage(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(td.layout.ImagesDir(), "dev")) {
		t.Error("image delete left the built image's files")
	}
}

func TestBuiltImageRegistrationRefusals(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()

	// Files outside the images directory are not a build.
	req := api.RegisterImageRequest{Name: "dev", Managed: true, Rootfs: td.cfg.DefaultRootfs, WorkSeed: td.cfg.DefaultWorkSeed}
	if _, err := td.RegisterImage(ctx, req); err == nil || !strings.Contains(err.Error(), "is not a build of it") {
		t.Errorf("managed registration of outside files: %v", err)
	}
	// An unmanaged image keeps its name.
	if _, err := td.RegisterImage(ctx, api.RegisterImageRequest{Name: "mine", Rootfs: td.cfg.DefaultRootfs}); err != nil {
		t.Fatal(err)
	}
	v := builtVersion(t, td, "mine", "v1")
	if _, err := td.RegisterImage(ctx, v); err == nil || !strings.Contains(err.Error(), "not built by") {
		t.Errorf("build over an unmanaged image: %v", err)
	}
	if im, _ := td.GetImage(ctx, "mine"); im.Managed || im.Rootfs != td.cfg.DefaultRootfs {
		t.Errorf("the unmanaged image changed: %+v", im)
	}
	// The bundle's default image cannot be deleted.
	if _, err := td.ListImages(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := td.DeleteImage(ctx, td.cfg.DefaultImage); err == nil || !strings.Contains(err.Error(), "default image") {
		t.Errorf("delete default: %v", err)
	}
	if !exists(td.cfg.DefaultRootfs) {
		t.Error("the default rootfs went")
	}
}

func TestVsockAgentPathGoesIntoNewOverlays(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	binary := filepath.Join(t.TempDir(), "agent")
	os.WriteFile(binary, []byte("#!/bin/sh\necho new agent\n"), 0o755)
	td.Daemon.cfg.VsockAgentPath = binary
	vm := td.create(t, "calm-otter")
	overlay := td.layout.VM(vm.ID).Overlay()
	if got := debugfsCat(t, overlay, "/upper"+agent.BinaryPath); got != "#!/bin/sh\necho new agent\n" {
		t.Errorf("agent in the overlay: %q", got)
	}
	if m := guestMode(t, overlay, "/upper"+agent.BinaryPath); m != "0755" {
		t.Errorf("agent mode %s", m)
	}
	td.Daemon.cfg.VsockAgentPath = filepath.Join(t.TempDir(), "missing")
	if _, err := td.CreateVM(context.Background(), api.CreateVMRequest{Name: "busy-bee", DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 1}, nil); err == nil || !strings.Contains(err.Error(), "vsock_agent_path") {
		t.Errorf("create with a missing vsock_agent_path: %v", err)
	}
}

// A rebuilt bundle rootfs (new file renamed into place, as the bundle build
// writes it) does not change the files under VMs created before.
func TestBundleRootfsVersionedUnderExistingVMs(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()
	old := td.create(t, "calm-otter")
	oldVM, _ := td.store.ResolveVM(ctx, old.ID)
	if oldVM.Rootfs == td.cfg.DefaultRootfs || !strings.HasPrefix(oldVM.Rootfs, td.layout.ImagesDir()) {
		t.Fatalf("vm rootfs %s is not a pinned version", oldVM.Rootfs)
	}
	before, _ := os.ReadFile(oldVM.Rootfs)
	if td.cfg.DefaultWorkSeed == "" || !exists(filepath.Join(filepath.Dir(oldVM.Rootfs), builtWorkSeedName)) {
		t.Errorf("the work seed (%q) is not pinned beside the vm's rootfs", td.cfg.DefaultWorkSeed)
	}

	// make rootfs: a new image renamed over the bundle's.
	tmp := td.cfg.DefaultRootfs + ".new"
	os.WriteFile(tmp, append([]byte("rebuilt"), before[7:]...), 0o644)
	if err := os.Rename(tmp, td.cfg.DefaultRootfs); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(oldVM.Rootfs); string(after) != string(before) {
		t.Fatal("the rebuild changed the rootfs under an existing VM")
	}
	nv := td.create(t, "busy-bee")
	newVM, _ := td.store.ResolveVM(ctx, nv.ID)
	if newVM.Rootfs == oldVM.Rootfs {
		t.Fatal("a VM created after the rebuild got the old rootfs")
	}
	if b, _ := os.ReadFile(newVM.Rootfs); !strings.HasPrefix(string(b), "rebuilt") {
		t.Error("the new VM's rootfs is not the rebuilt one")
	}
	if _, err := td.DeleteVM(ctx, old.Name, true); err != nil {
		t.Fatal(err)
	}
	if exists(oldVM.Rootfs) {
		t.Error("the old version stayed after its last VM went")
	}
	if !exists(newVM.Rootfs) || !exists(td.cfg.DefaultRootfs) {
		t.Error("the current files went")
	}
}

// A rebuild (or delete) of an image while a vm create of it runs: the VM
// ends up on a version whose files exist (the new one when the rebuild
// came first), never on the files the rebuild released.
func TestRebuildDuringCreateLeavesTheVMOnExistingFiles(t *testing.T) {
	td := newTestDaemon(t, newFakeHost(), t.TempDir())
	defer td.Close()
	ctx := context.Background()
	v1 := builtVersion(t, td, "dev", "v1")
	if _, err := td.RegisterImage(ctx, v1); err != nil {
		t.Fatal(err)
	}
	var v2 api.RegisterImageRequest
	td.beforeImageClaim = func() {
		td.beforeImageClaim = nil
		v2 = builtVersion(t, td, "dev", "v2")
		if _, err := td.RegisterImage(ctx, v2); err != nil {
			t.Error(err)
		}
	}
	vm, err := td.CreateVM(ctx, api.CreateVMRequest{Name: "racer", Image: "dev", DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 1}, nil)
	if err != nil {
		t.Fatalf("create during a rebuild: %v", err)
	}
	rec, err := td.store.ResolveVM(ctx, vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Rootfs != v2.Rootfs || !exists(rec.Rootfs) {
		t.Errorf("the vm's rootfs is %s (exists: %v), want the rebuilt %s", rec.Rootfs, exists(rec.Rootfs), v2.Rootfs)
	}
	if exists(filepath.Dir(v1.Rootfs)) {
		t.Error("v1 stayed though no VM uses it")
	}
	// The VM keeps v2 through the next rebuild.
	v3 := builtVersion(t, td, "dev", "v3")
	if _, err := td.RegisterImage(ctx, v3); err != nil {
		t.Fatal(err)
	}
	if !exists(v2.Rootfs) {
		t.Error("v2 went while the vm uses it")
	}

	// A delete of the image during a create: a clear error, nothing left.
	other := builtVersion(t, td, "other", "v1")
	if _, err := td.RegisterImage(ctx, other); err != nil {
		t.Fatal(err)
	}
	td.beforeImageClaim = func() {
		td.beforeImageClaim = nil
		if _, err := td.DeleteImage(ctx, "other"); err != nil {
			t.Error(err)
		}
	}
	_, err = td.CreateVM(ctx, api.CreateVMRequest{Name: "late", Image: "other", DiskSize: 64 << 20, MemoryMiB: 256, VCPUs: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "image other was deleted while the vm was being created") {
		t.Errorf("create during an image delete = %v", err)
	}
	if td.store.NameTaken(ctx, "late") {
		t.Error("the failed create left its record")
	}
	if exists(filepath.Dir(other.Rootfs)) {
		t.Error("the deleted image's files stayed")
	}
}
