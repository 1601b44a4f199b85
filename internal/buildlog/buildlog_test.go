package buildlog

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"banger/internal/execx"
)

func TestRunLogsCommandAndOutput(t *testing.T) {
	var progress, log bytes.Buffer
	r := New(&progress, &log)
	out, err := r.Run(context.Background(), execx.Cmd{Argv: []string{"sh", "-c", "echo out; echo err >&2"}, Dir: "/"})
	if err != nil || string(out) != "out\n" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	for _, want := range []string{"$ sh -c echo out; echo err >&2 (in /)\n", "out\n", "err\n"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if progress.Len() != 0 {
		t.Errorf("Run printed progress: %q", progress.String())
	}
	if _, err := r.Run(context.Background(), execx.Cmd{Argv: []string{"sh", "-c", "echo boom >&2; exit 3"}}); err == nil {
		t.Fatal("a failing command succeeded")
	}
	if !strings.Contains(log.String(), "boom\n! failed after") {
		t.Errorf("failure not logged with its stderr:\n%s", log.String())
	}
}

func TestTimedNamesTheFailedStep(t *testing.T) {
	var progress, log bytes.Buffer
	r := New(&progress, &log)
	if err := r.Timed("customize", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("mmdebstrap exploded")
	err := r.Timed("mmdebstrap", func() error { return boom })
	var se *StepError
	if !errors.As(err, &se) || se.Step != "mmdebstrap" || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want a StepError wrapping the cause", err)
	}
	p := progress.String()
	if !strings.Contains(p, "customize") || !strings.Contains(p, "done in") || !strings.Contains(p, "mmdebstrap") || !strings.Contains(p, "FAILED after") {
		t.Errorf("progress:\n%s", p)
	}
	if !strings.Contains(log.String(), "### mmdebstrap\n") || !strings.Contains(log.String(), "! mmdebstrap exploded") {
		t.Errorf("log:\n%s", log.String())
	}
	New(nil, nil).Say("nil writers are discarded")
}
