package privileged

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"banger/internal/network"
)

var (
	rootOwner  = network.Owner{UID: 0, Installation: "0000aaaa"}
	aliceOwner = network.Owner{UID: 1000, Installation: "1111aaaa"}
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

// fakeHelper is the helper as root on f, with env as its environment (set
// SUDO_UID and SUDO_GID to act as if invoked through sudo).
func fakeHelper(f *Fake, env map[string]string) helper {
	return helper{euid: 0, getenv: func(k string) string { return env[k] }, backend: func() backend { return f }}
}

var asAlice = map[string]string{"SUDO_UID": "1000", "SUDO_GID": "1000"}

func TestHelperRunsEachOperation(t *testing.T) {
	f := NewFake()
	h := fakeHelper(f, asAlice)
	o := `"owner":{"uid":1000,"installation":"1111aaaa"}`
	steps := []struct{ op, in string }{
		{"ensure-bridge", `{"name":"banger1000","gateway":"172.30.236.1/24",` + o + `}`},
		{"create-tap", `{"name":"bgt-0000aaaa",` + o + `,"gid":1000,"bridge":"banger1000"}`},
		{"create-tap", `{"name":"bgt-0000bbbb",` + o + `,"gid":1000,"bridge":"banger1000"}`},
		{"delete-tap", `{"name":"bgt-0000bbbb",` + o + `}`},
		{"create-tap", `{"name":"bgt-0000cccc",` + o + `,"gid":1000,"bridge":"banger1000"}`},
		{"bind-tap", `{"name":"bgt-0000aaaa","mac":"02:00:00:00:00:02","ip":"172.30.236.2",` + o + `}`},
		{"bind-tap", `{"name":"bgt-0000cccc","mac":"02:00:00:00:00:04","ip":"172.30.236.4",` + o + `}`},
		{"apply-nat", `{"vm_id":"aaaa","guest_ip":"172.30.236.2","tap":"bgt-0000aaaa","bridge":"banger1000",` + o + `}`},
		{"apply-nat", `{"vm_id":"cccc","guest_ip":"172.30.236.4","tap":"bgt-0000cccc","bridge":"banger1000",` + o + `}`},
		{"remove-nat", `{"vm_id":"cccc",` + o + `}`},
		{"reconcile-nat", `{"keep":["aaaa"],` + o + `}`},
	}
	for _, s := range steps {
		if r := runHelper(t, h, s.in, s.op); r.code != 0 || !r.reply.OK {
			t.Fatalf("%s %s: exit %d, reply %s", s.op, s.in, r.code, r.raw)
		}
	}
	if br, ok := f.Bridge("banger1000"); !ok || br.Gateway.String() != "172.30.236.1/24" || br.Owner != aliceOwner {
		t.Errorf("bridge = %+v, %v", br, ok)
	}
	if tap, ok := f.TAP("bgt-0000aaaa"); !ok || tap != (FakeTAP{Owner: aliceOwner, GID: 1000, Bridge: "banger1000"}) {
		t.Errorf("tap = %+v, %v", tap, ok)
	}
	if _, ok := f.TAP("bgt-0000bbbb"); ok {
		t.Errorf("deleted tap still exists")
	}
	if b, ok, _ := f.LookupBinding(context.Background(), "bgt-0000aaaa"); !ok || b.IP.String() != "172.30.236.2" || b.Tag != aliceOwner.Tag() {
		t.Errorf("binding = %+v, %v", b, ok)
	}
	if rules, fwd := f.NAT(); strings.Join(rules, ",") != "1000/aaaa" || !fwd {
		t.Errorf("nat = %v forwarding %v; want [1000/aaaa] true", rules, fwd)
	}
}

func TestHelperRefusesBadRequests(t *testing.T) {
	o := `"owner":{"uid":1000,"installation":"1111aaaa"}`
	cases := []struct {
		name, in string
		args     []string
		want     string
	}{
		{"no operation", `{}`, nil, "usage"},
		{"two operations", `{}`, []string{"ping", "ping"}, "usage"},
		{"unknown operation", `{}`, []string{"format-disk"}, "unknown privileged operation"},
		{"unknown field", `{"name":"banger1000","gateway":"172.30.236.1/24","mtu":9000}`, []string{"ensure-bridge"}, "unknown field"},
		{"trailing data", `{"name":"x"} {}`, []string{"ensure-bridge"}, "trailing data"},
		{"not json", `name=banger0`, []string{"ensure-bridge"}, "decode request"},
		{"foreign bridge", `{"name":"docker0","gateway":"172.30.236.1/24",` + o + `}`, []string{"ensure-bridge"}, `bridge "docker0" is not yours`},
		{"root's bridge", `{"name":"banger0","gateway":"172.30.0.1/24",` + o + `}`, []string{"ensure-bridge"}, `bridge "banger0" is not yours`},
		{"foreign subnet", `{"name":"banger1000","gateway":"8.8.8.9/30",` + o + `}`, []string{"ensure-bridge"}, "address 8.8.8.9/30 is not yours"},
		{"other uid", `{"name":"banger1000","gateway":"172.30.236.1/24","owner":{"uid":0,"installation":"1111aaaa"}}`, []string{"ensure-bridge"}, "is not the caller"},
		{"bad installation", `{"name":"banger1000","gateway":"172.30.236.1/24","owner":{"uid":1000,"installation":"../x"}}`, []string{"ensure-bridge"}, "installation id"},
		{"long name", `{"name":"bgt-0123456789ab",` + o + `,"gid":1000,"bridge":"banger1000"}`, []string{"create-tap"}, "at most 15"},
		{"name injection", `{"name":"eth0 down",` + o + `,"gid":1000,"bridge":"banger1000"}`, []string{"create-tap"}, "may only contain"},
		{"not a banger tap", `{"name":"eth0",` + o + `,"gid":1000,"bridge":"banger1000"}`, []string{"create-tap"}, `does not start with "bgt-"`},
		{"tap for root", `{"name":"bgt-1","owner":{"uid":0,"installation":"1111aaaa"},"gid":0,"bridge":"banger1000"}`, []string{"create-tap"}, "is not the caller"},
		{"tap for another group", `{"name":"bgt-1",` + o + `,"gid":0,"bridge":"banger1000"}`, []string{"create-tap"}, "group 0 is not the caller's"},
		{"tap on docker0", `{"name":"bgt-1",` + o + `,"gid":1000,"bridge":"docker0"}`, []string{"create-tap"}, `bridge "docker0" is not yours`},
		{"delete eth0", `{"name":"eth0",` + o + `}`, []string{"delete-tap"}, `does not start with "bgt-"`},
		{"delete with extras", `{"name":"bgt-1","bridge":"banger1000",` + o + `}`, []string{"delete-tap"}, "only a name"},
		{"bad vm id", `{"vm_id":"-j ACCEPT","guest_ip":"172.30.236.2","tap":"bgt-1","bridge":"banger1000",` + o + `}`, []string{"apply-nat"}, "vm id"},
		{"nat without ip", `{"vm_id":"aaaa","tap":"bgt-1","bridge":"banger1000",` + o + `}`, []string{"apply-nat"}, "guest address"},
		{"nat for a foreign address", `{"vm_id":"aaaa","guest_ip":"192.168.1.10","tap":"bgt-1","bridge":"banger1000",` + o + `}`, []string{"apply-nat"}, "192.168.1.10 is not a guest address"},
		{"nat for the gateway", `{"vm_id":"aaaa","guest_ip":"172.30.236.1","tap":"bgt-1","bridge":"banger1000",` + o + `}`, []string{"apply-nat"}, "is not a guest address"},
		{"nat on a foreign interface", `{"vm_id":"aaaa","guest_ip":"172.30.236.2","tap":"bgt-1","bridge":"eth0",` + o + `}`, []string{"apply-nat"}, `bridge "eth0" is not yours`},
		{"nat on a missing tap", `{"vm_id":"aaaa","guest_ip":"172.30.236.2","tap":"bgt-1","bridge":"banger1000",` + o + `}`, []string{"apply-nat"}, "no such device"},
		{"bind a foreign address", `{"name":"bgt-1","mac":"02:00:00:00:00:02","ip":"172.30.0.2",` + o + `}`, []string{"bind-tap"}, "is not a guest address"},
		{"bind a bad mac", `{"name":"bgt-1","mac":"nope","ip":"172.30.236.2",` + o + `}`, []string{"bind-tap"}, "mac"},
		{"bind a missing tap", `{"name":"bgt-1","mac":"02:00:00:00:00:02","ip":"172.30.236.2",` + o + `}`, []string{"bind-tap"}, "no such device"},
		{"remove with extras", `{"vm_id":"aaaa","bridge":"b",` + o + `}`, []string{"remove-nat"}, "only vm_id"},
		{"remove another user's", `{"vm_id":"aaaa","owner":{"uid":0,"installation":"0000aaaa"}}`, []string{"remove-nat"}, "is not the caller"},
		{"reconcile another user's", `{"keep":[],"owner":{"uid":0,"installation":"0000aaaa"}}`, []string{"reconcile-nat"}, "is not the caller"},
		{"bad keep id", `{"keep":["aaaa","BAD"],` + o + `}`, []string{"reconcile-nat"}, "vm id"},
		{"oversized", `{"keep":["` + strings.Repeat("a", maxRequest) + `"]}`, []string{"reconcile-nat"}, "larger than"},
	}
	for _, c := range cases {
		f := NewFake()
		r := runHelper(t, fakeHelper(f, asAlice), c.in, c.args...)
		if r.code != 2 || r.reply.OK || !strings.Contains(r.reply.Error, c.want) {
			t.Errorf("%s: exit %d reply %.300s; want exit 2 mentioning %q", c.name, r.code, r.raw, c.want)
		}
		if calls := f.Calls(); len(calls) != 0 {
			t.Errorf("%s: operations ran before the request was refused: %v", c.name, calls)
		}
	}
}

func TestHelperNeedsRootExceptForPing(t *testing.T) {
	f := NewFake()
	h := fakeHelper(f, nil)
	h.euid = 1000
	r := runHelper(t, h, `{"name":"banger0","gateway":"172.30.0.1/24"}`, "ensure-bridge")
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

// TestHelperDeletesOnlyTheCallersObjects: under sudo, another user's TAP,
// another installation's TAP and another user's NAT rules survive every
// request of the caller, reconcile included.
func TestHelperDeletesOnlyTheCallersObjects(t *testing.T) {
	f := NewFake()
	bob := network.Owner{UID: 2000, Installation: "2222aaaa"}
	aliceOther := network.Owner{UID: 1000, Installation: "1111bbbb"}
	ctx := context.Background()
	// Objects made by other callers directly on the backend.
	f.EnsureBridge(context.Background(), "banger1000", gatewayFor(aliceOwner), aliceOwner, true)
	f.CreateTAP(context.Background(), "bgt-0000b0b0", bob, 2000, "banger1000")
	f.CreateTAP(context.Background(), "bgt-0000a0a0", aliceOther, 1000, "banger1000")
	f.CreateTAP(context.Background(), "bgt-0000a1a1", aliceOwner, 1000, "banger1000")
	f.ApplyNAT(ctx, natRuleFor(bob, "b0b0"))

	h := fakeHelper(f, asAlice)
	o := `"owner":{"uid":1000,"installation":"1111aaaa"}`
	for tap, want := range map[string]string{"bgt-0000b0b0": "belongs to uid 2000", "bgt-0000a0a0": "another banger installation"} {
		r := runHelper(t, h, `{"name":"`+tap+`",`+o+`}`, "delete-tap")
		if r.code != 2 || !strings.Contains(r.reply.Error, want) {
			t.Errorf("delete %s: exit %d %s; want a refusal mentioning %q", tap, r.code, r.raw, want)
		}
		if _, ok := f.TAP(tap); !ok {
			t.Errorf("%s was deleted", tap)
		}
	}
	r := runHelper(t, h, `{"vm_id":"aaaa","guest_ip":"172.30.236.2","tap":"bgt-0000a0a0","bridge":"banger1000",`+o+`}`, "apply-nat")
	if r.code != 2 || !strings.Contains(r.reply.Error, "not one of this installation's taps") {
		t.Errorf("nat on another installation's tap: exit %d %s", r.code, r.raw)
	}
	if r := runHelper(t, h, `{"keep":[],`+o+`}`, "reconcile-nat"); r.code != 0 {
		t.Fatal(r.raw)
	}
	if rules, _ := f.NAT(); strings.Join(rules, ",") != "2000/b0b0" {
		t.Errorf("another user's rule did not survive reconcile: %v", rules)
	}
	if r := runHelper(t, h, `{"name":"bgt-0000a1a1",`+o+`}`, "delete-tap"); r.code != 0 {
		t.Errorf("delete own tap: %s", r.raw)
	}
}

func TestHelperReportsOperationFailure(t *testing.T) {
	f := NewFake()
	r := runHelper(t, fakeHelper(f, asAlice), `{"name":"bgt-1","owner":{"uid":1000,"installation":"1111aaaa"},"gid":1000,"bridge":"banger1000"}`, "create-tap")
	if r.code != 1 || r.reply.OK || r.reply.Error != "create tap bgt-1: bridge banger1000 does not exist" {
		t.Errorf("exit %d reply %s", r.code, r.raw)
	}
}

func TestHelperConfigFromEnvOnlyWithoutSudo(t *testing.T) {
	p := t.TempDir() + "/helper.toml"
	writeFile(t, p, "[users.1000]\nbridge_name = \"bgr-test\"\nbridge_cidr = \"10.99.0.0/24\"\n[users.0]\nbridge_name = \"bgr-root\"\nbridge_cidr = \"10.98.0.0/24\"\n")
	c, err := callerFrom(func(k string) string { return map[string]string{"BANGER_HELPER_CONFIG": p}[k] }, 0, 0)
	if err != nil || c.Allot.Bridge != "bgr-root" {
		t.Errorf("without sudo the env policy applies: %+v %v", c, err)
	}
	env := map[string]string{"BANGER_HELPER_CONFIG": p, "SUDO_UID": "1000", "SUDO_GID": "1000"}
	c, err = callerFrom(func(k string) string { return env[k] }, 0, 0)
	if err != nil || c.Allot.Bridge != "banger1000" || c.UID != 1000 {
		t.Errorf("under sudo the caller must not pick its policy: %+v %v", c, err)
	}
}
