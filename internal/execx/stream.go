package execx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

// Stream is a command whose input and output are streamed rather than
// buffered (a file copy over ssh). Stderr is kept, up to StderrMax bytes
// of its end, for the *Error.
type Stream struct {
	Argv      []string
	Stdin     io.Reader
	Stdout    io.Writer
	StderrMax int // 0 means 64 KiB
}

// Run runs the command to completion.
func (s Stream) Run(ctx context.Context) error {
	if len(s.Argv) == 0 {
		return errors.New("execx: empty argv")
	}
	cmd := exec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdin, cmd.Stdout = s.Stdin, s.Stdout
	max := s.StderrMax
	if max <= 0 {
		max = 64 << 10
	}
	tail := &tailBuffer{max: max}
	cmd.Stderr = tail
	if err := cmd.Run(); err != nil {
		code := -1
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return &Error{Argv: s.Argv, ExitCode: code, Stderr: tail.String(), Err: err}
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
