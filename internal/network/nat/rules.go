package nat

import (
	"context"
	"fmt"
	"strings"

	"banger/internal/network"
)

// spec is one rule in one of banger's chains, with args in the order
// `iptables -S` prints them, so a desired rule and a listed one compare
// equal as strings.
type spec struct {
	table, chain string
	args         []string
}

func (s spec) key() string { return s.table + " " + s.chain + " " + strings.Join(s.args, " ") }

func (s spec) argv(op string) []string {
	return append([]string{"-t", s.table, op, s.chain}, s.args...)
}

// tagged is a rule found in a banger chain with the owner and VM id of
// its comment.
type tagged struct {
	spec
	owner network.Owner
	vmID  string
}

func (t tagged) is(owner network.Owner, vmID string) bool { return t.owner == owner && t.vmID == vmID }

// comment is the tag of r's rules: the owner's tag, ":vm:", the VM id.
func comment(owner network.Owner, vmID string) string { return owner.Tag() + vmMarker + vmID }

// desired lists the rules of r in iptables' canonical order
// (-s, -d, -i, -o, matches, -j).
func desired(r Rule) []spec {
	ip := r.GuestIP.String() + "/32"
	comment := []string{"-m", "comment", "--comment", comment(r.Owner, r.VMID)}
	join := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return []spec{
		{"nat", ChainPost, join(
			[]string{"-s", ip, "!", "-o", r.Bridge}, comment, []string{"-j", "MASQUERADE"})},
		{"filter", ChainForward, join(
			[]string{"-s", ip, "-i", r.Bridge, "!", "-o", r.Bridge}, comment, []string{"-j", "ACCEPT"})},
		{"filter", ChainForward, join(
			[]string{"-d", ip, "-o", r.Bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"}, comment, []string{"-j", "ACCEPT"})},
	}
}

// rules lists the banger-tagged rules in both banger chains. Listing whole
// tables (-S without a chain) keeps a missing chain from being an error.
func (m *Manager) rules(ctx context.Context) ([]tagged, error) {
	var out []tagged
	for _, t := range []struct{ table, chain string }{{"nat", ChainPost}, {"filter", ChainForward}} {
		text, err := m.run.Run(ctx, "-t", t.table, "-S")
		if err != nil {
			return nil, fmt.Errorf("list %s table: %w", t.table, err)
		}
		for _, line := range strings.Split(string(text), "\n") {
			fields, err := splitRule(line)
			if err != nil {
				return nil, fmt.Errorf("parse %s table: %w", t.table, err)
			}
			if len(fields) < 2 || fields[0] != "-A" || fields[1] != t.chain {
				continue
			}
			args := fields[2:]
			owner, id, ok := tagOf(args)
			if !ok {
				continue
			}
			out = append(out, tagged{spec{t.table, t.chain, args}, owner, id})
		}
	}
	return out, nil
}

// tagOf reads the owner and VM id from a rule's comment. Rules of older
// banger versions ("banger:vm:<id>", no owner) are not anyone's to touch.
func tagOf(args []string) (network.Owner, string, bool) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "--comment" {
			continue
		}
		tag, id, ok := strings.Cut(args[i+1], vmMarker)
		if !ok {
			return network.Owner{}, "", false
		}
		owner, ok := network.ParseTag(tag)
		return owner, id, ok && ValidateVMID(id) == nil
	}
	return network.Owner{}, "", false
}

// splitRule splits one line of `iptables -S` into arguments. iptables quotes
// comment values with double quotes and escapes '"' and '\' inside them.
func splitRule(line string) ([]string, error) {
	var (
		fields  []string
		cur     strings.Builder
		inWord  bool
		inQuote bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (c == ' ' || c == '\t' || c == '\r'):
			if inWord {
				fields = append(fields, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		fields = append(fields, cur.String())
	}
	return fields, nil
}
