//go:build !amd64

package qemu

// hostTSCkHz is unknown off x86-64 hosts: the guest calibrates on its own.
func hostTSCkHz() uint64 { return 0 }
