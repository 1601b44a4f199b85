package cli

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"banger/internal/vmm/firecracker"
)

func TestFirecrackerFixNamesTheRemedy(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("firecracker 1.7.0 is %w: ...", firecracker.ErrTooOld), "install Firecracker 1.8.0 or newer"},
		{fmt.Errorf("firecracker needs /dev/kvm read-write: %w", fs.ErrPermission), "usermod -aG kvm"},
		{fmt.Errorf("firecracker needs /dev/kvm read-write: %w", fs.ErrNotExist), "modprobe kvm"},
	} {
		if got := firecrackerFix(c.err); !strings.Contains(got, c.want) {
			t.Errorf("firecrackerFix(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
