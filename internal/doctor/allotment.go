package doctor

import (
	"context"
	"fmt"

	"banger/internal/network/allotment"
)

// AllotmentCheck compares the bridge and subnet in the user's config with
// what the privileged helper's policy allots them (a: the allotment, or
// err reading the policy). A mismatch fails: the helper would refuse every
// bridge, TAP and NAT change.
func AllotmentCheck(bridge, cidr string, a allotment.Allotment, err error) Check {
	return Func{CheckName: "network allotment", CheckGroup: "network", Fn: func(context.Context) (Status, string, string) {
		if err != nil {
			return Fail, err.Error(), "fix or remove the helper policy; it must be owned by root and writable by no one else"
		}
		if bridge == a.Bridge && cidr == a.Subnet.String() {
			return Pass, fmt.Sprintf("bridge %s with %s (%s)", bridge, cidr, a.Source), ""
		}
		return Fail, fmt.Sprintf("config asks for bridge %s with %s, but the helper allots this user %s", bridge, cidr, a),
			fmt.Sprintf("remove bridge_name and bridge_cidr from ~/.config/banger/config.toml (or set them to %s and %s); an administrator changes allotments in %s", a.Bridge, a.Subnet, allotment.DefaultPath)
	}}
}
