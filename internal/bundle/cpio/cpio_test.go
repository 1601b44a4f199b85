package cpio

import (
	"banger/internal/testenv"
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"
)

func writeSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	members := []struct {
		h    Header
		data string
	}{
		{Header{Name: "bin", Mode: TypeDir | 0o755}, ""},
		{Header{Name: "init", Mode: TypeRegular | 0o755, Size: 5}, "#!sh\n"},
		{Header{Name: "bin/sh", Mode: TypeSymlink | 0o777, Size: 7}, "busybox"},
		{Header{Name: "dev/console", Mode: TypeChar | 0o600, DevMajor: 5, DevMinor: 1}, ""},
		{Header{Name: "odd", Mode: TypeRegular | 0o644, Size: 3}, "abc"},
	}
	for _, m := range members {
		if err := w.WriteHeader(&m.h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	r := NewReader(bytes.NewReader(writeSample(t)))
	var got []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name+"="+string(data)+"/"+h.FileMode().String())
	}
	want := "bin=/drwxr-xr-x init=#!sh\n/-rwxr-xr-x bin/sh=busybox/Lrwxrwxrwx dev/console=/Dcrw------- odd=abc/-rw-r--r--"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %q\nwant %q", strings.Join(got, " "), want)
	}
}

func TestSizeMismatchRejected(t *testing.T) {
	w := NewWriter(io.Discard)
	if err := w.WriteHeader(&Header{Name: "f", Mode: TypeRegular | 0o644, Size: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("too long")); err == nil {
		t.Fatal("write beyond size accepted")
	}
	if err := w.Close(); err == nil {
		t.Fatal("close with missing data accepted")
	}
}

func TestTruncatedArchive(t *testing.T) {
	b := writeSample(t)
	r := NewReader(bytes.NewReader(b[:len(b)-150]))
	var err error
	for err == nil {
		_, err = r.Next()
	}
	if err == io.EOF {
		t.Fatal("truncated archive read to a clean EOF")
	}
}

// TestGNUCpioReadsIt cross-checks the format against GNU cpio when present.
func TestGNUCpioReadsIt(t *testing.T) {
	_, err := exec.LookPath("cpio")
	testenv.RequireOrSkip(t, "GNU cpio (not installed)", err == nil)
	cmd := exec.Command("cpio", "-t", "-v", "--quiet")
	cmd.Stdin = bytes.NewReader(writeSample(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v: %s", err, out)
	}
	for _, want := range []string{"bin/sh -> busybox", "init", "dev/console"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio listing lacks %q:\n%s", want, out)
		}
	}
}
