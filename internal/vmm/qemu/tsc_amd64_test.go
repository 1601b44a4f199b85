package qemu

import (
	"testing"
)

func TestHostTSCkHzIsPlausible(t *testing.T) {
	khz := hostTSCkHz()
	if khz == 0 {
		if constantTSC() {
			t.Fatal("constant TSC but no measurement")
		}
		t.Skip("host TSC is not constant-rate")
	}
	// Every x86-64 TSC of the last 15 years runs between 1 and 6 GHz.
	if khz < 1_000_000 || khz > 6_000_000 {
		t.Fatalf("measured TSC rate %d kHz is implausible", khz)
	}
	again := hostTSCkHz()
	if diff := float64(again) - float64(khz); diff > 0.005*float64(khz) || diff < -0.005*float64(khz) {
		t.Fatalf("two measurements differ by more than 0.5%%: %d vs %d kHz", khz, again)
	}
	t.Logf("host TSC: %d kHz", khz)
}
