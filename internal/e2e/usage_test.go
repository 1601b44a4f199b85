package e2e

import (
	"strings"
	"testing"
)

// subcommands reads the "Available Commands:" section of a help text.
func subcommands(help string) []string {
	var names []string
	in := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			in = true
		case in && strings.TrimSpace(line) == "":
			return names
		case in:
			names = append(names, strings.Fields(line)[0])
		}
	}
	return names
}

// TestEveryGroupRefusesUnknownSubcommands walks the real binary's command
// tree through its --help and checks that every group answers an unknown
// subcommand, and a missing one, with a usage error (exit 2) naming it.
func TestEveryGroupRefusesUnknownSubcommands(t *testing.T) {
	e := newEnv(t)
	type node struct{ path []string }
	queue := []node{{nil}}
	groups := 0
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		r := e.must(append(append([]string(nil), n.path...), "--help")...)
		subs := subcommands(r.stdout)
		if len(subs) == 0 {
			continue
		}
		groups++
		name := strings.Join(append([]string{"banger"}, n.path...), " ")
		r = e.run(append(append([]string(nil), n.path...), "frobnicate")...)
		if r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate" for "`+name+`"`) {
			t.Errorf("%s frobnicate: want exit 2 naming the command:\n%s", name, r)
		}
		r = e.run(append(append([]string(nil), n.path...), "frobnicate", "x")...)
		if r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
			t.Errorf("%s frobnicate x: want exit 2 naming the command:\n%s", name, r)
		}
		r = e.run(n.path...)
		if r.code != 2 || !strings.Contains(r.stderr, name+" needs a subcommand") {
			t.Errorf("%s: want exit 2 asking for a subcommand:\n%s", name, r)
		}
		for _, s := range subs {
			if s == "help" {
				continue
			}
			queue = append(queue, node{append(append([]string(nil), n.path...), s)})
		}
	}
	// banger, vm, image, daemon, completion at least.
	if groups < 5 {
		t.Errorf("walked only %d groups", groups)
	}
}
