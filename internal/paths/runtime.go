package paths

import (
	"os"
	"path/filepath"
)

// RuntimeSource says where the runtime bundle directory came from.
type RuntimeSource string

const (
	SourceEnv       RuntimeSource = "BANGER_RUNTIME_DIR"
	SourceConfig    RuntimeSource = "runtime_dir"
	SourceInstalled RuntimeSource = "installed (../lib/banger)"
	SourceCheckout  RuntimeSource = "source checkout (./runtime)"
	SourceNone      RuntimeSource = "none"
)

// ResolveRuntimeDir finds the runtime bundle, in order: BANGER_RUNTIME_DIR,
// the runtime_dir config key, ../lib/banger beside the executable (an
// installed binary), ./runtime beside the executable (a source checkout).
// exe is the running binary's path (os.Executable()); configured is the
// runtime_dir config value. The returned directory may not exist; callers
// check it and report.
func ResolveRuntimeDir(exe, configured string) (string, RuntimeSource) {
	if v := os.Getenv("BANGER_RUNTIME_DIR"); v != "" {
		return abs(v), SourceEnv
	}
	if configured != "" {
		return abs(configured), SourceConfig
	}
	if exe != "" {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		bin := filepath.Dir(exe)
		installed := filepath.Join(bin, "..", "lib", "banger")
		if isDir(installed) {
			return filepath.Clean(installed), SourceInstalled
		}
		checkout := filepath.Join(bin, "runtime")
		if isDir(checkout) {
			return checkout, SourceCheckout
		}
		return checkout, SourceNone
	}
	return "", SourceNone
}

func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
