// Command waitinit is a test-only /init for the qemu driver's boot test. It
// reports on the serial console, then powers the machine off once the ACPI
// GED interrupt fires: that is the power-button event qemu's
// system_powerdown raises on a microvm. The test initrd has no ACPI button
// driver, so the interrupt count is the only sign of the button press.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.MkdirAll("/proc", 0o755)
	if err := syscall.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		fmt.Println("waitinit: mount /proc:", err)
	}
	base := gedCount()
	fmt.Println("BANGER-TEST-INIT-READY")
	for {
		time.Sleep(50 * time.Millisecond)
		if gedCount() > base {
			break
		}
	}
	fmt.Println("BANGER-TEST-INIT-POWERDOWN")
	syscall.Sync()
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// gedCount sums the per-CPU counts of the "ACPI:Ged" line of
// /proc/interrupts.
func gedCount() uint64 {
	b, err := os.ReadFile("/proc/interrupts")
	if err != nil {
		return 0
	}
	var n uint64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "ACPI:Ged") {
			continue
		}
		for _, f := range strings.Fields(line)[1:] {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				break
			}
			n += v
		}
	}
	return n
}
