package guard

import (
	"context"
	"strings"
	"testing"
)

// fakeRunner records every nft call and answers listings from canned JSON
// keyed by family. It fails the test if a canned listing is never read.
type fakeRunner struct {
	t       *testing.T
	scripts []string
	lists   map[string][]byte
	read    map[string]bool
	err     error
}

func newFake(t *testing.T) *fakeRunner {
	f := &fakeRunner{t: t, lists: map[string][]byte{}, read: map[string]bool{}}
	t.Cleanup(func() {
		for fam := range f.lists {
			if !f.read[fam] {
				t.Errorf("canned %s listing was never read", fam)
			}
		}
	})
	return f
}

func (f *fakeRunner) Run(_ context.Context, stdin []byte, args ...string) ([]byte, error) {
	switch strings.Join(args, " ") {
	case "-f -":
		f.scripts = append(f.scripts, string(stdin))
		return nil, f.err
	case "-j list ruleset bridge", "-j list ruleset inet":
		fam := args[3]
		f.read[fam] = true
		return f.lists[fam], f.err
	}
	f.t.Fatalf("unexpected nft call: %q", args)
	return nil, nil
}
