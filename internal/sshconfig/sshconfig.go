// Package sshconfig renders the OpenSSH client configuration bangerd keeps
// for its VMs (one Host entry per VM) and edits the user's ~/.ssh/config to
// Include it. It only builds and edits text and files; which VMs exist and
// when the file is rewritten are bangerd's business.
package sshconfig

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Entry is one VM as ssh sees it.
type Entry struct {
	Name    string // VM name; the entry answers to NAME and NAME.vm
	Address string // guest IPv4 address
	// HostKeyAlias is the name the VM's host key has in KnownHosts.
	HostKeyAlias string
}

// Options are the installation-wide parts of every entry.
type Options struct {
	IdentityFile string // the installation's private key
	KnownHosts   string // banger's own known_hosts
}

// header opens the generated file. It names who writes the file so that a
// user who finds it through their Include does not edit it by hand.
const header = "# Written by bangerd: one entry per banger VM, rewritten on every VM\n" +
	"# create and delete. Do not edit; `banger ssh-config --install` Includes it\n" +
	"# from ~/.ssh/config.\n"

// Render returns the config text for entries, in the order given.
func Render(entries []Entry, o Options) []byte {
	var b strings.Builder
	b.WriteString(header)
	for _, e := range entries {
		fmt.Fprintf(&b, "\nHost %s %s.vm\n", e.Name, e.Name)
		fmt.Fprintf(&b, "  HostName %s\n", e.Address)
		b.WriteString("  User root\n")
		fmt.Fprintf(&b, "  IdentityFile %s\n", quote(o.IdentityFile))
		b.WriteString("  IdentitiesOnly yes\n")
		fmt.Fprintf(&b, "  UserKnownHostsFile %s\n", quote(o.KnownHosts))
		fmt.Fprintf(&b, "  HostKeyAlias %s\n", e.HostKeyAlias)
		b.WriteString("  StrictHostKeyChecking yes\n")
	}
	return []byte(b.String())
}

// quote makes a path one ssh_config argument: ssh splits arguments on
// whitespace and understands double quotes.
func quote(p string) string {
	if strings.ContainsAny(p, " \t\"") {
		return `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
	}
	return p
}

// Select returns the entry of the VM called name from a rendered config,
// header excluded, and whether there is one.
func Select(config []byte, name string) (string, bool) {
	var out strings.Builder
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(config)))
	for sc.Scan() {
		line := sc.Text()
		if kw, args := keyword(line); kw == "host" || kw == "match" {
			in = kw == "host" && len(args) > 0 && args[0] == name
		}
		if in {
			out.WriteString(line + "\n")
		}
	}
	return out.String(), out.Len() > 0
}

// keyword splits an ssh_config line into its lower-cased keyword and its
// arguments; ssh accepts "Key value" and "Key=value".
func keyword(line string) (string, []string) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", nil
	}
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return strings.ToLower(line), nil
	}
	kw := strings.ToLower(line[:i])
	rest := strings.TrimLeft(line[i:], " \t")
	rest = strings.TrimPrefix(rest, "=")
	return kw, strings.Fields(rest)
}

// WriteFile replaces path with data atomically (a temporary file in the
// same directory, renamed over it), so ssh never reads half a file.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(perm)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}
