package build

import (
	"strings"
	"testing"
)

// A modules.dep shaped like Debian 6.1's for the modules the initrd loads.
const sampleModulesDep = `kernel/fs/overlayfs/overlay.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/net/vmw_vsock/vsock.ko:
kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko: kernel/net/vmw_vsock/vsock.ko
kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko kernel/net/vmw_vsock/vsock.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/scsi/unrelated.ko.zst:
`

func names(paths []string) string {
	var n []string
	for _, p := range paths {
		n = append(n, ModuleName(p))
	}
	return strings.Join(n, " ")
}

func TestResolveOrdersDependenciesFirst(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader(sampleModulesDep))
	if err != nil {
		t.Fatal(err)
	}
	got, err := md.Resolve([]string{"vmw_vsock_virtio_transport", "virtio_net", "virtio-blk", "overlay", "virtio_net"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "virtio_ring virtio vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport failover net_failover virtio_net virtio_blk overlay"
	if names(got) != want {
		t.Fatalf("order\n got  %s\n want %s", names(got), want)
	}
	// Every module appears after all of its dependencies.
	pos := map[string]int{}
	for i, p := range got {
		pos[p] = i
	}
	for _, p := range got {
		for _, d := range md.deps[p] {
			if pos[d] > pos[p] {
				t.Errorf("%s loads before its dependency %s", p, d)
			}
		}
	}
	if !strings.HasSuffix(got[8], "virtio_blk.ko.xz") {
		t.Errorf("compressed module path not kept: %s", got[8])
	}
}

func TestResolveFullInitrdList(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader(sampleModulesDep))
	if err != nil {
		t.Fatal(err)
	}
	got, err := md.Resolve(InitrdModules, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "virtio_ring virtio virtio_mmio virtio_blk failover net_failover virtio_net overlay vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport virtio_console"
	if names(got) != want {
		t.Fatalf("order\n got  %s\n want %s", names(got), want)
	}
}

func TestResolveBuiltinAndUnknown(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader(sampleModulesDep))
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := ParseBuiltin(strings.NewReader("kernel/fs/ext4/ext4.ko\nkernel/lib/crc32c_generic.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := md.Resolve([]string{"ext4", "overlay"}, builtin)
	if err != nil || names(got) != "overlay" {
		t.Fatalf("builtin ext4: got %v, %v", names(got), err)
	}
	if _, err := md.Resolve([]string{"nosuchmod"}, builtin); err == nil || !strings.Contains(err.Error(), "nosuchmod") {
		t.Fatalf("unknown module: err = %v", err)
	}
}

func TestResolveCycleAndDanglingDependency(t *testing.T) {
	md, err := ParseModulesDep(strings.NewReader("a.ko: b.ko\nb.ko: a.ko\nc.ko: missing.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := md.Resolve([]string{"a"}, nil); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: err = %v", err)
	}
	if _, err := md.Resolve([]string{"c"}, nil); err == nil || !strings.Contains(err.Error(), "missing.ko") {
		t.Fatalf("dangling: err = %v", err)
	}
	if _, err := ParseModulesDep(strings.NewReader("garbage line\n")); err == nil {
		t.Fatal("line without colon accepted")
	}
}
