package network

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"banger/internal/network/netnstest"
)

// TestBridgeAndTAPInNamespace exercises the real kernel inside a throwaway
// network namespace: needs root, skipped otherwise (fails under CI=true).
func TestBridgeAndTAPInNamespace(t *testing.T) {
	ns := netnstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sysfs := func(name, attr string) string {
		t.Helper()
		out, err := ns.Exec(ctx, "cat", "/sys/class/net/"+name+"/"+attr)
		if err != nil {
			t.Fatalf("read %s of %s: %v", attr, name, err)
		}
		return strings.TrimSpace(string(out))
	}
	host := netip.MustParsePrefix("172.30.0.1/24")

	ns.Do(t, func() {
		for i := 0; i < 2; i++ { // the second round checks idempotency
			if err := EnsureBridge("banger0", host, Owner{UID: 0, Installation: "0000aaaa"}); err != nil {
				t.Fatalf("EnsureBridge round %d: %v", i, err)
			}
		}
		if err := EnsureBridge("banger0", netip.MustParsePrefix("172.30.0.1/16"), Owner{UID: 0, Installation: "0000aaaa"}); err == nil || !strings.Contains(err.Error(), "already has 172.30.0.1/24") {
			t.Errorf("EnsureBridge with a conflicting prefix = %v, want an 'already has' error", err)
		}
		if err := CreateTAP("bgt-0000aaaa", Owner{UID: 65534, Installation: "0000aaaa"}, 65534, "nobridge"); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("CreateTAP on a missing bridge = %v, want 'does not exist'", err)
		}
		for i := 0; i < 2; i++ {
			if err := CreateTAP("bgt-0000aaaa", Owner{UID: 65534, Installation: "0000aaaa"}, 65534, "banger0"); err != nil {
				t.Fatalf("CreateTAP round %d: %v", i, err)
			}
		}
		if err := CreateTAP("bgt-0000aaaa", Owner{UID: 1000, Installation: "0000aaaa"}, 1000, "banger0"); err == nil || !strings.Contains(err.Error(), "owner 65534:65534, want 1000:1000") {
			t.Errorf("CreateTAP over a TAP with another owner = %v, want an owner mismatch", err)
		}
		if err := CreateTAP("banger0", Owner{UID: 65534, Installation: "0000aaaa"}, 65534, "banger0"); err == nil || !strings.Contains(err.Error(), "bridge link") {
			t.Errorf("CreateTAP over the bridge = %v, want a refusal", err)
		}
		if err := CreateTAP("bgt-0000bbbb", Owner{UID: 65534, Installation: "0000aaaa"}, 65534, "banger0"); err != nil {
			t.Fatalf("CreateTAP second tap: %v", err)
		}
		info, err := InspectTAP("bgt-0000aaaa")
		if err != nil {
			t.Fatal(err)
		}
		want := TAPInfo{Name: "bgt-0000aaaa", UID: 65534, GID: 65534, VnetHdr: true, NoPI: true, Persist: true, Master: "banger0", Up: true, Owner: Owner{UID: 65534, Installation: "0000aaaa"}, Tagged: true}
		if info != want {
			t.Errorf("InspectTAP = %+v, want %+v", info, want)
		}
		names, err := ListTAPs("bgt-")
		if err != nil || strings.Join(names, ",") != "bgt-0000aaaa,bgt-0000bbbb" {
			t.Errorf("ListTAPs(bgt-) = %v, %v", names, err)
		}
	})

	// Check through /sys of the namespace, independently of netlink.
	if got := sysfs("banger0", "operstate"); got == "" {
		t.Errorf("bridge has no operstate")
	}
	addrs, err := ns.Exec(ctx, "ip", "-4", "-o", "addr", "show", "dev", "banger0")
	if err != nil || strings.Count(string(addrs), "inet ") != 1 || !strings.Contains(string(addrs), "inet 172.30.0.1/24") {
		t.Errorf("bridge addresses = %q, %v; want exactly 172.30.0.1/24", addrs, err)
	}
	if got := sysfs("bgt-0000aaaa", "owner"); got != "65534" {
		t.Errorf("tap owner = %s, want 65534", got)
	}
	if got := sysfs("bgt-0000aaaa", "group"); got != "65534" {
		t.Errorf("tap group = %s, want 65534", got)
	}
	// IFF_TAP 0x2 | IFF_NO_PI 0x1000 | IFF_VNET_HDR 0x4000, plus the kernel's
	// own persist bit 0x800.
	if got := sysfs("bgt-0000aaaa", "tun_flags"); got != "0x5802" {
		t.Errorf("tap tun_flags = %s, want 0x5802", got)
	}
	master, err := ns.Exec(ctx, "readlink", "/sys/class/net/bgt-0000aaaa/master")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(master)), "/banger0") {
		t.Errorf("tap master = %q, %v; want banger0", master, err)
	}
	// Nothing leaked into the host namespace.
	if host, _ := ListTAPs("bgt-0000"); len(host) != 0 {
		t.Errorf("host namespace has test taps: %v", host)
	}

	ns.Do(t, func() {
		for i := 0; i < 2; i++ { // deleting a missing tap is not an error
			if err := DeleteTAP("bgt-0000aaaa"); err != nil {
				t.Fatalf("DeleteTAP round %d: %v", i, err)
			}
		}
		if err := DeleteTAP("banger0"); err == nil || !strings.Contains(err.Error(), "not a tap") {
			t.Errorf("DeleteTAP on the bridge = %v, want a refusal", err)
		}
		names, err := ListTAPs("")
		if err != nil || strings.Join(names, ",") != "bgt-0000bbbb" {
			t.Errorf("ListTAPs after delete = %v, %v", names, err)
		}
	})
}
