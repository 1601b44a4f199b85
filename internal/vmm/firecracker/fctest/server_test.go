package fctest

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type fixture struct {
	t      *testing.T
	srv    *Server
	dir    string
	kernel string
	disk   string
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, srv: NewServer(cfg), dir: dir, kernel: filepath.Join(dir, "vmlinux"), disk: filepath.Join(dir, "rootfs.ext4")}
	for _, p := range []string{f.kernel, f.disk} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { f.srv.Close() })
	return f
}

// do sends one request and returns the status and fault message.
func (f *fixture) do(method, path, body string) (int, string) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, httptest.NewRequest(method, path, rd))
	var e struct {
		FaultMessage string `json:"fault_message"`
	}
	if rec.Code >= 300 {
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.FaultMessage == "" {
			f.t.Fatalf("%s %s: %d without a fault_message: %q", method, path, rec.Code, rec.Body.String())
		}
	}
	return rec.Code, e.FaultMessage
}

func (f *fixture) mustPut(path, body string) {
	f.t.Helper()
	if code, fault := f.do("PUT", path, body); code != http.StatusNoContent {
		f.t.Fatalf("PUT %s %s: %d %s", path, body, code, fault)
	}
}

func (f *fixture) state() string {
	f.t.Helper()
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	var info map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
		f.t.Fatal(err)
	}
	return info["state"]
}

func (f *fixture) bootSource() string {
	return `{"kernel_image_path":"` + f.kernel + `","boot_args":"console=ttyS0"}`
}

func TestBodiesAreCheckedAgainstTheSpec(t *testing.T) {
	f := newFixture(t, Config{})
	cases := []struct {
		name, path, body, want string
	}{
		{"unknown field", "/machine-config", `{"vcpu_count":2,"mem_size_mib":512,"bogus":1}`, "unknown field `bogus`"},
		{"missing vcpu_count", "/machine-config", `{"mem_size_mib":512}`, "missing field `vcpu_count`"},
		{"missing kernel", "/boot-source", `{"boot_args":"x"}`, "missing field `kernel_image_path`"},
		{"missing is_root_device", "/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"` + f.disk + `","is_read_only":true}`, "missing field `is_root_device`"},
		{"virtio-block without path", "/drives/rootfs", `{"drive_id":"rootfs","is_root_device":false,"is_read_only":true}`, "path_on_host is required"},
		{"wrong type", "/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"` + f.disk + `","is_root_device":false,"is_read_only":"yes"}`, "invalid type for `is_read_only`"},
		{"negative integer", "/machine-config", `{"vcpu_count":-2,"mem_size_mib":512}`, "invalid value for `vcpu_count`"},
		{"path id mismatch", "/drives/rootfs", `{"drive_id":"work","path_on_host":"` + f.disk + `","is_root_device":false,"is_read_only":true}`, "does not match"},
		{"bad id", "/drives/root-fs", `{"drive_id":"root-fs","path_on_host":"` + f.disk + `","is_root_device":false,"is_read_only":true}`, "alphanumeric"},
		{"missing host_dev_name", "/network-interfaces/eth0", `{"iface_id":"eth0"}`, "missing field `host_dev_name`"},
		{"missing uds_path", "/vsock", `{"guest_cid":3}`, "missing field `uds_path`"},
		{"cid below 3", "/vsock", `{"guest_cid":2,"uds_path":"` + filepath.Join(f.dir, "v.sock") + `"}`, "CID"},
		{"bad action", "/actions", `{"action_type":"Reboot"}`, "unknown variant `Reboot`"},
		{"odd vcpus with smt", "/machine-config", `{"vcpu_count":3,"mem_size_mib":512,"smt":true}`, "vCPU number is invalid"},
		{"too many vcpus", "/machine-config", `{"vcpu_count":34,"mem_size_mib":512}`, "vCPU number is invalid"},
		{"kernel missing on disk", "/boot-source", `{"kernel_image_path":"` + filepath.Join(f.dir, "nope") + `"}`, "kernel file cannot be opened"},
		{"drive missing on disk", "/drives/work", `{"drive_id":"work","path_on_host":"` + filepath.Join(f.dir, "nope") + `","is_root_device":false,"is_read_only":false}`, "no such file"},
		{"empty body", "/boot-source", "", "Empty PUT request."},
		{"not json", "/boot-source", `kernel`, "deserializing the json body"},
		{"unknown path", "/balloon", `{"amount_mib":1,"deflate_on_oom":true}`, "Invalid request method and/or path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, fault := f.do("PUT", c.path, c.body)
			if code != http.StatusBadRequest || !strings.Contains(fault, c.want) {
				t.Fatalf("got %d %q, want 400 containing %q", code, fault, c.want)
			}
		})
	}
	if f.srv.Started() || f.state() != "Not started" {
		t.Fatal("rejected requests changed the state")
	}
	// The optional spec fields banger does not send are still accepted.
	f.mustPut("/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"`+f.disk+`","is_root_device":true,"is_read_only":true,"cache_type":"Writeback","io_engine":"Sync"}`)
	f.mustPut("/logger", `{"level":"warn"}`)
}

func TestDroppedFieldIsUnknown(t *testing.T) {
	f := newFixture(t, Config{DropFields: []string{"MachineConfiguration.smt"}})
	f.mustPut("/machine-config", `{"vcpu_count":2,"mem_size_mib":512}`)
	code, fault := f.do("PUT", "/machine-config", `{"vcpu_count":2,"mem_size_mib":512,"smt":false}`)
	if code != 400 || !strings.Contains(fault, "unknown field `smt`") {
		t.Fatalf("got %d %q", code, fault)
	}
}

func TestStateRules(t *testing.T) {
	f := newFixture(t, Config{})
	if code, fault := f.do("PUT", "/actions", `{"action_type":"SendCtrlAltDel"}`); code != 400 || fault != FaultBeforeBoot {
		t.Fatalf("SendCtrlAltDel before start: %d %q", code, fault)
	}
	// Machine config has defaults (1 vCPU, 128 MiB); the kernel does not.
	if code, fault := f.do("PUT", "/actions", `{"action_type":"InstanceStart"}`); code != 400 || fault != FaultNoKernel {
		t.Fatalf("InstanceStart without boot source: %d %q", code, fault)
	}
	f.mustPut("/boot-source", f.bootSource())
	f.mustPut("/actions", `{"action_type":"InstanceStart"}`)
	if s := f.state(); s != "Running" {
		t.Fatalf("state %q after start", s)
	}
	for path, body := range map[string]string{
		"/boot-source":             f.bootSource(),
		"/machine-config":          `{"vcpu_count":2,"mem_size_mib":512}`,
		"/drives/work":             `{"drive_id":"work","path_on_host":"` + f.disk + `","is_root_device":false,"is_read_only":false}`,
		"/network-interfaces/eth0": `{"iface_id":"eth0","host_dev_name":"tap0"}`,
		"/vsock":                   `{"guest_cid":3,"uds_path":"` + filepath.Join(f.dir, "v.sock") + `"}`,
		"/actions":                 `{"action_type":"InstanceStart"}`,
	} {
		if code, fault := f.do("PUT", path, body); code != 400 || fault != FaultAfterBoot {
			t.Errorf("PUT %s after start: %d %q", path, code, fault)
		}
	}
	// Not pre-boot-only in the spec.
	f.mustPut("/logger", `{"level":"Info"}`)
	done := make(chan struct{})
	f.srv.cfg.OnCtrlAltDel = func() { close(done) }
	f.mustPut("/actions", `{"action_type":"SendCtrlAltDel"}`)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("OnCtrlAltDel not called")
	}
}

func TestVsockMuxHandshake(t *testing.T) {
	f := newFixture(t, Config{AgentPorts: []uint32{10700}})
	uds := filepath.Join(f.dir, "vsock.sock")
	f.mustPut("/boot-source", f.bootSource())
	f.mustPut("/vsock", `{"guest_cid":3,"uds_path":"`+uds+`"}`)

	// Before the guest runs nothing listens: the connection is closed.
	if line, err := connect(t, uds, 10700); err == nil {
		t.Fatalf("handshake before boot answered %q", line)
	}
	f.mustPut("/actions", `{"action_type":"InstanceStart"}`)
	if line, err := connect(t, uds, 9999); err == nil {
		t.Fatalf("handshake to a port without listener answered %q", line)
	}
	c, err := net.Dial("unix", uds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT 10700\nping\n")
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "OK ") {
		t.Fatalf("handshake: %q, %v", line, err)
	}
	echo, err := r.ReadString('\n')
	if err != nil || echo != "ping\n" {
		t.Fatalf("echo: %q, %v", echo, err)
	}
}

func TestVsockBindsLikeFirecracker(t *testing.T) {
	f := newFixture(t, Config{})
	uds := filepath.Join(f.dir, "vsock.sock")
	if err := os.WriteFile(uds, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, fault := f.do("PUT", "/vsock", `{"guest_cid":3,"uds_path":"`+uds+`"}`)
	if code != 400 || !strings.Contains(fault, "address already in use") {
		t.Fatalf("bind over an existing path: %d %q", code, fault)
	}
}

// connect performs the handshake and returns the reply line.
func connect(t *testing.T, uds string, port int) (string, error) {
	t.Helper()
	c, err := net.Dial("unix", uds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(c, "CONNECT "+strconv.Itoa(port)+"\n")
	return bufio.NewReader(c).ReadString('\n')
}

func TestConfiguredVersionAndFinalCommandLine(t *testing.T) {
	var console strings.Builder
	f := newFixture(t, Config{Version: "1.7.0", Console: &console})
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(rec.Body.String(), `"vmm_version":"1.7.0"`) {
		t.Fatalf("GET / = %s", rec.Body.String())
	}
	f.mustPut("/boot-source", `{"kernel_image_path":"`+f.kernel+`","boot_args":"console=ttyS0"}`)
	f.mustPut("/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"`+f.disk+`","is_root_device":false,"is_read_only":false,"cache_type":"Writeback"}`)
	if d := f.srv.Drive("rootfs"); d["cache_type"] != "Writeback" {
		t.Fatalf("drive recorded as %v", d)
	}
	f.mustPut("/actions", `{"action_type":"InstanceStart"}`)
	// Firecracker appends pci=off and the drive's virtio-mmio device.
	if !strings.Contains(console.String(), "Command line: console=ttyS0 pci=off virtio_mmio.device=4K@0xc0001000:5\n") {
		t.Fatalf("console:\n%s", console.String())
	}
}

func TestInstanceStartRefusesAnOverlongFinalCommandLine(t *testing.T) {
	f := newFixture(t, Config{})
	// 2047 bytes fit alone, not with " pci=off" and a device.
	f.mustPut("/boot-source", `{"kernel_image_path":"`+f.kernel+`","boot_args":"`+strings.Repeat("x", 2047-8-35)+`"}`)
	f.mustPut("/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"`+f.disk+`","is_root_device":false,"is_read_only":true}`)
	if code, fault := f.do("PUT", "/actions", `{"action_type":"InstanceStart"}`); code != 204 {
		t.Fatalf("a command line of exactly 2047 bytes refused: %d %s", code, fault)
	}
	g := newFixture(t, Config{})
	g.mustPut("/boot-source", `{"kernel_image_path":"`+g.kernel+`","boot_args":"`+strings.Repeat("x", 2047-8-35+1)+`"}`)
	g.mustPut("/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"`+g.disk+`","is_root_device":false,"is_read_only":true}`)
	if code, fault := g.do("PUT", "/actions", `{"action_type":"InstanceStart"}`); code != 400 || !strings.Contains(fault, "command line too long") {
		t.Fatalf("overlong command line: %d %s", code, fault)
	}
}
