package nat

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"banger/internal/execx"
)

// FakeRunner is an in-memory iptables for tests. It understands the subset
// of arguments this package uses (-t, -N, -X, -F, -S, -A, -I, -C, -D, -V;
// -s/-d/-i/-o/-p with "!", -m comment, -m conntrack --ctstate, -j) and
// behaves like iptables where that matters: it canonicalises rules the way
// `iptables -S` prints them (argument order, /32 on bare addresses, quoted
// comments), exits 1 for a missing rule or chain, refuses jumps to unknown
// chains, MASQUERADE outside the nat table and deleting a referenced chain.
// Anything else is an error, so code that starts using new arguments fails
// its tests instead of passing against a fake that ignores them.
type FakeRunner struct {
	// Version is what -V prints.
	Version string
	// Hook, when set, runs before every command; a non-nil result is
	// returned instead of running it (for failure-path tests).
	Hook func(args []string) error

	mu     sync.Mutex
	tables map[string]*fakeTable
	calls  [][]string
}

type fakeTable struct {
	order  []string
	chains map[string]*fakeChain
}

type fakeChain struct {
	builtin bool
	rules   [][]string
}

// NewFakeRunner returns an empty filter and nat table with ACCEPT policies.
func NewFakeRunner() *FakeRunner {
	f := &FakeRunner{Version: "iptables v1.8.9 (nf_tables)", tables: map[string]*fakeTable{}}
	for table, chains := range map[string][]string{
		"filter": {"INPUT", "FORWARD", "OUTPUT"},
		"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	} {
		t := &fakeTable{chains: map[string]*fakeChain{}}
		for _, c := range chains {
			t.order = append(t.order, c)
			t.chains[c] = &fakeChain{builtin: true}
		}
		f.tables[table] = t
	}
	return f
}

// Calls returns every command run so far (args as passed to Run).
func (f *FakeRunner) Calls() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.calls...)
}

// Rules returns a chain's rules as `iptables -t table -S chain` prints
// them, without the -P/-N header line.
func (f *FakeRunner) Rules(table, chain string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tables[table]
	if !ok || t.chains[chain] == nil {
		return nil
	}
	var out []string
	for _, r := range t.chains[chain].rules {
		out = append(out, formatRule(chain, r))
	}
	return out
}

// Run executes one iptables command against the in-memory tables.
func (f *FakeRunner) Run(ctx context.Context, args ...string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.calls = append(f.calls, append([]string(nil), args...))
	hook := f.Hook
	f.mu.Unlock()
	if hook != nil {
		if err := hook(args); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out, code, msg := f.exec(args)
	if code != 0 {
		return nil, &execx.Error{
			Argv:     append([]string{"iptables", "-w"}, args...),
			ExitCode: code,
			Stderr:   msg + "\n",
			Err:      fmt.Errorf("exit status %d", code),
		}
	}
	return []byte(out), nil
}

func (f *FakeRunner) exec(args []string) (out string, code int, msg string) {
	tableName := "filter"
	if len(args) >= 2 && args[0] == "-t" {
		tableName, args = args[1], args[2:]
	}
	t, ok := f.tables[tableName]
	if !ok {
		return "", 3, fmt.Sprintf("iptables v1.8.9: can't initialize iptables table `%s': Table does not exist", tableName)
	}
	if len(args) == 0 {
		return "", 2, "iptables v1.8.9: no command specified"
	}
	cmd, rest := args[0], args[1:]
	if cmd == "-V" {
		return f.Version + "\n", 0, ""
	}
	if cmd == "-S" {
		return f.list(t, rest)
	}
	if len(rest) == 0 {
		return "", 2, fmt.Sprintf("iptables v1.8.9: option %q requires an argument", cmd)
	}
	name, rest := rest[0], rest[1:]
	c := t.chains[name]
	switch cmd {
	case "-N":
		if c != nil {
			return "", 1, "iptables: Chain already exists."
		}
		t.order = append(t.order, name)
		t.chains[name] = &fakeChain{}
		return "", 0, ""
	case "-X", "-F":
		if c == nil {
			return "", 1, "iptables: No chain/target/match by that name."
		}
		if cmd == "-F" {
			c.rules = nil
			return "", 0, ""
		}
		if c.builtin || len(c.rules) > 0 || t.references(name) > 0 {
			return "", 4, fmt.Sprintf("iptables v1.8.9 (nf_tables):  CHAIN_DEL failed (Device or resource busy): chain %s", name)
		}
		delete(t.chains, name)
		for i, n := range t.order {
			if n == name {
				t.order = append(t.order[:i], t.order[i+1:]...)
				break
			}
		}
		return "", 0, ""
	case "-A", "-I", "-C", "-D":
	default:
		return "", 2, fmt.Sprintf("fake iptables: unsupported command %q", cmd)
	}
	if c == nil {
		return "", 1, "iptables: No chain/target/match by that name."
	}
	pos := len(c.rules)
	if cmd == "-I" {
		pos = 0
		if len(rest) > 0 {
			if n, err := strconv.Atoi(rest[0]); err == nil {
				if n < 1 || n > len(c.rules)+1 {
					return "", 1, "iptables: Index of insertion too big."
				}
				pos, rest = n-1, rest[1:]
			}
		}
	}
	rule, err := canonical(tableName, t, rest)
	if err != nil {
		return "", 2, "iptables v1.8.9: " + err.Error()
	}
	found := -1
	for i, r := range c.rules {
		if strings.Join(r, "\x00") == strings.Join(rule, "\x00") {
			found = i
			break
		}
	}
	switch cmd {
	case "-C", "-D":
		if found < 0 {
			return "", 1, "iptables: Bad rule (does a matching rule exist in that chain?)."
		}
		if cmd == "-D" {
			c.rules = append(c.rules[:found], c.rules[found+1:]...)
		}
	default:
		c.rules = append(c.rules[:pos], append([][]string{rule}, c.rules[pos:]...)...)
	}
	return "", 0, ""
}

func (f *FakeRunner) list(t *fakeTable, rest []string) (string, int, string) {
	var b strings.Builder
	chains := t.order
	if len(rest) > 0 {
		if t.chains[rest[0]] == nil {
			return "", 1, "iptables: No chain/target/match by that name."
		}
		chains = rest[:1]
	}
	for _, name := range chains {
		if t.chains[name].builtin {
			fmt.Fprintf(&b, "-P %s ACCEPT\n", name)
		}
	}
	for _, name := range chains {
		if !t.chains[name].builtin {
			fmt.Fprintf(&b, "-N %s\n", name)
		}
	}
	for _, name := range chains {
		for _, r := range t.chains[name].rules {
			b.WriteString(formatRule(name, r) + "\n")
		}
	}
	return b.String(), 0, ""
}

func (t *fakeTable) references(chain string) int {
	n := 0
	for _, c := range t.chains {
		for _, r := range c.rules {
			if len(r) >= 2 && r[len(r)-2] == "-j" && r[len(r)-1] == chain {
				n++
			}
		}
	}
	return n
}

// canonical parses a rule specification and returns it in the order
// `iptables -S` prints: -s, -d, -i, -o, -p (each optionally negated), then
// matches in the given order, then -j.
func canonical(tableName string, t *fakeTable, args []string) ([]string, error) {
	basic := map[string][]string{}
	var matches, target []string
	neg := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("option %q requires an argument", a)
			}
			i++
			return args[i], nil
		}
		if len(target) > 0 {
			return nil, fmt.Errorf("fake iptables: unsupported argument %q after -j", a)
		}
		switch a {
		case "!":
			neg = true
			continue
		case "-s", "-d", "-i", "-o", "-p":
			v, err := next()
			if err != nil {
				return nil, err
			}
			if a == "-s" || a == "-d" {
				if !strings.Contains(v, "/") {
					v += "/32"
				}
				if _, err := netip.ParsePrefix(v); err != nil {
					return nil, fmt.Errorf("host/network `%s' not found", v)
				}
			}
			var opt []string
			if neg {
				opt = append(opt, "!")
			}
			basic[a] = append(opt, a, v)
		case "-m":
			mod, err := next()
			if err != nil {
				return nil, err
			}
			opt, err := next()
			if err != nil {
				return nil, err
			}
			val, err := next()
			if err != nil {
				return nil, err
			}
			if !(mod == "comment" && opt == "--comment") && !(mod == "conntrack" && opt == "--ctstate") {
				return nil, fmt.Errorf("fake iptables: unsupported match -m %s %s", mod, opt)
			}
			matches = append(matches, "-m", mod, opt, val)
		case "-j":
			v, err := next()
			if err != nil {
				return nil, err
			}
			switch {
			case v == "ACCEPT" || v == "DROP" || v == "RETURN":
			case v == "MASQUERADE":
				if tableName != "nat" {
					return nil, fmt.Errorf("MASQUERADE target: only valid in nat table")
				}
			case t.chains[v] != nil && !t.chains[v].builtin:
			default:
				//lint:ignore ST1005 the fake repeats iptables' own message
				return nil, fmt.Errorf("Couldn't load target `%s':No such file or directory", v)
			}
			target = []string{"-j", v}
		default:
			return nil, fmt.Errorf("fake iptables: unsupported argument %q", a)
		}
		if neg && a != "-s" && a != "-d" && a != "-i" && a != "-o" && a != "-p" {
			return nil, fmt.Errorf("fake iptables: unsupported negation of %s", a)
		}
		neg = false
	}
	var out []string
	for _, k := range []string{"-s", "-d", "-i", "-o", "-p"} {
		out = append(out, basic[k]...)
	}
	out = append(out, matches...)
	return append(out, target...), nil
}

func formatRule(chain string, rule []string) string {
	parts := []string{"-A", chain}
	for i, a := range rule {
		if i > 0 && rule[i-1] == "--comment" {
			a = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
