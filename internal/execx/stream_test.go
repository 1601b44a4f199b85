package execx

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestStreamPipesAndKeepsStderrTail(t *testing.T) {
	var out bytes.Buffer
	err := Stream{Argv: []string{"sh", "-c", "tr a-z A-Z; echo first >&2; echo last >&2"}, Stdin: strings.NewReader("abc"), Stdout: &out}.Run(context.Background())
	if err != nil || out.String() != "ABC" {
		t.Fatalf("stream: %q, %v", out.String(), err)
	}
	err = Stream{Argv: []string{"sh", "-c", "head -c 100 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 3"}, StderrMax: 10}.Run(context.Background())
	var ee *Error
	if !errors.As(err, &ee) || ee.ExitCode != 3 {
		t.Fatalf("want exit 3 with a 10-byte stderr tail, got %#v", err)
	}
	if !strings.HasSuffix(ee.Stderr, "END\n") || len(ee.Stderr) != 10 {
		t.Errorf("stderr tail %q", ee.Stderr)
	}
}
