// Package names validates VM and image names and generates friendly ones.
// A name becomes a hostname, a DNS label under .vm and part of log lines, so
// it is checked here before it is used anywhere else.
package names

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"

	"banger/internal/execx"
)

// Validate checks that s is a DNS label: 1-63 characters of a-z, 0-9 and
// '-', not starting or ending with '-'. A name that could be mistaken for an
// id prefix is still allowed; refs try exact names first.
func Validate(s string) error {
	if s == "" {
		return fmt.Errorf("name must not be empty")
	}
	if len(s) > 63 {
		return fmt.Errorf("name %q is %d characters; at most 63 are allowed", s, len(s))
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-'
		if !ok {
			return fmt.Errorf("name %q has %q at position %d: only lower-case letters a-z, digits 0-9 and '-' are allowed", s, r, i+1)
		}
	}
	if strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") {
		return fmt.Errorf("name %q must not start or end with '-'", s)
	}
	return nil
}

var adjectives = []string{
	"able", "amber", "bold", "brave", "brisk", "calm", "clever", "cosy", "crisp", "curious",
	"daring", "deft", "eager", "early", "fair", "fancy", "fleet", "fond", "gentle", "glad",
	"golden", "grand", "happy", "hardy", "honest", "humble", "jolly", "keen", "kind", "lively",
	"lucky", "merry", "mild", "misty", "modest", "neat", "nimble", "noble", "plucky", "polite",
	"proud", "quick", "quiet", "rapid", "ready", "rosy", "rustic", "sharp", "shiny", "silent",
	"sleek", "smart", "snug", "solid", "spry", "steady", "sunny", "swift", "tidy", "vivid",
	"warm", "wise", "witty", "zesty",
}

var animals = []string{
	"badger", "bear", "beaver", "bison", "crane", "cricket", "dingo", "dolphin", "eagle", "egret",
	"falcon", "ferret", "finch", "fox", "gecko", "gibbon", "heron", "ibex", "jackal", "koala",
	"lemur", "lynx", "marmot", "marten", "mole", "moose", "newt", "ocelot", "orca", "osprey",
	"otter", "owl", "panda", "pelican", "puffin", "quail", "rabbit", "raven", "robin", "salmon",
	"seal", "shrew", "sparrow", "stoat", "swan", "tapir", "tern", "tiger", "toad", "trout",
	"turtle", "vole", "walrus", "weasel", "whale", "wombat", "wren", "yak", "zebra",
}

func pick(list []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
	if err != nil {
		return list[0]
	}
	return list[n.Int64()]
}

// Generate returns an adjective-animal name (calm-otter) for which taken
// returns false, adding a numeric suffix after a few collisions.
func Generate(taken func(string) bool) string {
	for i := 0; i < 20; i++ {
		n := pick(adjectives) + "-" + pick(animals)
		if i >= 10 {
			n += fmt.Sprintf("-%d", i)
		}
		if !taken(n) {
			return n
		}
	}
	return "vm-" + NewID()[:8]
}

// FromProgram runs the user's namegen_path program and validates its
// output (first line, trimmed) as a name.
func FromProgram(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := execx.Run(ctx, path)
	if err != nil {
		return "", fmt.Errorf("namegen_path program: %w", err)
	}
	name, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	name = strings.TrimSpace(name)
	if err := Validate(name); err != nil {
		return "", fmt.Errorf("namegen_path program %s printed an invalid name: %w", path, err)
	}
	return name, nil
}

// NewID returns a random 16-character hex VM or image id.
func NewID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("read random bytes: %v", err))
	}
	return hex.EncodeToString(b)
}
