package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaultsWhenFileMissing(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "nope.toml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "info" || c.VMM != "auto" || c.BridgeName != "banger0" || c.DNSListen != "127.0.0.1:42069" || c.TapPoolSize != 2 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestLoadFileThenEnv(t *testing.T) {
	p := writeConfig(t, "log_level = \"debug\"\ntap_pool_size = 4\nvmm = \"qemu\"\nruntime_dir = \"/opt/banger\"\n")
	c, err := Load(p, []string{"BANGER_LOG_LEVEL=warn", "BANGER_TAP_POOL_SIZE=1", "UNRELATED=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "warn" || c.TapPoolSize != 1 || c.VMM != "qemu" || c.RuntimeDir != "/opt/banger" {
		t.Fatalf("got %+v", c)
	}
}

func TestLoadErrorsNameKeyAndValue(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string
		want       []string
	}{
		{"bad log level env", "", []string{"BANGER_LOG_LEVEL=loud"}, []string{"log_level", `"loud"`, "debug, info, warn, error"}},
		{"bad log level file", `log_level = "verbose"`, nil, []string{"log_level", "verbose"}},
		{"unknown key", "colour = \"red\"\n", nil, []string{"unknown key colour", "log_level"}},
		{"ssh_key_path removed", `ssh_key_path = "/root/.ssh/id"`, nil, []string{"ssh_key_path", "no longer supported"}},
		{"malformed", "log_level = \n", nil, []string{"parse config"}},
		{"wrong type", "tap_pool_size = \"many\"\n", nil, []string{"parse config"}},
		{"pool range", "tap_pool_size = 500\n", nil, []string{"tap_pool_size", "0 and 64"}},
		{"pool env not number", "", []string{"BANGER_TAP_POOL_SIZE=lots"}, []string{"BANGER_TAP_POOL_SIZE", "whole number"}},
		{"vmm", `vmm = "xen"`, nil, []string{"vmm", "xen", "auto, firecracker, qemu"}},
		{"bridge name long", `bridge_name = "a-very-long-bridge-name"`, nil, []string{"bridge_name", "at most 15"}},
		{"bridge cidr", `bridge_cidr = "10.0.0.1/24"`, nil, []string{"bridge_cidr", "host bits"}},
		{"bridge cidr v6", `bridge_cidr = "fd00::/64"`, nil, []string{"bridge_cidr"}},
		{"dns listen", `dns_listen = "localhost"`, nil, []string{"dns_listen", "host:port"}},
		{"relative path", `runtime_dir = "runtime"`, nil, []string{"runtime_dir", "absolute path"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.file)
			_, err := Load(p, tc.env)
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestUnreadableConfig(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be cannot be read as a file.
	p := filepath.Join(dir, "config.toml")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "read config") {
		t.Fatalf("want read error, got %v", err)
	}
}

func TestHomeExpansion(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	p := writeConfig(t, `namegen_path = "~/bin/names"`)
	c, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NamegenPath != "/home/tester/bin/names" {
		t.Fatalf("got %q", c.NamegenPath)
	}
}

func TestEveryDescribedKeyIsKnown(t *testing.T) {
	known := knownKeys()
	for _, k := range []string{"log_level", "runtime_dir", "tap_pool_size", "firecracker_bin", "namegen_path", "customize_script", "vsock_agent_path", "default_rootfs", "default_work_seed", "default_base_rootfs", "default_kernel", "default_initrd", "default_modules_dir", "default_packages_file", "vmm", "bridge_name", "bridge_cidr", "dns_listen"} {
		if !known[k] {
			t.Errorf("key %s is not accepted", k)
		}
	}
}

func TestBridgeDefaultsFollowTheHelperPolicy(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "helper.toml")
	uid := strconv.Itoa(os.Getuid())
	if err := os.WriteFile(pol, []byte("[users."+uid+"]\nbridge_name = \"bgr-test\"\nbridge_cidr = \"10.66.0.0/24\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(filepath.Join(t.TempDir(), "none.toml"), []string{"BANGER_HELPER_CONFIG=" + pol})
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && (c.BridgeName != "bgr-test" || c.BridgeCIDR != "10.66.0.0/24") {
		t.Errorf("bridge defaults = %s %s, want the policy's bgr-test 10.66.0.0/24", c.BridgeName, c.BridgeCIDR)
	}
	c, err = Load(writeConfig(t, `bridge_name = "mine"`), []string{"BANGER_HELPER_CONFIG=" + pol})
	if err != nil || c.BridgeName != "mine" {
		t.Errorf("an explicit bridge_name wins: %v %v", c.BridgeName, err)
	}
}

func TestHelperPath(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "nope.toml"), nil)
	if err != nil || c.HelperPath != "/usr/libexec/banger/bangerd" {
		t.Fatalf("default helper_path = %q, %v", c.HelperPath, err)
	}
	c, err = Load(writeConfig(t, "helper_path = \"/opt/banger/libexec/bangerd\"\n"), nil)
	if err != nil || c.HelperPath != "/opt/banger/libexec/bangerd" {
		t.Fatalf("helper_path from the file = %q, %v", c.HelperPath, err)
	}
	for _, bad := range []string{"bangerd", "~/bin/bangerd", "/opt/../tmp/bangerd", ""} {
		_, err := Load(filepath.Join(t.TempDir(), "nope.toml"), []string{"BANGER_HELPER_PATH=" + bad})
		if err == nil || !strings.Contains(err.Error(), "helper_path") || !strings.Contains(err.Error(), "make install-helper") {
			t.Errorf("helper_path %q = %v, want a refusal naming the key", bad, err)
		}
	}
}

func TestArtifactMirror(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	for in, want := range map[string]string{
		"~/mirror":                 "/home/tester/mirror",
		"/srv/mirror":              "/srv/mirror",
		"file:///srv/mirror":       "file:///srv/mirror",
		"https://mirror.example/b": "https://mirror.example/b",
	} {
		c, err := Load(writeConfig(t, "artifact_mirror = \""+in+"\"\n"), nil)
		if err != nil || c.ArtifactMirror != want {
			t.Errorf("%q: got %q %v, want %q", in, c.ArtifactMirror, err, want)
		}
	}
	c, err := Load(writeConfig(t, `artifact_mirror = "/srv/a"`), []string{"BANGER_ARTIFACT_MIRROR=/srv/b"})
	if err != nil || c.ArtifactMirror != "/srv/b" {
		t.Errorf("environment: got %q %v", c.ArtifactMirror, err)
	}
	for _, bad := range []string{"mirror", "ftp://host/x"} {
		_, err := Load(writeConfig(t, ""), []string{"BANGER_ARTIFACT_MIRROR=" + bad})
		if err == nil || !strings.Contains(err.Error(), `artifact_mirror = "`+bad+`"`) || !strings.Contains(err.Error(), "http(s)://") {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}
