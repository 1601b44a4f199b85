package privileged

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/execx"
)

// The test binary doubles as the privileged helper: with BANGER_PRIV_HELPER
// set it behaves like `bangerd priv <op>`, either in-process against a Fake
// ("fake", no root needed) or for real through Main ("real").
func TestMain(m *testing.M) {
	if mode := os.Getenv("BANGER_PRIV_HELPER"); mode != "" {
		if len(os.Args) < 2 || os.Args[1] != "priv" {
			fmt.Fprintln(os.Stderr, "helper mode wants: priv <op>")
			os.Exit(2)
		}
		ctx, args := context.Background(), os.Args[2:]
		if mode == "real" {
			os.Exit(Main(ctx, args, os.Stdin, os.Stdout))
		}
		h := helper{euid: 0, getenv: os.Getenv, backend: func() backend { return NewFake() }}
		os.Exit(h.main(ctx, args, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

func selfExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestSudoClientTalksToHelperProcess(t *testing.T) {
	s := &Sudo{Exe: selfExe(t), Prefix: []string{}, Env: []string{"BANGER_PRIV_HELPER=fake"}}
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.EnsureBridge(ctx, "banger0", netip.MustParsePrefix("172.30.0.1/24"), rootOwner, true); err != nil {
		t.Errorf("EnsureBridge: %v", err)
	}
	// Each call is a fresh helper process with an empty Fake, so the
	// bridge is gone again: a real operation error must come back intact.
	err := s.CreateTAP(ctx, "bgt-0000aaaa", rootOwner, 0, "banger0")
	var he *HelperError
	if !errors.As(err, &he) || he.Op != "create-tap" || err.Error() != "create tap bgt-0000aaaa: bridge banger0 does not exist" {
		t.Errorf("CreateTAP error = %#v", err)
	}
	for name, call := range map[string]func() error{
		"DeleteTAP":    func() error { return s.DeleteTAP(ctx, "bgt-0000aaaa", rootOwner) },
		"RemoveNAT":    func() error { return s.RemoveNAT(ctx, rootOwner, "aaaa") },
		"ReconcileNAT": func() error { return s.ReconcileNAT(ctx, rootOwner, nil) },
	} {
		if err := call(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The client does not pre-validate; the helper refuses.
	err = s.CreateTAP(ctx, "bad name", rootOwner, 0, "banger0")
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "may only contain") {
		t.Errorf("CreateTAP with a bad name = %v", err)
	}
}

func TestSudoRefusalIsRecognised(t *testing.T) {
	// Stands in for `sudo -n` without a rule: sudo's own message, exit 1.
	s := &Sudo{Exe: "/usr/local/bin/bangerd", Prefix: []string{"sh", "-c", `echo "sudo: a password is required" >&2; exit 1`, "sudo"}}
	err := s.EnsureBridge(context.Background(), "banger0", netip.MustParsePrefix("172.30.0.1/24"), rootOwner, true)
	if !errors.Is(err, ErrSudoDenied) || !strings.Contains(err.Error(), "privileged ensure-bridge") {
		t.Errorf("refused sudo = %v, want ErrSudoDenied naming the operation", err)
	}
	s.Prefix = []string{"sh", "-c", `echo garbage; exit 3`, "sudo"}
	err = s.Ping(context.Background())
	var xe *execx.Error
	if errors.Is(err, ErrSudoDenied) || !errors.As(err, &xe) || xe.ExitCode != 3 {
		t.Errorf("a failing helper without a reply = %v, want the exec error", err)
	}
	s.Prefix = []string{"sh", "-c", `echo '{"ok":true,"euid":1000}'`, "sudo"}
	if err := s.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "does not run as root") {
		t.Errorf("ping answered by a non-root helper = %v", err)
	}
}

func TestSudoersRule(t *testing.T) {
	const defaults = `env_reset,secure_path="/usr/sbin:/usr/bin:/sbin:/bin"`
	cases := map[[2]string]string{
		{"alice", "/usr/libexec/banger/bangerd"}: "Defaults!/usr/libexec/banger/bangerd " + defaults + "\n" +
			`alice ALL=(root) NOPASSWD: /usr/libexec/banger/bangerd priv *`,
		{"bob.smith", "/opt/my tools/bangerd"}: `Defaults!/opt/my\ tools/bangerd ` + defaults + "\n" +
			`bob.smith ALL=(root) NOPASSWD: /opt/my\ tools/bangerd priv *`,
		{"carol", "/opt/a,b:c=d/bangerd"}: `Defaults!/opt/a\,b\:c\=d/bangerd ` + defaults + "\n" +
			`carol ALL=(root) NOPASSWD: /opt/a\,b\:c\=d/bangerd priv *`,
		{"#4242", "/usr/libexec/banger/bangerd"}: "Defaults!/usr/libexec/banger/bangerd " + defaults + "\n" +
			`#4242 ALL=(root) NOPASSWD: /usr/libexec/banger/bangerd priv *`,
		{`dave@corp`, "/usr/bin/bangerd"}: "Defaults!/usr/bin/bangerd " + defaults + "\n" +
			`"dave@corp" ALL=(root) NOPASSWD: /usr/bin/bangerd priv *`,
	}
	for in, want := range cases {
		got := sudoersRule(in[0], in[1])
		if got != want {
			t.Errorf("sudoersRule(%q, %q) =\n %s\nwant\n %s", in[0], in[1], got, want)
		}
	}
	visudo, err := execx.LookPath("visudo")
	if err != nil {
		t.Logf("visudo not installed; syntax not checked by sudo itself")
	} else {
		for in, rule := range cases {
			if strings.Contains(in[0], "@") {
				continue // a quoted name must also exist to pass visudo
			}
			p := filepath.Join(t.TempDir(), "banger")
			if err := os.WriteFile(p, []byte(rule+"\n"), 0o440); err != nil {
				t.Fatal(err)
			}
			if _, err := execx.Run(context.Background(), visudo, "-c", "-q", "-f", p); err != nil {
				t.Errorf("visudo rejects %q: %v", rule, err)
			}
		}
	}

	// The exported form refuses a helper that is not safe to name.
	unsafe := filepath.Join(t.TempDir(), "bangerd")
	if err := os.WriteFile(unsafe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if rule, err := SudoersRule("alice", unsafe); err == nil || rule != "" {
		t.Errorf("SudoersRule for %s = %q, %v; want a refusal and no rule", unsafe, rule, err)
	}
	sh, err := execx.SystemTool("sh")
	if err != nil {
		t.Fatal(err)
	}
	if rule, err := SudoersRule("alice", sh); err != nil || !strings.Contains(rule, "NOPASSWD: "+sh+" priv *") {
		t.Errorf("SudoersRule for %s = %q, %v", sh, rule, err)
	}
}

// bangerd does not hand an untrusted helper to sudo, whatever sudoers says.
func TestSudoRefusesUnsafeHelper(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "bangerd")
	marker := exe + ".ran"
	if err := os.WriteFile(exe, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := (&Sudo{Exe: exe}).EnsureBridge(context.Background(), "banger0", netip.MustParsePrefix("172.30.0.1/24"), rootOwner, true)
	if err == nil || !strings.Contains(err.Error(), "privileged ensure-bridge: helper "+exe+" is unsafe for sudo") {
		t.Errorf("EnsureBridge through %s = %v, want a refusal", exe, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the unsafe helper was run")
	}
	err = (&Sudo{Exe: "/usr/libexec/banger-no-such/bangerd"}).Ping(context.Background())
	if !errors.Is(err, ErrHelperNotInstalled) {
		t.Errorf("Ping through a missing helper = %v, want ErrHelperNotInstalled", err)
	}
}
