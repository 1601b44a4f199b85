// Package config loads banger's configuration: built-in defaults, then
// ~/.config/banger/config.toml, then BANGER_* environment overrides, then one
// Validate step whose errors name the key, the bad value and what is allowed.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"banger/internal/image/artifacts"
	"banger/internal/network"
	"banger/internal/network/allotment"
	"banger/internal/paths"
)

// Config is every setting banger reads. Field tags are the config.toml keys;
// the environment override of key k is BANGER_<K upper-cased>.
type Config struct {
	LogLevel            string `toml:"log_level"`
	RuntimeDir          string `toml:"runtime_dir"`
	TapPoolSize         int    `toml:"tap_pool_size"`
	FirecrackerBin      string `toml:"firecracker_bin"`
	QemuBin             string `toml:"qemu_bin"`
	NamegenPath         string `toml:"namegen_path"`
	CustomizeScript     string `toml:"customize_script"`
	VsockAgentPath      string `toml:"vsock_agent_path"`
	DefaultImage        string `toml:"default_image"`
	DefaultRootfs       string `toml:"default_rootfs"`
	DefaultWorkSeed     string `toml:"default_work_seed"`
	DefaultBaseRootfs   string `toml:"default_base_rootfs"`
	DefaultKernel       string `toml:"default_kernel"`
	DefaultInitrd       string `toml:"default_initrd"`
	DefaultModulesDir   string `toml:"default_modules_dir"`
	DefaultPackagesFile string `toml:"default_packages_file"`
	VMM                 string `toml:"vmm"`
	BridgeName          string `toml:"bridge_name"`
	BridgeCIDR          string `toml:"bridge_cidr"`
	DNSListen           string `toml:"dns_listen"`
	// GuestHostAccess lets guests open connections to the host's own
	// addresses; false drops them (connections the host opens still work).
	GuestHostAccess bool   `toml:"guest_host_access"`
	DebianMirror    string `toml:"debian_mirror"`
	// HelperPath is the root-owned bangerd that a non-root bangerd runs
	// with `sudo -n` for bridge, TAP and NAT changes.
	HelperPath string `toml:"helper_path"`
	// ArtifactMirror is tried before any origin for the image build's
	// pinned artifacts: a directory, a file:// or an http(s):// URL.
	ArtifactMirror string `toml:"artifact_mirror"`
}

// Defaults returns the built-in configuration.
func Defaults() Config {
	a := allotment.Default(os.Getuid())
	return Config{
		BridgeName:      a.Bridge,
		BridgeCIDR:      a.Subnet.String(),
		LogLevel:        "info",
		TapPoolSize:     2,
		VMM:             "auto",
		GuestHostAccess: true,
		DNSListen:       "127.0.0.1:42069",
		DefaultImage:    "default",
		HelperPath:      paths.DefaultHelper,
	}
}

// removedKeys are keys older banger versions accepted, with why they went.
var removedKeys = map[string]string{
	"ssh_key_path": "ssh_key_path is no longer supported: banger generates its own SSH key pair per installation (see `banger doctor`) and injects it into every VM; remove the key from config.toml",
}

// Error is a configuration problem tied to one key.
type Error struct {
	Source string // config file path or environment variable
	Key    string
	Value  string
	Msg    string
}

func (e *Error) Error() string {
	if e.Value == "" && e.Key == "" {
		return fmt.Sprintf("%s: %s", e.Source, e.Msg)
	}
	return fmt.Sprintf("%s: %s = %q: %s", e.Source, e.Key, e.Value, e.Msg)
}

// Load reads defaults, the file at path (missing is fine), and the
// environment, then validates. env is usually os.Environ().
func Load(path string, env []string) (Config, error) {
	c := Defaults()
	if err := c.loadFile(path); err != nil {
		return Config{}, err
	}
	if err := c.loadEnv(env); err != nil {
		return Config{}, err
	}
	// Unset bridge keys follow the helper's policy, which may allot this
	// user something other than the built-in default.
	if def := Defaults(); c.BridgeName == def.BridgeName || c.BridgeCIDR == def.BridgeCIDR {
		a, err := Allotted(env)
		if err != nil {
			return Config{}, err
		}
		if c.BridgeName == def.BridgeName {
			c.BridgeName = a.Bridge
		}
		if c.BridgeCIDR == def.BridgeCIDR {
			c.BridgeCIDR = a.Subnet.String()
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Allotted is the bridge and subnet the privileged helper allows this user
// (allotment.Policy), which bridge_name and bridge_cidr default to.
// BANGER_HELPER_CONFIG names another policy file; the helper itself honours
// it only when not run through sudo, so under sudo a different file here
// just leads to a refusal that names both.
func Allotted(env []string) (allotment.Allotment, error) {
	path := allotment.DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "BANGER_HELPER_CONFIG="); ok && v != "" {
			path = v
		}
	}
	p, err := allotment.Load(path, true)
	if err != nil {
		return allotment.Allotment{}, err
	}
	return p.For(os.Getuid()), nil
}

func (c *Config) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	// Decode into a generic map first so removed and unknown keys get
	// specific messages instead of a generic decode error.
	var raw map[string]any
	if _, err := toml.Decode(string(b), &raw); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	known := knownKeys()
	var unknown []string
	for k := range raw {
		if msg, ok := removedKeys[k]; ok {
			return &Error{Source: path, Key: k, Value: fmt.Sprint(raw[k]), Msg: msg}
		}
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return &Error{Source: path, Msg: fmt.Sprintf("unknown key %s (known keys: %s)", strings.Join(unknown, ", "), strings.Join(KeyNames(), ", "))}
	}
	if _, err := toml.Decode(string(b), c); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	return nil
}

func (c *Config) loadEnv(env []string) error {
	vals := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "BANGER_") {
			vals[k] = v
		}
	}
	rv := reflect.ValueOf(c).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		key := rt.Field(i).Tag.Get("toml")
		name := EnvName(key)
		v, ok := vals[name]
		if !ok {
			continue
		}
		f := rv.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v)
		case reflect.Bool:
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return &Error{Source: "environment " + name, Key: key, Value: v, Msg: "must be true or false"}
			}
			f.SetBool(b)
		case reflect.Int:
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return &Error{Source: "environment " + name, Key: key, Value: v, Msg: "must be a whole number"}
			}
			f.SetInt(int64(n))
		}
	}
	return nil
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string { return "BANGER_" + strings.ToUpper(key) }

// KeyNames lists every config key, sorted.
func KeyNames() []string {
	var out []string
	for k := range knownKeys() {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func knownKeys() map[string]bool {
	m := map[string]bool{}
	rt := reflect.TypeOf(Config{})
	for i := 0; i < rt.NumField(); i++ {
		m[rt.Field(i).Tag.Get("toml")] = true
	}
	return m
}

// LogLevels are the accepted log_level values.
var LogLevels = []string{"debug", "info", "warn", "error"}

// VMMs are the accepted vmm values.
var VMMs = []string{"auto", "firecracker", "qemu"}

// Validate checks every value once, naming the first bad key.
func (c *Config) Validate() error {
	bad := func(key, val, msg string) error {
		return &Error{Source: "config", Key: key, Value: val, Msg: msg}
	}
	if !contains(LogLevels, c.LogLevel) {
		return bad("log_level", c.LogLevel, "must be one of "+strings.Join(LogLevels, ", "))
	}
	if !contains(VMMs, c.VMM) {
		return bad("vmm", c.VMM, "must be one of "+strings.Join(VMMs, ", "))
	}
	if c.TapPoolSize < 0 || c.TapPoolSize > 64 {
		return bad("tap_pool_size", strconv.Itoa(c.TapPoolSize), "must be between 0 and 64")
	}
	if err := network.ValidateName(c.BridgeName); err != nil {
		return bad("bridge_name", c.BridgeName, err.Error())
	}
	p, err := netip.ParsePrefix(c.BridgeCIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() < 16 || p.Bits() > 29 || p.Masked() != p {
		return bad("bridge_cidr", c.BridgeCIDR, "must be an IPv4 network between /16 and /29 with no host bits set, e.g. 172.30.0.0/24")
	}
	host, port, err := net.SplitHostPort(c.DNSListen)
	if err != nil {
		return bad("dns_listen", c.DNSListen, "must be host:port, e.g. 127.0.0.1:42069")
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return bad("dns_listen", c.DNSListen, "host must be an IP address, e.g. 127.0.0.1:42069")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return bad("dns_listen", c.DNSListen, "port must be 0-65535")
	}
	if c.HelperPath == "" || !filepath.IsAbs(c.HelperPath) || filepath.Clean(c.HelperPath) != c.HelperPath {
		return bad("helper_path", c.HelperPath, "must be a clean absolute path to a root-owned bangerd, e.g. "+paths.DefaultHelper+" (`make install-helper` puts it there)")
	}
	if c.ArtifactMirror != "" {
		v := c.ArtifactMirror
		if !strings.Contains(v, "://") {
			v, _ = expandHome(v)
		}
		if _, err := artifacts.ParseMirror(v); err != nil {
			return bad("artifact_mirror", c.ArtifactMirror, err.Error())
		}
		c.ArtifactMirror = v
	}
	for key, val := range c.pathKeys() {
		if *val == "" {
			continue
		}
		expanded, err := expandHome(*val)
		if err != nil || !filepath.IsAbs(expanded) {
			return bad(key, *val, "must be an absolute path (or start with ~/)")
		}
		*val = expanded
	}
	return nil
}

func (c *Config) pathKeys() map[string]*string {
	return map[string]*string{
		"runtime_dir": &c.RuntimeDir, "firecracker_bin": &c.FirecrackerBin, "qemu_bin": &c.QemuBin,
		"namegen_path": &c.NamegenPath, "customize_script": &c.CustomizeScript,
		"vsock_agent_path": &c.VsockAgentPath, "default_rootfs": &c.DefaultRootfs,
		"default_work_seed": &c.DefaultWorkSeed, "default_base_rootfs": &c.DefaultBaseRootfs,
		"default_kernel": &c.DefaultKernel, "default_initrd": &c.DefaultInitrd,
		"default_modules_dir": &c.DefaultModulesDir, "default_packages_file": &c.DefaultPackagesFile,
	}
}

// BridgePrefix is the parsed bridge_cidr (valid after Validate).
func (c *Config) BridgePrefix() netip.Prefix { return netip.MustParsePrefix(c.BridgeCIDR) }

func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
