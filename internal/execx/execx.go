// Package execx is the one place banger runs subprocesses. Commands are run
// from an argv (never through a shell) with LC_ALL=C, and a failure carries
// the argv, the exit code and the tail of stderr so the caller can wrap it
// with the noun that failed.
package execx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Error describes a command that could not be run or exited non-zero.
type Error struct {
	Argv     []string
	ExitCode int // -1 when the command did not run or was killed by a signal
	Stderr   string
	Err      error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %v", strings.Join(e.Argv, " "), e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + lastLines(s, 5)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Cmd is a command to run. Zero values mean "inherit nothing special".
type Cmd struct {
	Argv  []string
	Env   []string // extra KEY=VALUE entries on top of the current environment
	Dir   string
	Stdin []byte
	// SystemEnv runs the command with only LC_ALL=C, PATH=SystemPATH and
	// Env, instead of the current environment on top: for tools the
	// privileged helper runs as root, whose environment came from the caller.
	SystemEnv bool
}

// Run runs argv and returns its stdout.
func Run(ctx context.Context, argv ...string) ([]byte, error) {
	return Cmd{Argv: argv}.Run(ctx)
}

// Run runs the command and returns its stdout. Stderr is captured into the
// returned *Error on failure.
func (c Cmd) Run(ctx context.Context) ([]byte, error) {
	stdout, _, err := c.Output(ctx)
	return stdout, err
}

// Output is Run that also returns stderr on success, for tools (debugfs)
// that exit 0 and report failures only on stderr.
func (c Cmd) Output(ctx context.Context) (stdout, stderr []byte, err error) {
	if len(c.Argv) == 0 {
		return nil, nil, errors.New("execx: empty argv")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	base := os.Environ()
	if c.SystemEnv {
		base = []string{"PATH=" + SystemPATH}
	}
	cmd.Env = append(append(base, "LC_ALL=C"), c.Env...)
	cmd.Dir = c.Dir
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout = &outBuf
	cmd.Stderr = &errBuf
	if err := cmd.Run(); err != nil {
		code := -1
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return outBuf.Bytes(), errBuf.Bytes(), &Error{Argv: c.Argv, ExitCode: code, Stderr: errBuf.String(), Err: err}
	}
	return outBuf.Bytes(), errBuf.Bytes(), nil
}

// LookPath reports whether a tool is on PATH (or in the sbin directories,
// which non-root PATHs often lack), returning its full path.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on PATH", name)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
