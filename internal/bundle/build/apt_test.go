package build

import (
	"strings"
	"testing"
)

func TestParseShowAndKernelDependency(t *testing.T) {
	out := `Package: linux-image-cloud-amd64
Source: linux-signed-amd64 (6.1.192+2)
Version: 6.1.192-2
Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)
Description: Linux for x86-64 cloud (meta-package)

Package: linux-image-cloud-amd64
Version: 6.1.176-1
Depends: linux-image-6.1.0-40-cloud-amd64 (= 6.1.176-1)
`
	v, d := parseShow(out)
	if v != "6.1.192-2" || !strings.HasPrefix(d, "linux-image-6.1.0-56-cloud-amd64") {
		t.Fatalf("parseShow = %q, %q", v, d)
	}
	if got := kernelImageDependency(d); got != "linux-image-6.1.0-56-cloud-amd64" {
		t.Errorf("kernel dependency = %q", got)
	}
	if got := kernelImageDependency("initramfs-tools | linux-initramfs-tool, kmod"); got != "" {
		t.Errorf("concrete package resolved to %q, want none", got)
	}
	if got := kernelImageDependency("foo, linux-image-6.12.9-cloud-amd64-unsigned | linux-image-6.12.9-cloud-amd64"); got != "linux-image-6.12.9-cloud-amd64-unsigned" {
		t.Errorf("alternatives: %q", got)
	}
}

func TestLinesOf(t *testing.T) {
	got := linesOf([]byte("# comment\nsystemd  # init\n\n  docker.io\ngit tmux\n"))
	if strings.Join(got, ",") != "systemd,docker.io,git,tmux" {
		t.Errorf("linesOf = %v", got)
	}
}
