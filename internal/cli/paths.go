package cli

import (
	"path/filepath"

	"banger/internal/api"
)

// absPaths makes the paths of a registration absolute relative to the
// CLI's working directory; the daemon's working directory is not the user's.
func absPaths(r api.RegisterImageRequest) api.RegisterImageRequest {
	for _, p := range []*string{&r.Rootfs, &r.WorkSeed, &r.Kernel, &r.Initrd, &r.ModulesDir, &r.Packages} {
		if *p != "" {
			if a, err := filepath.Abs(*p); err == nil {
				*p = a
			}
		}
	}
	return r
}
