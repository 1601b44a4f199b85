package guard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/execx"
)

// ErrNotFound means there is no nft program at the configured path.
var ErrNotFound = errors.New("nft not found: install the nftables package")

// Runner runs the nft program once. args exclude the program; stdin is fed
// to it (nil for none). A command that exits non-zero returns an
// *execx.Error carrying the exit code and stderr.
type Runner interface {
	Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error)
}

// NFT is the real Runner. Path is the absolute path of the nft binary; the
// caller resolves it (a root helper must not search the caller's PATH).
type NFT struct {
	Path string
}

// Run runs Path with args, feeding it stdin.
func (n NFT) Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	if !filepath.IsAbs(n.Path) {
		return nil, fmt.Errorf("nft path %q is not absolute", n.Path)
	}
	if _, err := os.Stat(n.Path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", n.Path, ErrNotFound)
	}
	return execx.Cmd{Argv: append([]string{n.Path}, args...), Stdin: stdin, SystemEnv: true}.Run(ctx)
}
