package main

import (
	"os"

	"banger/internal/config"
	"banger/internal/paths"
)

// configuredMirror is debian_mirror from banger's config (the user's, or
// root's under sudo), used when --mirror is not given. A config that does
// not load leaves the default.
func configuredMirror() string {
	l, err := paths.FromEnv()
	if err != nil {
		return ""
	}
	c, err := config.Load(l.ConfigFile(), os.Environ())
	if err != nil {
		return ""
	}
	return c.DebianMirror
}
