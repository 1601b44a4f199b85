package cli

import (
	"bytes"
	"strings"
	"testing"

	"banger/internal/doctor"
)

// A sudoers rule in a fix is printed one line per line, indented, so it
// can be pasted into visudo as is.
func TestPrintDoctorMultiLineFix(t *testing.T) {
	var out bytes.Buffer
	e := &env{io: IO{Out: &out}}
	printDoctor(e, []doctor.Result{{
		Name: "privileged helper", Group: "network", Status: doctor.Fail, Message: "sudo -n fails",
		Fix: "run `sudo visudo -f /etc/sudoers.d/banger` and add these two lines:\nDefaults!/usr/libexec/banger/bangerd env_reset\nalice ALL=(root) NOPASSWD: /usr/libexec/banger/bangerd priv *",
	}})
	want := "" +
		"  [FAIL] privileged helper: sudo -n fails\n" +
		"         fix: run `sudo visudo -f /etc/sudoers.d/banger` and add these two lines:\n" +
		"              Defaults!/usr/libexec/banger/bangerd env_reset\n" +
		"              alice ALL=(root) NOPASSWD: /usr/libexec/banger/bangerd priv *\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("doctor output:\n%s\nwant it to contain:\n%s", out.String(), want)
	}
}
