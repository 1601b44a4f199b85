package vmm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"
)

// LogTail returns the last n non-empty lines written to path after offset,
// joined with " | ", for quoting a VMM's log in an error.
func LogTail(path string, offset int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	const maxRead = 16 << 10
	start := max(offset, st.Size()-maxRead)
	b, err := io.ReadAll(io.NewSectionReader(f, start, st.Size()-start))
	if err != nil {
		return ""
	}
	var lines []string
	for _, ln := range bytes.Split(b, []byte("\n")) {
		s := strings.TrimSpace(string(ln))
		if s == "" {
			continue
		}
		if len(s) > 240 {
			s = s[:240] + "…"
		}
		lines = append(lines, s)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// LogHint names a failed start's VMM log for an error message and quotes
// its last lines: " (log PATH ends: ...)", or " (log: PATH)" when it is
// empty.
func LogHint(path string) string {
	tail := LogTail(path, 0, 8)
	if tail == "" {
		return " (log: " + path + ")"
	}
	return fmt.Sprintf(" (log %s ends: %s)", path, tail)
}

// Dialable reports whether something accepts connections on a unix socket.
func Dialable(sock string) bool {
	c, err := net.DialTimeout("unix", sock, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// RemoveStaleSocket removes a unix socket left by a process that died
// (VMMs and listeners refuse to bind over one). Anything other than a
// socket, and a socket something still answers on, is left alone and
// reported. It is the one rule for every per-VM socket banger binds.
func RemoveStaleSocket(p string) error {
	if p == "" {
		return nil
	}
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", p)
	}
	if c, err := net.DialTimeout("unix", p, 200*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("%s is in use by another process", p)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}
