package paths

import "path/filepath"

// Forwards records the VM's localhost forwards (bangerd re-establishes
// them when it or the VM starts).
func (d VMDir) Forwards() string { return filepath.Join(string(d), "forwards.json") }

// AutoForward exists while the VM's guest listeners are mirrored onto the
// host's loopback (`banger vm forward --auto`).
func (d VMDir) AutoForward() string { return filepath.Join(string(d), "forwards.auto") }
