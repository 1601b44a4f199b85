package knownhosts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const keyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"

func TestAddReplaceRemove(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ssh", "known_hosts")
	f := New(p)
	for _, id := range []string{"aaaa", "bbbb", "cccc"} {
		if err := f.Add(id, keyA+id+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Add("bbbb", keyA+"new"); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("aaaa"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	want := "banger-cccc " + keyA + "cccc\nbanger-bbbb " + keyA + "new\n"
	if string(b) != want {
		t.Fatalf("known_hosts:\n%s\nwant:\n%s", b, want)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
}

// TestReadErrorKeepsEveryEntry: a known_hosts that exists but cannot be
// read fails the update and is left as it was, instead of being rewritten
// with one key (which cut every other VM off from ssh).
func TestReadErrorKeepsEveryEntry(t *testing.T) {
	p := filepath.Join(t.TempDir(), "known_hosts")
	f := New(p)
	f.Add("aaaa", keyA+"a")
	f.Add("bbbb", keyA+"b")
	before, _ := os.ReadFile(p)
	f.readFile = func(string) ([]byte, error) { return nil, &os.PathError{Op: "read", Path: p, Err: syscall.EIO} }
	for name, op := range map[string]func() error{
		"add":    func() error { return f.Add("cccc", keyA+"c") },
		"remove": func() error { return f.Remove("aaaa") },
	} {
		err := op()
		if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), p) {
			t.Fatalf("%s: want the read error naming %s, got %v", name, p, err)
		}
		if after, _ := os.ReadFile(p); string(after) != string(before) {
			t.Fatalf("%s after a read error rewrote known_hosts:\n%s\nwas:\n%s", name, after, before)
		}
	}
}

func TestBadEntriesRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "known_hosts")
	f := New(p)
	for _, c := range [][2]string{{"a b", keyA}, {"", keyA}, {"aaaa", "ssh-ed25519"}, {"aaaa", keyA + "\nbanger-bbbb " + keyA}} {
		if err := f.Add(c[0], c[1]); err == nil {
			t.Errorf("Add(%q, %q) accepted", c[0], c[1])
		}
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("refused entries created the file: %v", err)
	}
}

func TestConcurrentAddsKeepAll(t *testing.T) {
	p := filepath.Join(t.TempDir(), "known_hosts")
	f := New(p)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			if err := f.Add(id, keyA+id); err != nil {
				t.Error(err)
			}
		}(strings.Repeat(string(rune('a'+i)), 4))
	}
	wg.Wait()
	b, _ := os.ReadFile(p)
	if n := strings.Count(string(b), "\n"); n != 20 {
		t.Fatalf("%d entries after 20 concurrent adds:\n%s", n, b)
	}
}
