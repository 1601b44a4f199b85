package firecracker

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"banger/internal/vmm"
	"banger/internal/vmm/firecracker/fctest"
)

// startFake serves an in-process fake API on a unix socket.
func startFake(t *testing.T, cfg fctest.Config) (*fctest.Server, *Client) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fake := fctest.NewServer(cfg)
	srv := &http.Server{Handler: fake}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		fake.Close()
	})
	return fake, NewClient(sock)
}

func standIn(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("stand-in"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigStepsAgainstFake(t *testing.T) {
	fake, c := startFake(t, fctest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	spec := vmm.Spec{
		Kernel: standIn(t, dir, "vmlinux"), Initrd: standIn(t, dir, "initrd"),
		BootArgs: "console=ttyS0 reboot=k", VCPUs: 2, MemoryMiB: 512,
		Disks: []vmm.Disk{
			{ID: "rootfs", Path: standIn(t, dir, "rootfs.ext4"), ReadOnly: true},
			{ID: "overlay", Path: standIn(t, dir, "overlay.ext4")},
		},
		TAP: "bgr-1", MAC: "02:00:00:00:00:01",
		AgentSocket: filepath.Join(dir, "vsock.sock"),
	}
	for _, st := range configSteps(spec) {
		if err := st.run(ctx, c); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	type call struct {
		Path string
		Body map[string]any
	}
	want := []call{
		{"/machine-config", map[string]any{"vcpu_count": 2.0, "mem_size_mib": 512.0, "smt": false}},
		{"/boot-source", map[string]any{"kernel_image_path": spec.Kernel, "initrd_path": spec.Initrd, "boot_args": spec.BootArgs}},
		{"/drives/rootfs", map[string]any{"drive_id": "rootfs", "path_on_host": spec.Disks[0].Path, "is_root_device": false, "is_read_only": true}},
		{"/drives/overlay", map[string]any{"drive_id": "overlay", "path_on_host": spec.Disks[1].Path, "is_root_device": false, "is_read_only": false, "cache_type": "Writeback"}},
		{"/network-interfaces/eth0", map[string]any{"iface_id": "eth0", "host_dev_name": "bgr-1", "guest_mac": spec.MAC}},
		{"/vsock", map[string]any{"guest_cid": 3.0, "uds_path": spec.AgentSocket}},
		{"/actions", map[string]any{"action_type": "InstanceStart"}},
	}
	var got []call
	for _, c := range fake.Calls() {
		if c.Method != "PUT" || c.Status != 204 {
			t.Errorf("unexpected call %+v", c)
		}
		got = append(got, call{c.Path, c.Body})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("calls:\n got %v\nwant %v", got, want)
	}
	// Writable drives honour guest flushes; the read-only rootfs keeps
	// Firecracker's default (nothing to flush).
	if ct := fake.Drive("overlay")["cache_type"]; ct != "Writeback" {
		t.Errorf("overlay cache_type %v, want Writeback", ct)
	}
	if ct, ok := fake.Drive("rootfs")["cache_type"]; ok {
		t.Errorf("read-only rootfs cache_type %v, want none", ct)
	}
	info, err := c.DescribeInstance(ctx)
	if err != nil || info.State != StateRunning {
		t.Fatalf("after start: %+v, %v", info, err)
	}

	// Configuration is pre-boot only.
	err = c.PutDrive(ctx, Drive{DriveID: "extra", PathOnHost: spec.Disks[1].Path})
	want400 := "firecracker PUT /drives/extra: 400: " + fctest.FaultAfterBoot
	if err == nil || err.Error() != want400 {
		t.Fatalf("PUT after start: %v, want %q", err, want400)
	}
	if err := c.Action(ctx, ActionInstanceStart); err == nil {
		t.Fatal("second InstanceStart accepted")
	}
}

func TestConfigStepsOmitAbsentDevices(t *testing.T) {
	fake, c := startFake(t, fctest.Config{})
	ctx := context.Background()
	dir := t.TempDir()
	spec := vmm.Spec{Kernel: standIn(t, dir, "vmlinux"), BootArgs: "console=ttyS0", VCPUs: 1, MemoryMiB: 128}
	for _, st := range configSteps(spec) {
		if err := st.run(ctx, c); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	var paths []string
	for _, call := range fake.Calls() {
		paths = append(paths, call.Path)
		if _, ok := call.Body["initrd_path"]; ok {
			t.Errorf("initrd_path sent without an initrd: %v", call.Body)
		}
	}
	if want := []string{"/machine-config", "/boot-source", "/actions"}; !reflect.DeepEqual(paths, want) {
		t.Fatalf("calls %v, want %v", paths, want)
	}
}

func TestClientSurfacesFaultMessage(t *testing.T) {
	_, c := startFake(t, fctest.Config{})
	ctx := context.Background()
	dir := t.TempDir()
	// A field this Firecracker does not know (added in a later release).
	body := struct {
		Drive
		DirectWrite bool `json:"direct_write"`
	}{Drive{DriveID: "rootfs", PathOnHost: standIn(t, dir, "rootfs.ext4")}, true}
	err := c.put(ctx, "/drives/rootfs", body)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(apiErr.Message, "unknown field `direct_write`") {
		t.Fatalf("got %v", err)
	}
	if !strings.HasPrefix(err.Error(), "firecracker PUT /drives/rootfs: 400: An error occurred when deserializing") {
		t.Fatalf("error text %q", err)
	}

	// Required fields are enforced: a drive without is_root_device.
	err = c.put(ctx, "/drives/rootfs", map[string]any{"drive_id": "rootfs", "path_on_host": body.PathOnHost, "is_read_only": true})
	if err == nil || !strings.Contains(err.Error(), "missing field `is_root_device`") {
		t.Fatalf("got %v", err)
	}
	// And Firecracker's own rules surface the same way.
	err = c.Action(ctx, ActionSendCtrlAltDel)
	if err == nil || !strings.HasSuffix(err.Error(), ": 400: "+fctest.FaultBeforeBoot) {
		t.Fatalf("got %v", err)
	}
}

func TestClientWithoutServer(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "api.sock"))
	_, err := c.DescribeInstance(context.Background())
	if err == nil || !strings.Contains(err.Error(), "firecracker GET /") || !strings.Contains(err.Error(), "api.sock") {
		t.Fatalf("got %v", err)
	}
}

func TestFaultMessageFallback(t *testing.T) {
	for raw, want := range map[string]string{
		`{"fault_message":"boom"}`: "boom",
		"Bad gateway\n":            "Bad gateway",
		"":                         "(empty response body)",
	} {
		if got := faultMessage([]byte(raw)); got != want {
			t.Errorf("faultMessage(%q) = %q, want %q", raw, got, want)
		}
	}
}

// The wire types must not grow fields outside the pinned spec: every JSON
// name must be one the fake (derived from the yaml) knows.
func TestWireTypesUseSpecFieldNames(t *testing.T) {
	_, c := startFake(t, fctest.Config{})
	ctx := context.Background()
	dir := t.TempDir()
	kernel := standIn(t, dir, "vmlinux")
	bodies := map[string]any{
		"/machine-config":          MachineConfiguration{VCPUCount: 2, MemSizeMiB: 256},
		"/boot-source":             BootSource{KernelImagePath: kernel, InitrdPath: kernel, BootArgs: "x"},
		"/drives/a":                Drive{DriveID: "a", PathOnHost: kernel, IsReadOnly: true},
		"/network-interfaces/eth0": NetworkInterface{IfaceID: "eth0", HostDevName: "tap0", GuestMAC: "02:00:00:00:00:02"},
		"/vsock":                   Vsock{GuestCID: guestCID, UDSPath: filepath.Join(dir, "v.sock")},
		"/logger":                  Logger{LogPath: kernel, Level: "Warning"},
	}
	for path, body := range bodies {
		if err := c.put(ctx, path, body); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		b, _ := json.Marshal(body)
		if strings.Contains(string(b), `""`) {
			t.Errorf("%s: empty string sent: %s", path, b)
		}
	}
}
