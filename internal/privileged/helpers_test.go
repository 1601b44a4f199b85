package privileged

import (
	"net/netip"
	"os"
	"testing"

	"banger/internal/network"
	"banger/internal/network/allotment"
	"banger/internal/network/nat"
)

// gatewayFor is the default gateway of o's uid.
func gatewayFor(o network.Owner) netip.Prefix { return allotment.Default(o.UID).Gateway() }

func natRuleFor(o network.Owner, vmID string) nat.Rule {
	a := allotment.Default(o.UID)
	return nat.Rule{Owner: o, VMID: vmID, GuestIP: a.Gateway().Addr().Next(), TAP: "bgt-0000" + vmID, Bridge: a.Bridge}
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
