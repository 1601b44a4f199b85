package bootlog

import (
	"os"
	"reflect"
	"testing"

	"banger/internal/paths"
)

func TestBoots(t *testing.T) {
	dir := paths.VMDir(t.TempDir())
	if got := Boots(dir); len(got) != 0 {
		t.Errorf("empty dir: %v", got)
	}
	for _, f := range []string{"console.3.log", "qemu.3.log", "qemu.10.log", "console.4.log", "console.log", "overlay.ext4"} {
		os.WriteFile(dir.String()+"/"+f, nil, 0o600)
	}
	if got := Boots(dir); !reflect.DeepEqual(got, []int{3, 4, 10}) {
		t.Errorf("Boots = %v, want [3 4 10]", got)
	}
}
