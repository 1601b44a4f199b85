// Package knownhosts owns banger's own known_hosts file: one line per VM,
// "banger-<id> <host key>". ssh is run with HostKeyAlias=banger-<id>
// against this file, so a guest address reused by a later VM never trips a
// stale entry. The user's ~/.ssh/known_hosts is never touched.
package knownhosts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"banger/internal/atomicfile"
)

// HostKeyAlias is the name VM id's host key is recorded under.
func HostKeyAlias(id string) string { return "banger-" + id }

// File is the known_hosts file at one path. Its updates are serialised and
// atomic; one File per path per process.
type File struct {
	path     string
	mu       sync.Mutex
	readFile func(string) ([]byte, error) // os.ReadFile; replaced in tests
}

// New returns the file at path (which need not exist yet).
func New(path string) *File { return &File{path: path, readFile: os.ReadFile} }

// Add records pubKey (an authorized_keys-style "type base64" line) as VM
// id's host key, replacing any previous one.
func (f *File) Add(id, pubKey string) error {
	pubKey = strings.TrimSpace(pubKey)
	if id == "" || strings.ContainsAny(id, " \t\r\n") {
		return fmt.Errorf("known_hosts entry: invalid vm id %q", id)
	}
	if len(strings.Fields(pubKey)) < 2 || strings.ContainsAny(pubKey, "\r\n") {
		return fmt.Errorf("known_hosts entry for %s: host key %q is not one \"type base64\" line", id, pubKey)
	}
	return f.update(id, HostKeyAlias(id)+" "+pubKey)
}

// Remove drops VM id's host key.
func (f *File) Remove(id string) error { return f.update(id, "") }

// update rewrites the file without id's line, plus line if not empty. A
// file that exists but cannot be read fails the update: rewriting it from
// nothing would drop every other VM's key.
func (f *File) update(id, line string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.readFile(f.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read known_hosts %s: %w", f.path, err)
	}
	prefix := HostKeyAlias(id) + " "
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, prefix) {
			continue
		}
		out = append(out, l)
	}
	if line != "" {
		out = append(out, line)
	}
	body := strings.Join(out, "\n")
	if body != "" {
		body += "\n"
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	if err := atomicfile.Write(f.path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	return nil
}
