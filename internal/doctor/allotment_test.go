package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"banger/internal/network/allotment"
)

func TestAllotmentCheck(t *testing.T) {
	a := allotment.Default(1000)
	if r := AllotmentCheck("banger1000", "172.30.236.0/24", a, nil).Run(context.Background()); r.Status != Pass {
		t.Errorf("matching config: %+v", r)
	}
	r := AllotmentCheck("banger0", "172.30.0.0/24", a, nil).Run(context.Background())
	if r.Status != Fail || !strings.Contains(r.Message, "banger1000") || !strings.Contains(r.Fix, "bridge_name") {
		t.Errorf("config for another user's bridge: %+v", r)
	}
	if r := AllotmentCheck("x", "y", allotment.Allotment{}, errors.New("helper policy /etc/banger/helper.toml must be owned by root")).Run(context.Background()); r.Status != Fail {
		t.Errorf("unreadable policy: %+v", r)
	}
}
