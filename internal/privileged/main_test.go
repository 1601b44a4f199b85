package privileged

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"banger/internal/network"
)

type run struct {
	code  int
	reply response
	raw   string
}

func runHelper(t *testing.T, h helper, stdin string, args ...string) run {
	t.Helper()
	var out bytes.Buffer
	code := h.main(context.Background(), args, strings.NewReader(stdin), &out)
	var r response
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("helper output %q is not one JSON object: %v", out.String(), err)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("helper output %q is not exactly one line", out.String())
	}
	return run{code, r, out.String()}
}

func rootHelper(f *Fake, env map[string]string) helper {
	return helper{
		ops:    f,
		euid:   0,
		getenv: func(k string) string { return env[k] },
		inspect: func(name string) (network.TAPInfo, error) {
			t, ok := f.TAP(name)
			if !ok {
				return network.TAPInfo{}, errors.New("no such tap")
			}
			return network.TAPInfo{Name: name, UID: t.UID, GID: t.GID}, nil
		},
	}
}

func TestHelperRunsEachOperation(t *testing.T) {
	f := NewFake()
	h := rootHelper(f, nil)
	steps := []struct{ op, in string }{
		{"ensure-bridge", `{"name":"banger0","addr":"172.30.0.1/24"}`},
		{"create-tap", `{"name":"bgt-0000aaaa","uid":1000,"gid":1000,"bridge":"banger0"}`},
		{"create-tap", `{"name":"bgt-0000bbbb","uid":1000,"gid":1000,"bridge":"banger0"}`},
		{"delete-tap", `{"name":"bgt-0000bbbb"}`},
		{"apply-nat", `{"vm_id":"aaaa","guest_ip":"172.30.0.2","tap":"bgt-0000aaaa","bridge":"banger0"}`},
		{"apply-nat", `{"vm_id":"bbbb","guest_ip":"172.30.0.3","tap":"bgt-0000bbbb","bridge":"banger0"}`},
		{"apply-nat", `{"vm_id":"cccc","guest_ip":"172.30.0.4","tap":"bgt-0000cccc","bridge":"banger0"}`},
		{"remove-nat", `{"vm_id":"bbbb"}`},
		{"reconcile-nat", `{"keep":["aaaa"]}`},
		{"enable-forwarding", ``},
	}
	for _, s := range steps {
		if r := runHelper(t, h, s.in, s.op); r.code != 0 || !r.reply.OK {
			t.Fatalf("%s %s: exit %d, reply %s", s.op, s.in, r.code, r.raw)
		}
	}
	if addrs, ok := f.Bridge("banger0"); !ok || len(addrs) != 1 || addrs[0].String() != "172.30.0.1/24" {
		t.Errorf("bridge = %v, %v", addrs, ok)
	}
	if tap, ok := f.TAP("bgt-0000aaaa"); !ok || tap != (FakeTAP{UID: 1000, GID: 1000, Bridge: "banger0"}) {
		t.Errorf("tap = %+v, %v", tap, ok)
	}
	if _, ok := f.TAP("bgt-0000bbbb"); ok {
		t.Errorf("deleted tap still exists")
	}
	if ids, fwd := f.NAT(); strings.Join(ids, ",") != "aaaa" || !fwd {
		t.Errorf("nat = %v forwarding %v; want [aaaa] true", ids, fwd)
	}
}

func TestHelperRefusesBadRequests(t *testing.T) {
	cases := []struct {
		name, in string
		args     []string
		want     string
	}{
		{"no operation", `{}`, nil, "usage"},
		{"two operations", `{}`, []string{"ping", "ping"}, "usage"},
		{"unknown operation", `{}`, []string{"format-disk"}, "unknown privileged operation"},
		{"unknown field", `{"name":"banger0","addr":"172.30.0.1/24","mtu":9000}`, []string{"ensure-bridge"}, "unknown field"},
		{"trailing data", `{"name":"x","addr":"172.30.0.1/24"} {}`, []string{"ensure-bridge"}, "trailing data"},
		{"not json", `name=banger0`, []string{"ensure-bridge"}, "decode request"},
		{"network address", `{"name":"banger0","addr":"172.30.0.0/24"}`, []string{"ensure-bridge"}, "network address"},
		{"ipv6 bridge", `{"name":"banger0","addr":"fd00::1/64"}`, []string{"ensure-bridge"}, "IPv4"},
		{"host prefix", `{"name":"banger0","addr":"172.30.0.1/32"}`, []string{"ensure-bridge"}, "between /8 and /30"},
		{"long name", `{"name":"bgt-0123456789ab","uid":1,"gid":1,"bridge":"banger0"}`, []string{"create-tap"}, "at most 15"},
		{"name injection", `{"name":"eth0 down","uid":1,"gid":1,"bridge":"banger0"}`, []string{"create-tap"}, "may only contain"},
		{"negative uid", `{"name":"bgt-1","uid":-1,"gid":1,"bridge":"banger0"}`, []string{"create-tap"}, "out of range"},
		{"no bridge", `{"name":"bgt-1","uid":1,"gid":1}`, []string{"create-tap"}, "bridge"},
		{"delete with extras", `{"name":"bgt-1","bridge":"banger0"}`, []string{"delete-tap"}, "only a name"},
		{"bad vm id", `{"vm_id":"-j ACCEPT","guest_ip":"172.30.0.2","tap":"t","bridge":"b"}`, []string{"apply-nat"}, "vm id"},
		{"nat without ip", `{"vm_id":"aaaa","tap":"t","bridge":"b"}`, []string{"apply-nat"}, "guest address"},
		{"remove with extras", `{"vm_id":"aaaa","bridge":"b"}`, []string{"remove-nat"}, "only vm_id"},
		{"bad keep id", `{"keep":["aaaa","BAD"]}`, []string{"reconcile-nat"}, "vm id"},
		{"forwarding with body", `{"value":0}`, []string{"enable-forwarding"}, "unknown field"},
		{"oversized", `{"keep":["` + strings.Repeat("a", maxRequest) + `"]}`, []string{"reconcile-nat"}, "larger than"},
	}
	for _, c := range cases {
		f := NewFake()
		r := runHelper(t, rootHelper(f, nil), c.in, c.args...)
		if r.code != 2 || r.reply.OK || !strings.Contains(r.reply.Error, c.want) {
			t.Errorf("%s: exit %d reply %.200s; want exit 2 mentioning %q", c.name, r.code, r.raw, c.want)
		}
		if calls := f.Calls(); len(calls) != 0 {
			t.Errorf("%s: operations ran before the request was refused: %v", c.name, calls)
		}
	}
}

func TestHelperNeedsRootExceptForPing(t *testing.T) {
	f := NewFake()
	h := rootHelper(f, nil)
	h.euid = 1000
	r := runHelper(t, h, `{"name":"banger0","addr":"172.30.0.1/24"}`, "ensure-bridge")
	if r.code != 2 || !strings.Contains(r.reply.Error, "must run as root") {
		t.Errorf("non-root ensure-bridge: exit %d %s", r.code, r.raw)
	}
	r = runHelper(t, h, ``, "ping")
	if r.code != 0 || r.reply.EUID == nil || *r.reply.EUID != 1000 {
		t.Errorf("ping: exit %d %s; want euid 1000", r.code, r.raw)
	}
	if len(f.Calls()) != 0 {
		t.Errorf("operations ran: %v", f.Calls())
	}
}

func TestHelperUnderSudoActsOnlyForTheCaller(t *testing.T) {
	f := NewFake()
	h := rootHelper(f, map[string]string{"SUDO_UID": "1000", "SUDO_GID": "100"})
	if r := runHelper(t, h, `{"name":"banger0","addr":"172.30.0.1/24"}`, "ensure-bridge"); r.code != 0 {
		t.Fatal(r.raw)
	}
	r := runHelper(t, h, `{"name":"bgt-1","uid":0,"gid":0,"bridge":"banger0"}`, "create-tap")
	if r.code != 2 || !strings.Contains(r.reply.Error, "not the invoking user 1000:100") {
		t.Errorf("create a root-owned tap under sudo: exit %d %s", r.code, r.raw)
	}
	if r := runHelper(t, h, `{"name":"bgt-1","uid":1000,"gid":100,"bridge":"banger0"}`, "create-tap"); r.code != 0 {
		t.Errorf("create own tap under sudo: %s", r.raw)
	}
	// Another user's TAP, made by root directly.
	if err := f.CreateTAP(context.Background(), "bgt-2", 2000, 2000, "banger0"); err != nil {
		t.Fatal(err)
	}
	r = runHelper(t, h, `{"name":"bgt-2"}`, "delete-tap")
	if r.code != 2 || !strings.Contains(r.reply.Error, "not the invoking user") {
		t.Errorf("delete another user's tap: exit %d %s", r.code, r.raw)
	}
	if _, ok := f.TAP("bgt-2"); !ok {
		t.Errorf("another user's tap was deleted")
	}
	for _, name := range []string{"bgt-1", "bgt-missing"} {
		if r := runHelper(t, h, `{"name":"`+name+`"}`, "delete-tap"); r.code != 0 {
			t.Errorf("delete %s under sudo: %s", name, r.raw)
		}
	}
}

func TestHelperReportsOperationFailure(t *testing.T) {
	f := NewFake()
	r := runHelper(t, rootHelper(f, nil), `{"name":"bgt-1","uid":1,"gid":1,"bridge":"banger0"}`, "create-tap")
	if r.code != 1 || r.reply.OK || r.reply.Error != "create tap bgt-1: bridge banger0 does not exist" {
		t.Errorf("exit %d reply %s", r.code, r.raw)
	}
}
