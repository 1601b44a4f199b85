package sshconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// marker is the comment written above banger's Include line, so a reader
// of ~/.ssh/config knows where it came from.
const marker = "# Added by `banger ssh-config --install`; `banger ssh-config --uninstall` removes it."

// IncludeLine is the directive that pulls the file at path into a config.
func IncludeLine(path string) string { return "Include " + quote(path) }

// isInclude reports whether line is an Include of exactly path.
func isInclude(line, path string) bool {
	kw, _ := keyword(line)
	if kw != "include" {
		return false
	}
	arg := strings.TrimSpace(line)[len("include"):]
	arg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(arg), "="))
	if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
		arg = strings.ReplaceAll(arg[1:len(arg)-1], `\"`, `"`)
	}
	return arg == path
}

// lines splits config text into lines without their newlines.
func lines(config []byte) []string {
	s := strings.TrimSuffix(string(config), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// withoutInclude drops every Include of path, banger's marker and the
// blank line AddInclude puts after the Include.
func withoutInclude(ls []string, path string) []string {
	out := make([]string, 0, len(ls))
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		if isInclude(l, path) {
			if i+1 < len(ls) && strings.TrimSpace(ls[i+1]) == "" {
				i++
			}
			continue
		}
		if strings.TrimSpace(l) == marker {
			continue
		}
		out = append(out, l)
	}
	return out
}

// firstBlock is the index of the first Host or Match line, or len(ls).
func firstBlock(ls []string) int {
	for i, l := range ls {
		if kw, _ := keyword(l); kw == "host" || kw == "match" {
			return i
		}
	}
	return len(ls)
}

func join(ls []string) []byte {
	if len(ls) == 0 {
		return nil
	}
	return []byte(strings.Join(ls, "\n") + "\n")
}

// AddInclude returns config with exactly one Include of path, placed above
// its first Host or Match line: ssh reads an Include that comes after one
// only for the hosts that block matches. changed is false when config
// already read that way.
func AddInclude(config []byte, path string) (out []byte, changed bool) {
	ls := lines(config)
	n, placed := 0, false
	for i, l := range ls {
		if isInclude(l, path) {
			n++
			placed = i < firstBlock(ls)
		}
	}
	if n == 1 && placed {
		return config, false
	}
	ls = withoutInclude(ls, path)
	at := firstBlock(ls)
	ins := []string{marker, IncludeLine(path)}
	if at < len(ls) {
		ins = append(ins, "")
	}
	res := append(append(append([]string{}, ls[:at]...), ins...), ls[at:]...)
	out = join(res)
	return out, string(out) != string(config)
}

// RemoveInclude returns config without banger's Include of path.
func RemoveInclude(config []byte, path string) (out []byte, changed bool) {
	ls := lines(config)
	kept := withoutInclude(ls, path)
	if len(kept) == len(ls) {
		return config, false
	}
	return join(kept), true
}

// EditUserConfig applies edit to the user's ssh config at userConfig
// (following a symlink to the file it names), keeping the previous text in
// backup. A missing config (and ~/.ssh) is created private; an existing one
// keeps its mode. It reports whether the file changed.
func EditUserConfig(userConfig, backup string, edit func([]byte) ([]byte, bool)) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(userConfig), 0o700); err != nil {
		return false, fmt.Errorf("create %s: %w", filepath.Dir(userConfig), err)
	}
	target := userConfig
	if real, err := filepath.EvalSymlinks(userConfig); err == nil {
		target = real
	}
	old, err := os.ReadFile(target)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read ssh config: %w", err)
	}
	mode := fs.FileMode(0o600)
	if existed {
		if st, err := os.Stat(target); err == nil {
			mode = st.Mode().Perm()
		}
	}
	out, changed := edit(old)
	if !changed {
		return false, nil
	}
	if existed {
		if err := WriteFile(backup, old, 0o600); err != nil {
			return false, fmt.Errorf("back up ssh config: %w", err)
		}
	}
	if err := WriteFile(target, out, mode); err != nil {
		return false, err
	}
	return true, nil
}
