package nat

import (
	"context"
	"errors"
	"fmt"

	"banger/internal/execx"
)

// ErrNotFound means the iptables program is not installed.
var ErrNotFound = errors.New("iptables not found: install the iptables package")

// Runner runs one iptables command. args exclude the program name and the
// -w (wait for the xtables lock) flag, which a real Runner adds. A command
// that exits non-zero returns an *execx.Error carrying the exit code, which
// is how callers tell "rule absent" (1) from real failures.
type Runner interface {
	Run(ctx context.Context, args ...string) ([]byte, error)
}

// NewRunner returns a Runner for the host's `iptables` (whichever backend the
// distribution's alternatives point at).
func NewRunner() Runner { return execRunner{prog: "iptables"} }

// NewRunnerFor returns a Runner for a specific iptables binary, such as
// "iptables-legacy" or "iptables-nft".
func NewRunnerFor(prog string) Runner { return execRunner{prog: prog} }

type execRunner struct{ prog string }

func (r execRunner) Run(ctx context.Context, args ...string) ([]byte, error) {
	// The helper runs this as root: the program comes only from the fixed
	// root-owned system directories and runs with a fixed environment,
	// whatever PATH sudo passed on. Resolved per call, as the package may
	// be installed while bangerd runs.
	path, err := execx.SystemTool(r.prog)
	if errors.Is(err, execx.ErrNotInSystemDirs) {
		if r.prog == "iptables" {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("%s: %w", r.prog, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return execx.Cmd{Argv: append([]string{path, "-w"}, args...), SystemEnv: true}.Run(ctx)
}

// exitCode is the exit status of a failed iptables command, or -1 when the
// error is not an exit status at all (not found, killed, cancelled).
func exitCode(err error) int {
	var xe *execx.Error
	if errors.As(err, &xe) {
		return xe.ExitCode
	}
	return -1
}
