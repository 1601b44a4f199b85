package disk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// debugfs quirks this file works around (e2fsprogs 1.47):
//   - It exits 0 when commands fail; failures are only visible as lines on
//     stderr, where the version banner also goes.
//   - Arguments are split by the ss library: whitespace separates, "..."
//     quotes, and "" inside quotes is a literal quote. Nothing else is
//     special, but a script line ends at a newline, so names with CR or LF
//     cannot be written at all (validatePath refuses them).
//   - "write SRC NAME" links NAME into the current directory literally, and
//     "mkdir /x" with a single-component absolute path also lands in the
//     current directory; so every create is "cd PARENT" + base name.

type script struct{ b strings.Builder }

func (s *script) cmd(name string, args ...string) {
	s.b.WriteString(name)
	for _, a := range args {
		s.b.WriteByte(' ')
		s.b.WriteString(quote(a))
	}
	s.b.WriteByte('\n')
}

func (s *script) String() string { return s.b.String() }

func quote(a string) string { return `"` + strings.ReplaceAll(a, `"`, `""`) + `"` }

// debugfs runs a script against image, read-write when rw, and returns its
// stdout. In read-write mode any stderr output other than the banner is a
// failed command and makes the run an error; read-only scripts probe paths
// that may be missing, so their stderr is ignored.
func debugfs(ctx context.Context, image string, rw bool, s *script) (string, error) {
	// Read-only runs use catastrophic mode, which skips loading the
	// allocation bitmaps: a few ms saved per run on a large disk.
	mode := "-c"
	if rw {
		mode = "-w"
	}
	args := []string{mode, "-f", "-", image}
	out, stderr, err := output(ctx, nil, []byte(s.String()), "debugfs", args...)
	if err != nil {
		return "", err
	}
	errs := debugfsErrors(string(stderr))
	for _, e := range errs {
		if rw || strings.Contains(e, "while trying to open") {
			return "", fmt.Errorf("debugfs: %s", strings.Join(errs, "; "))
		}
	}
	return string(out), nil
}

// debugfsErrors extracts the failure lines debugfs printed on stderr.
func debugfsErrors(stderr string) []string {
	var errs []string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "debugfs ") && strings.HasSuffix(l, ")") {
			continue
		}
		errs = append(errs, l)
	}
	return errs
}

// entry is one directory entry as "ls -p" prints it.
type entry struct {
	mode uint32
	uid  uint32
	gid  uint32
}

func (e entry) isDir() bool { return e.mode&0o170000 == 0o040000 }

// listDirs lists each directory of dirs in one read-only debugfs run. A
// directory that does not exist (or is not a directory) maps to nil.
func listDirs(ctx context.Context, image string, dirs []string) (map[string]map[string]entry, error) {
	var s script
	for _, d := range dirs {
		s.cmd("ls", "-p", d)
	}
	out, err := debugfs(ctx, image, false, &s)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", image, err)
	}
	return parseListings(out, dirs)
}

// parseListings splits debugfs -f output into one section per echoed
// command ("debugfs: ls -p ...") and parses "/ino/mode/uid/gid/name/size/"
// lines. A section without a "." entry means the directory is missing.
func parseListings(out string, dirs []string) (map[string]map[string]entry, error) {
	res := make(map[string]map[string]entry, len(dirs))
	section := -1
	var cur map[string]entry
	flush := func() {
		if section >= 0 && section < len(dirs) {
			if _, ok := cur["."]; ok {
				res[dirs[section]] = cur
			} else {
				res[dirs[section]] = nil
			}
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "debugfs: ") {
			flush()
			section++
			cur = map[string]entry{}
			continue
		}
		if section < 0 || !strings.HasPrefix(line, "/") {
			continue
		}
		f := strings.Split(line, "/")
		// "", ino, mode, uid, gid, name, size, ""
		if len(f) != 8 {
			continue // a name with a line break; never one of ours
		}
		mode, err1 := strconv.ParseUint(f[2], 8, 32)
		uid, err2 := strconv.ParseUint(f[3], 10, 32)
		gid, err3 := strconv.ParseUint(f[4], 10, 32)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("parse debugfs listing line %q: %w", line, err)
		}
		cur[f[5]] = entry{mode: uint32(mode), uid: uint32(uid), gid: uint32(gid)}
	}
	flush()
	if section+1 != len(dirs) {
		return nil, fmt.Errorf("debugfs listed %d of %d directories", section+1, len(dirs))
	}
	return res, nil
}
