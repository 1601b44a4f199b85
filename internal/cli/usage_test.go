package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/disk"
)

func runUsage(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// No daemon is involved: HOME and XDG dirs point nowhere useful, and
	// every case here fails (or prints help) before a client is made.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errb})
	return code, out.String(), errb.String()
}

// groups returns the path of every command that groups others.
func groups(c *cobra.Command, path []string) [][]string {
	var out [][]string
	if c.HasAvailableSubCommands() {
		out = append(out, path)
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			out = append(out, groups(sub, append(append([]string(nil), path...), sub.Name()))...)
		}
	}
	return out
}

func TestEveryGroupRefusesAnUnknownOrMissingSubcommand(t *testing.T) {
	root := newRoot(IO{})
	all := groups(root, nil)
	if len(all) < 4 {
		t.Fatalf("found only %d groups: %v", len(all), all)
	}
	for _, path := range all {
		name := strings.Join(append([]string{"banger"}, path...), " ")
		code, out, errOut := runUsage(t, append(append([]string(nil), path...), "frobnicate")...)
		if code != ExitUsage || !strings.Contains(errOut, `unknown command "frobnicate" for "`+name+`"`) {
			t.Errorf("%s frobnicate: exit %d, stdout %q, stderr %q; want exit 2 naming frobnicate", name, code, out, errOut)
		}
		code, _, errOut = runUsage(t, path...)
		if code != ExitUsage || !strings.Contains(errOut, name+" needs a subcommand") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 asking for a subcommand", name, code, errOut)
		}
	}
}

func TestUnknownSubcommandCases(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"vm", "frobnicate"}, `unknown command "frobnicate" for "banger vm"`},
		{[]string{"vm", "hibernate", "x"}, `unknown command "hibernate" for "banger vm"`},
		{[]string{"daemon", "stp"}, "did you mean stop?"},
		{[]string{"help", "vm", "frobnicate"}, `unknown command "frobnicate" for "banger vm"`},
		{[]string{"vm", "list", "extra"}, `unknown command "extra" for "banger vm list"`},
	} {
		code, _, errOut := runUsage(t, tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("banger %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
	for _, args := range [][]string{{"--help"}, {"vm", "--help"}, {"help", "vm"}, {"help"}} {
		if code, out, errOut := runUsage(t, args...); code != ExitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("banger %s: exit %d, stdout %q, stderr %q; want help and exit 0", strings.Join(args, " "), code, out, errOut)
		}
	}
}

// vm create's shown defaults are the daemon's, and read back as them.
func TestCreateHelpDefaultsAreTheDaemons(t *testing.T) {
	code, out, _ := runUsage(t, "vm", "create", "--help")
	if code != ExitOK {
		t.Fatalf("vm create --help: exit %d", code)
	}
	cmd, _, err := newRoot(IO{}).Find([]string{"vm", "create"})
	if err != nil {
		t.Fatal(err)
	}
	f := cmd.Flags()
	mem, err := parseMemory(f.Lookup("memory").DefValue)
	if err != nil || mem != api.DefaultMemoryMiB {
		t.Errorf("--memory default %q reads as %d (%v), want %d", f.Lookup("memory").DefValue, mem, err, api.DefaultMemoryMiB)
	}
	size, err := disk.ParseSize(f.Lookup("disk-size").DefValue)
	if err != nil || size != api.DefaultDiskSize {
		t.Errorf("--disk-size default %q reads as %d (%v), want %d", f.Lookup("disk-size").DefValue, size, err, api.DefaultDiskSize)
	}
	if n, err := parseVCPU(f.Lookup("vcpu").DefValue); err != nil || n != api.DefaultVCPUs {
		t.Errorf("--vcpu default reads as %d (%v), want %d", n, err, api.DefaultVCPUs)
	}
	for _, flag := range []string{"memory", "disk-size", "vcpu"} {
		if !strings.Contains(out, "--"+flag) || !strings.Contains(out, `(default "`+f.Lookup(flag).DefValue+`")`) {
			t.Errorf("help does not show the default of --%s:\n%s", flag, out)
		}
	}
}

func TestHelpCompletesCommandNames(t *testing.T) {
	_, out, _ := runUsage(t, "__complete", "help", "vm", "st")
	for _, want := range []string{"start", "stats", "stop"} {
		if !strings.Contains(out, want+"\t") {
			t.Errorf("help vm st<TAB> lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "list\t") {
		t.Errorf("help vm st<TAB> offers list:\n%s", out)
	}
}
