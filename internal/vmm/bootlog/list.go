package bootlog

import (
	"sort"

	"banger/internal/paths"
)

// Boots lists, oldest first, the boot numbers that still have a log in dir.
func Boots(dir paths.VMDir) []int {
	files, err := boots(dir)
	if err != nil {
		return nil
	}
	seen := map[int]bool{}
	var out []int
	for _, n := range files {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}
