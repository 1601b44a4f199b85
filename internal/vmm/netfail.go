package vmm

import "strings"

// networkFailures are what qemu and Firecracker log when the TAP they were
// given is unusable (deleted and recreated under them, detached, owned by
// someone else). Neither exits on it: the guest boots without a network
// and nothing would answer until the SSH timeout.
var networkFailures = []string{
	"TUNSETOFFLOAD",                    // qemu: tap queue detached
	"TUNSETIFF",                        // qemu: cannot attach to the tap
	"could not configure /dev/net/tun", // qemu
	"File descriptor in bad state",     // qemu: EBADFD on a dead tap
	"Open tap device failed",           // firecracker
}

// NetworkFailure returns the first line of log that says the VMM cannot
// use its TAP, or "".
func NetworkFailure(log string) string {
	for _, line := range strings.Split(log, "\n") {
		for _, f := range networkFailures {
			if strings.Contains(line, f) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}
