package qemu

import (
	"os"
	"slices"
	"strings"
	"time"
)

// Under TCG the guest reads the host's TSC unchanged, but its kernel still
// calibrates the TSC against the emulated PIT. On a loaded host the vCPU
// thread is descheduled mid-calibration, the calibration fails, and on a
// microvm (no HPET, no ACPI PM timer) the guest is left without a clock and
// hangs early in boot. Measured here and passed as tsc_early_khz=, the rate
// needs no calibration.

func rdtsc() uint64

// hostTSCkHz measures the TSC rate in kHz, or returns 0 when the TSC is not
// a constant-rate clock or the measurement is too noisy to trust.
func hostTSCkHz() uint64 {
	if !constantTSC() {
		return 0
	}
	var samples []uint64
	for range 7 {
		if khz := measureTSC(20 * time.Millisecond); khz > 0 {
			samples = append(samples, khz)
		}
		if len(samples) == 3 {
			break
		}
	}
	if len(samples) < 3 {
		return 0
	}
	slices.Sort(samples)
	return samples[1]
}

// measureTSC counts TSC ticks over about d of monotonic time. Each end is
// read between two clock readings less than 20µs apart, so a preemption
// at the wrong moment discards the sample instead of skewing it.
func measureTSC(d time.Duration) uint64 {
	const window = 20 * time.Microsecond
	read := func() (time.Time, uint64, bool) {
		a := time.Now()
		c := rdtsc()
		b := time.Now()
		return a.Add(b.Sub(a) / 2), c, b.Sub(a) < window
	}
	t0, c0, ok0 := read()
	time.Sleep(d)
	t1, c1, ok1 := read()
	ns := t1.Sub(t0).Nanoseconds()
	if !ok0 || !ok1 || ns <= 0 || c1 <= c0 {
		return 0
	}
	return uint64(float64(c1-c0) * 1e6 / float64(ns))
}

func constantTSC() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			f := strings.Fields(v)
			return slices.Contains(f, "constant_tsc") && slices.Contains(f, "nonstop_tsc")
		}
	}
	return false
}
