package paths

import "path/filepath"

// Forwards records the VM's localhost forwards (bangerd re-establishes
// them when it or the VM starts).
func (d VMDir) Forwards() string { return filepath.Join(string(d), "forwards.json") }
