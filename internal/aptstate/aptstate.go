// Package aptstate is a private apt state directory on the host (sources,
// package lists, downloaded .debs) that the bundle build and the image
// build point the host's apt-get at, so that fetching Debian packages for a
// guest never touches the host's own apt state. It lays the directory out
// and builds the options that select it; running apt is the callers'.
package aptstate

import (
	"fmt"
	"os"
	"path/filepath"
)

// DefaultMirror is the Debian archive used when no mirror is configured.
const DefaultMirror = "http://deb.debian.org/debian"

const debianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// SourcesList is a sources.list for suite: mirror alone, or DefaultMirror
// with -updates and -security for a release suite when mirror is "" (the
// same choice mmdebstrap makes).
func SourcesList(suite, mirror string) string {
	signed := ""
	if _, err := os.Stat(debianKeyring); err == nil {
		signed = " [signed-by=" + debianKeyring + "]"
	}
	if mirror != "" {
		return fmt.Sprintf("deb%s %s %s main\n", signed, mirror, suite)
	}
	s := fmt.Sprintf("deb%s %s %s main\n", signed, DefaultMirror, suite)
	switch suite {
	case "sid", "unstable", "experimental", "rc-buggy":
	default:
		s += fmt.Sprintf("deb%s %s %s-updates main\n", signed, DefaultMirror, suite)
		s += fmt.Sprintf("deb%s http://security.debian.org/debian-security %s-security main\n", signed, suite)
	}
	return s
}

// Dir is a private apt state directory.
type Dir string

// SourcesListPath is the state's sources.list.
func (d Dir) SourcesListPath() string { return filepath.Join(string(d), "etc/sources.list") }

// ListsDir holds the downloaded package lists.
func (d Dir) ListsDir() string { return filepath.Join(string(d), "state/lists") }

// ArchivesDir holds the downloaded .debs.
func (d Dir) ArchivesDir() string { return filepath.Join(string(d), "cache/archives") }

// Create makes the directories apt expects in the state.
func (d Dir) Create() error {
	for _, sub := range []string{"etc/sources.list.d", "etc/preferences.d", "state/lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(string(d), sub), 0o755); err != nil {
			return fmt.Errorf("apt state %s: %w", d, err)
		}
	}
	return nil
}

// Options are the apt-get/apt-cache options that select the state, with
// status as the dpkg status file packages are resolved against.
func (d Dir) Options(status string) []string {
	dir := string(d)
	return []string{
		"-o", "Dir::Etc::SourceList=" + d.SourcesListPath(),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(dir, "etc/sources.list.d"),
		"-o", "Dir::Etc::Preferences=" + filepath.Join(dir, "etc/preferences"),
		"-o", "Dir::Etc::PreferencesParts=" + filepath.Join(dir, "etc/preferences.d"),
		"-o", "Dir::State=" + filepath.Join(dir, "state"),
		"-o", "Dir::State::status=" + status,
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "Debug::NoLocking=1",
	}
}

// SandboxOptions lets apt running as root write downloads into directories
// its _apt sandbox user cannot (scratch and cache directories).
func SandboxOptions() []string {
	if os.Geteuid() == 0 {
		return []string{"-o", "APT::Sandbox::User=root"}
	}
	return nil
}
