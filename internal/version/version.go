// Package version carries the build version, set with
// -ldflags "-X banger/internal/version.Version=...".
package version

// Version is the banger release or git description.
var Version = "dev"
