package nat

import (
	"context"
	"strings"
	"testing"
)

// The fake must behave like iptables where the Manager depends on it;
// these pin the behaviours checked against iptables v1.8.9 by hand.
func TestFakeRunnerBehavesLikeIptables(t *testing.T) {
	ctx := context.Background()
	f := NewFakeRunner()
	run := func(args ...string) (string, int) {
		out, err := f.Run(ctx, args...)
		if err == nil {
			return string(out), 0
		}
		return string(out), exitCode(err)
	}
	if _, code := run("-N", "C"); code != 0 {
		t.Fatalf("-N C exit %d", code)
	}
	if _, code := run("-N", "C"); code != 1 {
		t.Errorf("-N of an existing chain exit %d, want 1", code)
	}
	if _, code := run("-A", "C", "-i", "br", "-s", "10.0.0.1", "-j", "ACCEPT"); code != 0 {
		t.Fatalf("-A exit %d", code)
	}
	if out, _ := run("-S", "C"); out != "-N C\n-A C -s 10.0.0.1/32 -i br -j ACCEPT\n" {
		t.Errorf("-S C printed %q", out)
	}
	if _, code := run("-C", "C", "-s", "10.0.0.1/32", "-i", "br", "-j", "ACCEPT"); code != 0 {
		t.Errorf("-C of an existing rule in another spelling exit %d, want 0", code)
	}
	if _, code := run("-C", "C", "-s", "10.0.0.2", "-j", "ACCEPT"); code != 1 {
		t.Errorf("-C of a missing rule exit %d, want 1", code)
	}
	if _, code := run("-D", "C", "-s", "10.0.0.2", "-j", "ACCEPT"); code != 1 {
		t.Errorf("-D of a missing rule exit %d, want 1", code)
	}
	if _, code := run("-A", "NOPE", "-j", "ACCEPT"); code != 1 {
		t.Errorf("-A to a missing chain exit %d, want 1", code)
	}
	if _, code := run("-A", "FORWARD", "-j", "MASQUERADE"); code != 2 {
		t.Errorf("MASQUERADE in filter exit %d, want 2", code)
	}
	if _, code := run("-A", "FORWARD", "-j", "NOPE"); code != 2 {
		t.Errorf("jump to a missing chain exit %d, want 2", code)
	}
	if _, code := run("-A", "FORWARD", "-m", "physdev", "--physdev-in", "x", "-j", "ACCEPT"); code != 2 {
		t.Errorf("unsupported match exit %d, want 2", code)
	}
	if _, code := run("-I", "FORWARD", "1", "-j", "C"); code != 0 {
		t.Fatalf("-I jump exit %d", code)
	}
	if _, code := run("-F", "C"); code != 0 {
		t.Fatalf("-F exit %d", code)
	}
	if _, code := run("-X", "C"); code != 4 {
		t.Errorf("-X of a referenced chain exit %d, want 4", code)
	}
	if _, code := run("-D", "FORWARD", "-j", "C"); code != 0 {
		t.Fatalf("-D jump exit %d", code)
	}
	if _, code := run("-X", "C"); code != 0 {
		t.Errorf("-X of an unreferenced empty chain exit %d", code)
	}
	out, _ := run("-t", "nat", "-S")
	if !strings.HasPrefix(out, "-P PREROUTING ACCEPT\n") || strings.Contains(out, "-N") {
		t.Errorf("-t nat -S printed %q", out)
	}
	_, err := f.Run(ctx, "-D", "FORWARD", "-j", "C")
	if err == nil || !strings.Contains(err.Error(), "iptables -w -D FORWARD") {
		t.Errorf("error does not carry argv: %v", err)
	}
}
