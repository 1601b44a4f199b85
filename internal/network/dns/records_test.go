package dns

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func TestRecords(t *testing.T) {
	r := NewRecords()
	ip := netip.MustParseAddr("172.30.0.5")
	s0 := r.Serial()
	if err := r.Set("Calm-Otter", ip); err != nil {
		t.Fatal(err)
	}
	if a, ok := r.Lookup("calm-otter"); !ok || a != ip {
		t.Fatalf("Lookup = %v, %v", a, ok)
	}
	s1 := r.Serial()
	if s1 == s0 {
		t.Error("serial did not change on Set")
	}
	if err := r.Set("calm-otter", ip); err != nil || r.Serial() != s1 {
		t.Errorf("re-setting the same record changed the serial (%v)", err)
	}
	r.Delete("CALM-OTTER")
	if _, ok := r.Lookup("calm-otter"); ok || r.Len() != 0 {
		t.Error("Delete left the record")
	}
	r.Delete("never-there")

	for _, tc := range []struct {
		name string
		addr netip.Addr
		want string
	}{
		{"", ip, "1 to 63"},
		{strings.Repeat("a", 64), ip, "1 to 63"},
		{"a.b", ip, "not a DNS label"},
		{"-a", ip, "not a DNS label"},
		{"a-", ip, "not a DNS label"},
		{"a_b", ip, "not a DNS label"},
		{"ok", netip.MustParseAddr("fd00::1"), "not IPv4"},
		{"ok", netip.Addr{}, "not IPv4"},
	} {
		if err := r.Set(tc.name, tc.addr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%q, %v) = %v, want %q", tc.name, tc.addr, err, tc.want)
		}
	}

	if err := r.Replace(map[string]netip.Addr{"a": ip, "b": ip}); err != nil {
		t.Fatal(err)
	}
	if err := r.Replace(map[string]netip.Addr{"c": ip, "bad name": ip}); err == nil {
		t.Fatal("Replace accepted an invalid name")
	}
	if _, ok := r.Lookup("a"); !ok || r.Len() != 2 {
		t.Error("a failed Replace changed the records")
	}
	if err := r.Replace(map[string]netip.Addr{"x": ip, "X": ip}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("Replace with case duplicates: %v", err)
	}
}

func TestRecordsConcurrent(t *testing.T) {
	r := NewRecords()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			name := string(rune('a' + i))
			for j := range 1000 {
				r.Set(name, netip.AddrFrom4([4]byte{10, 0, byte(i), byte(j)}))
				r.Lookup(name)
				r.Serial()
				if j%10 == 0 {
					r.Delete(name)
				}
			}
		})
	}
	wg.Wait()
}
