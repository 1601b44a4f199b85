package network

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"banger0", "bgt-1a2b3c4d", "br_lan", "a", "abcdefghijklmno"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "abcdefghijklmnop", "Banger0", "eth0.1", "a/b", "a b", "tap%d", "..", "é"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", bad)
		}
	}
}

func TestMACFromID(t *testing.T) {
	a, b := MACFromID("0123456789abcdef"), MACFromID("0123456789abcdee")
	if len(a) != 6 {
		t.Fatalf("MAC length %d, want 6", len(a))
	}
	if a[0] != 0x02 {
		t.Errorf("first octet %#x, want 0x02 (locally administered, unicast)", a[0])
	}
	if a.String() != MACFromID("0123456789abcdef").String() {
		t.Errorf("MACFromID is not stable")
	}
	if a.String() == b.String() {
		t.Errorf("different ids gave the same MAC %s", a)
	}
	if !strings.HasPrefix(a.String(), "02:") {
		t.Errorf("MAC %s does not print with 02:", a)
	}
}
