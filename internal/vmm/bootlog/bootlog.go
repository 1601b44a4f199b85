// Package bootlog owns a VM's per-boot log files: which boot is current,
// how many earlier boots are kept, and the log pump that writes them.
//
// Why a pump: the VMM writes its output (and the guest's serial console)
// for as long as the VM runs, VMs outlive bangerd, and a guest can print to
// its console forever. A cap that bangerd enforces only while it runs, or a
// file the VMM writes directly, is not bounded. So the VMM writes into a
// pipe, and a tiny detached process (`bangerd logpump`, this package's
// Main) reads the pipe and writes each stream to its own file, stopping at
// a size cap; beyond it, it keeps reading (so the VMM never blocks on a
// full pipe) but only counts, and at EOF (the VMM exited) writes one line
// saying how much was dropped. The pump lives exactly as long as the VMM's
// end of the pipe, needs nothing from bangerd, and is reaped by init after
// a bangerd restart like the VMM itself.
//
// Layout: each boot N of a VM writes <vmdir>/<stream>.N.log, stream being
// "console" (the serial console, when the VMM keeps it apart) or the VMM's
// name ("firecracker", "qemu"). Begin, called at each boot start, numbers
// the boot and deletes boots older than the last Keep, so a VM's logs use
// at most Keep × streams × MaxBytes (plus one marker line per file). The
// numbering is what `banger vm logs --boot N` reads.
package bootlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"banger/internal/paths"
)

const (
	// Keep is how many boots' logs a VM keeps, the current one included.
	Keep = 4
	// DefaultMaxBytes caps one stream of one boot. A quiet Debian boot
	// writes a few KiB to the console; 2 MiB leaves room for a verbose
	// (loglevel=7) boot while keeping a VM's logs at a few MiB at most.
	DefaultMaxBytes = 2 << 20
	// Console is the stream name of the guest serial console.
	Console = "console"
)

// bootFile matches <stream>.<boot>.log; legacy names the pre-boot layout
// wrote, one unbounded file per stream, removed by Begin.
var (
	bootFile = regexp.MustCompile(`^([a-z]+)\.([0-9]{1,9})\.log$`)
	legacy   = []string{"console.log", "firecracker.log", "qemu.log"}
)

// boots returns the boot number of every per-boot log file in dir.
func boots(dir paths.VMDir) (map[string]int, error) {
	ents, err := os.ReadDir(dir.String())
	if err != nil {
		return nil, fmt.Errorf("list boot logs in %s: %w", dir, err)
	}
	out := map[string]int{}
	for _, e := range ents {
		m := bootFile.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		out[e.Name()] = n
	}
	return out, nil
}

// Current is the number of the latest boot that has a log in dir, or 0
// when none has.
func Current(dir paths.VMDir) int {
	files, err := boots(dir)
	if err != nil {
		return 0
	}
	cur := 0
	for _, n := range files {
		cur = max(cur, n)
	}
	return cur
}

// Begin starts a new boot: it returns the next boot number and removes
// the logs of boots that fall out of the last Keep, and the unbounded
// files of the old single-file layout.
func Begin(dir paths.VMDir) (int, error) {
	files, err := boots(dir)
	if err != nil {
		return 0, err
	}
	next := 1
	for _, n := range files {
		next = max(next, n+1)
	}
	var errs []error
	for name, n := range files {
		if n <= next-Keep {
			if err := os.Remove(filepath.Join(dir.String(), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	for _, name := range legacy {
		if err := os.Remove(filepath.Join(dir.String(), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("rotate boot logs in %s: %w", dir, err)
	}
	return next, nil
}

// Files lists the log files of boot that exist, console first: under
// Firecracker only the VMM's stream exists (its output carries the
// console), under qemu both. Naming only existing files keeps error
// messages from pointing at a log the VMM in use never writes.
func Files(dir paths.VMDir, vmmName string, boot int) []string {
	if boot <= 0 {
		return nil
	}
	var out []string
	for _, stream := range []string{Console, vmmName} {
		p := dir.BootLog(stream, boot)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	return out
}
