package nat

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/network"
)

var testOwner = network.Owner{UID: 0, Installation: "0000aaaa"}

func rule(id, ip string) Rule {
	return Rule{Owner: testOwner, VMID: id, GuestIP: netip.MustParseAddr(ip), TAP: "bgt-" + id[:8], Bridge: "banger0"}
}

func mutations(calls [][]string) [][]string {
	var out [][]string
	for _, c := range calls {
		for _, a := range c {
			if a == "-A" || a == "-I" || a == "-D" || a == "-X" || a == "-F" {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func TestApplyCreatesChainsJumpsAndTaggedRules(t *testing.T) {
	f := NewFakeRunner()
	m := New(f)
	if err := m.Apply(context.Background(), rule("0123456789abcdef", "172.30.0.2")); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		table, chain string
		want         []string
	}{
		{"filter", "FORWARD", []string{"-A FORWARD -j BANGER-FWD"}},
		{"nat", "POSTROUTING", []string{"-A POSTROUTING -j BANGER-POST"}},
		{"nat", "BANGER-POST", []string{
			`-A BANGER-POST -s 172.30.0.2/32 ! -o banger0 -m comment --comment "banger:u0:i0000aaaa:vm:0123456789abcdef" -j MASQUERADE`,
		}},
		{"filter", "BANGER-FWD", []string{
			`-A BANGER-FWD -s 172.30.0.2/32 -i banger0 ! -o banger0 -m comment --comment "banger:u0:i0000aaaa:vm:0123456789abcdef" -j ACCEPT`,
			`-A BANGER-FWD -d 172.30.0.2/32 -o banger0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "banger:u0:i0000aaaa:vm:0123456789abcdef" -j ACCEPT`,
		}},
	}
	for _, c := range checks {
		if got := f.Rules(c.table, c.chain); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s/%s rules:\n got %q\nwant %q", c.table, c.chain, got, c.want)
		}
	}
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	f := NewFakeRunner()
	m := New(f)
	ctx := context.Background()
	r := rule("0123456789abcdef", "172.30.0.2")
	if err := m.Apply(ctx, r); err != nil {
		t.Fatal(err)
	}
	before := len(f.Calls())
	if err := m.Apply(ctx, r); err != nil {
		t.Fatal(err)
	}
	if muts := mutations(f.Calls()[before:]); len(muts) != 0 {
		t.Errorf("second Apply changed rules: %q", muts)
	}
	if n := len(f.Rules("filter", "FORWARD")); n != 1 {
		t.Errorf("FORWARD has %d rules, want the one jump", n)
	}
}

func TestApplyReplacesStaleRulesOfTheSameVM(t *testing.T) {
	f := NewFakeRunner()
	m := New(f)
	ctx := context.Background()
	if err := m.Apply(ctx, rule("0123456789abcdef", "172.30.0.2")); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(ctx, rule("0123456789abcdef", "172.30.0.9")); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(append(f.Rules("nat", "BANGER-POST"), f.Rules("filter", "BANGER-FWD")...), "\n")
	if strings.Contains(all, "172.30.0.2/32") || strings.Count(all, "172.30.0.9/32") != 3 {
		t.Errorf("after re-apply with a new address, rules are:\n%s", all)
	}
}

func TestListRemoveReconcile(t *testing.T) {
	f := NewFakeRunner()
	m := New(f)
	ctx := context.Background()
	// Another installation of the same user, and another user, with a
	// VM of the same id: their rules are never listed or removed here.
	sameID := rule("aaaaaaaaaaaaaaaa", "172.30.0.7")
	sameID.Owner.Installation = "0000bbbb"
	otherUser := rule("aaaaaaaaaaaaaaaa", "172.30.236.7")
	otherUser.Owner = network.Owner{UID: 1000, Installation: "1111aaaa"}
	for _, r := range []Rule{rule("aaaaaaaaaaaaaaaa", "172.30.0.2"), rule("bbbbbbbbbbbbbbbb", "172.30.0.3"), rule("cccccccccccccccc", "172.30.0.4"), sameID, otherUser} {
		if err := m.Apply(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// A rule someone else put in our chain, and one of another tool, stay.
	for _, extra := range [][]string{
		{"-t", "filter", "-A", "BANGER-FWD", "-s", "10.9.9.9", "-j", "DROP"},
		{"-t", "filter", "-A", "BANGER-FWD", "-s", "10.9.9.8", "-m", "comment", "--comment", "other:thing", "-j", "ACCEPT"},
	} {
		if _, err := f.Run(ctx, extra...); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := m.List(ctx, testOwner)
	if err != nil || strings.Join(ids, ",") != "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb,cccccccccccccccc" {
		t.Fatalf("List = %v, %v", ids, err)
	}
	if err := m.Remove(ctx, testOwner, "bbbbbbbbbbbbbbbb"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(ctx, testOwner, "bbbbbbbbbbbbbbbb"); err != nil {
		t.Errorf("second Remove = %v, want nil", err)
	}
	if ids, _ := m.List(ctx, testOwner); strings.Join(ids, ",") != "aaaaaaaaaaaaaaaa,cccccccccccccccc" {
		t.Errorf("List after Remove = %v", ids)
	}
	if err := m.Reconcile(ctx, testOwner, map[string]bool{"cccccccccccccccc": true, "dddddddddddddddd": true}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := m.List(ctx, testOwner); strings.Join(ids, ",") != "cccccccccccccccc" {
		t.Errorf("List after Reconcile = %v", ids)
	}
	for _, o := range []network.Owner{sameID.Owner, otherUser.Owner} {
		if ids, _ := m.List(ctx, o); strings.Join(ids, ",") != "aaaaaaaaaaaaaaaa" {
			t.Errorf("rules of %s after our Reconcile = %v", o, ids)
		}
	}
	fwd := f.Rules("filter", "BANGER-FWD")
	if len(fwd) != 8 || !strings.Contains(fwd[6], "10.9.9.9/32") || !strings.Contains(fwd[7], "other:thing") {
		t.Errorf("foreign rules not kept as they were: %q", fwd)
	}
}

func TestListAndRemoveWithoutChains(t *testing.T) {
	f := NewFakeRunner()
	m := New(f)
	ctx := context.Background()
	if ids, err := m.List(ctx, testOwner); err != nil || len(ids) != 0 {
		t.Errorf("List on a fresh host = %v, %v", ids, err)
	}
	if err := m.Remove(ctx, testOwner, "0123456789abcdef"); err != nil {
		t.Errorf("Remove on a fresh host = %v", err)
	}
	if err := m.Reconcile(ctx, testOwner, nil); err != nil {
		t.Errorf("Reconcile on a fresh host = %v", err)
	}
	if muts := mutations(f.Calls()); len(muts) != 0 {
		t.Errorf("read-only operations changed rules: %q", muts)
	}
}

func TestValidationRejectsBeforeRunningIptables(t *testing.T) {
	good := rule("0123456789abcdef", "172.30.0.2")
	bad := map[string]Rule{}
	r := good
	r.VMID = "ABC"
	bad["uppercase id"] = r
	r = good
	r.VMID = "a b"
	bad["id with space"] = r
	r = good
	r.VMID = `x" -j DROP`
	bad["id with quote"] = r
	r = good
	r.GuestIP = netip.MustParseAddr("fd00::2")
	bad["ipv6"] = r
	r = good
	r.GuestIP = netip.Addr{}
	bad["no address"] = r
	r = good
	r.Bridge = "eth0 -j ACCEPT"
	bad["bridge injection"] = r
	r = good
	r.TAP = "a-very-long-tap-name"
	bad["long tap"] = r
	for name, r := range bad {
		f := NewFakeRunner()
		if err := New(f).Apply(context.Background(), r); err == nil {
			t.Errorf("%s: Apply accepted %+v", name, r)
		}
		if n := len(f.Calls()); n != 0 {
			t.Errorf("%s: %d iptables calls before validation failed", name, n)
		}
	}
	if err := New(NewFakeRunner()).Remove(context.Background(), testOwner, "../x"); err == nil {
		t.Errorf("Remove accepted a bad id")
	}
}

func TestRunnerErrorsAreWrapped(t *testing.T) {
	f := NewFakeRunner()
	boom := errors.New("boom")
	f.Hook = func(args []string) error {
		if len(args) > 2 && args[2] == "-A" {
			return boom
		}
		return nil
	}
	err := New(f).Apply(context.Background(), rule("0123456789abcdef", "172.30.0.2"))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "apply nat for vm 0123456789abcdef") {
		t.Errorf("Apply error = %v, want a wrapped boom naming the vm", err)
	}
}

func TestMissingIptables(t *testing.T) {
	_, err := NewRunnerFor("banger-no-such-iptables").Run(context.Background(), "-V")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "install the iptables package") {
		t.Errorf("missing binary error = %v", err)
	}
	_, err = New(NewRunnerFor("banger-no-such-iptables")).Check(context.Background())
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Check with missing iptables = %v", err)
	}
}

func TestForwardingAndCheck(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "sys/net/ipv4/ip_forward")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := NewFakeRunner()
	f.Version = "iptables v1.8.9 (legacy)"
	m := New(f)
	m.procRoot = root
	st, err := m.Check(context.Background())
	if err != nil || st.Backend != "legacy" || st.Forwarding || st.Version != "iptables v1.8.9 (legacy)" {
		t.Errorf("Check = %+v, %v", st, err)
	}
	if err := m.EnableForwarding(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "1\n" {
		t.Errorf("ip_forward = %q, want 1", b)
	}
	// Already on: no write. The kernel prints "1\n"; a bare "1" left here
	// shows whether EnableForwarding wrote again.
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.EnableForwarding(); err != nil {
		t.Errorf("EnableForwarding when already on = %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "1" {
		t.Errorf("EnableForwarding rewrote ip_forward although it was on")
	}
	if on, err := m.Forwarding(); err != nil || !on {
		t.Errorf("Forwarding = %v, %v", on, err)
	}
	m.procRoot = filepath.Join(root, "missing")
	if err := m.EnableForwarding(); err == nil || !strings.Contains(err.Error(), "ip forwarding") {
		t.Errorf("EnableForwarding without /proc = %v", err)
	}
}

func TestSplitRule(t *testing.T) {
	cases := map[string][]string{
		`-A X -s 1.2.3.4/32 -j ACCEPT`:            {"-A", "X", "-s", "1.2.3.4/32", "-j", "ACCEPT"},
		`-A X -m comment --comment "a b" -j DROP`: {"-A", "X", "-m", "comment", "--comment", "a b", "-j", "DROP"},
		`-A X -m comment --comment "q\"\\" -j D`:  {"-A", "X", "-m", "comment", "--comment", `q"\`, "-j", "D"},
		`  -N   BANGER-FWD  `:                     {"-N", "BANGER-FWD"},
		``:                                        nil,
	}
	for in, want := range cases {
		got, err := splitRule(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitRule(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := splitRule(`-A X --comment "open`); err == nil {
		t.Errorf("unterminated quote accepted")
	}
}

func TestConcurrentAppliesAddOneJump(t *testing.T) {
	f := NewFakeRunner()
	// Widen the window between finding the jump missing and adding it.
	f.Hook = func(args []string) error {
		if slices.Contains(args, "-I") {
			time.Sleep(time.Millisecond)
		}
		return nil
	}
	m := New(f)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("%016x", i)
			if err := m.Apply(context.Background(), rule(id, fmt.Sprintf("172.30.0.%d", i+2))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if fwd, post := f.Rules("filter", "FORWARD"), f.Rules("nat", "POSTROUTING"); len(fwd) != 1 || len(post) != 1 {
		t.Errorf("jumps after concurrent applies: FORWARD %q, POSTROUTING %q", fwd, post)
	}
	if ids, _ := m.List(context.Background(), testOwner); len(ids) != 16 {
		t.Errorf("List = %d vms, want 16", len(ids))
	}
}

// The helper runs iptables as root under sudo: a program of that name in
// the caller's PATH must never be what runs.
func TestRunnerIgnoresCallerPATH(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	fake := "#!/bin/sh\necho \"$@\" > " + marker + "\n"
	for _, name := range []string{"iptables", "banger-test-iptables"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	_, err := NewRunnerFor("banger-test-iptables").Run(context.Background(), "-V")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("a program found only on the caller's PATH = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("the runner executed %s from the caller's PATH", filepath.Join(dir, "banger-test-iptables"))
	}
}
