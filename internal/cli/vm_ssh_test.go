package cli

import (
	"reflect"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/paths"
)

func TestSSHArgvRemoteCommand(t *testing.T) {
	l := paths.Layout{StateDir: "/s"}
	vm := api.VM{ID: "abc", IP: "172.30.0.2"}
	tail := func(remote ...string) []string {
		a := sshArgv(l, vm, remote)
		for i, s := range a {
			if s == "--" {
				return a[i+1:]
			}
		}
		return nil
	}
	cases := []struct {
		remote []string
		want   []string
	}{
		{nil, nil},
		{[]string{"ls | wc -l"}, []string{"ls | wc -l"}},
		{[]string{"sh", "-c", "exit 7"}, []string{"sh -c 'exit 7'"}},
		{[]string{"echo", "it's"}, []string{`echo 'it'\''s'`}},
	}
	for _, tc := range cases {
		if got := tail(tc.remote...); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.remote, got, tc.want)
		}
	}
	a := sshArgv(l, vm, nil)
	if a[len(a)-1] != "root@172.30.0.2" {
		t.Errorf("argv %q", a)
	}
}

// After a start that failed, vm ssh reports the recorded cause rather than
// only advising a start the user has just tried.
func TestSSHToAStoppedVM(t *testing.T) {
	msg, hint := describe(notRunning(api.VM{Name: "calm-otter", State: api.StateStopped}))
	if msg != "vm calm-otter is stopped" || hint != "start it with `banger vm start calm-otter`" {
		t.Errorf("never started: %q / %q", msg, hint)
	}
	failed := api.VM{Name: "calm-otter", State: api.StateStopped, LastError: "start failed: wait for ssh on calm-otter: timed out after 2m0s\nconsole: kernel panic"}
	msg, hint = describe(notRunning(failed))
	if msg != "vm calm-otter is stopped: start failed: wait for ssh on calm-otter: timed out after 2m0s" {
		t.Errorf("failed start: message %q does not lead with the recorded cause", msg)
	}
	if !strings.Contains(hint, "banger vm show calm-otter") || strings.HasPrefix(hint, "start it") {
		t.Errorf("failed start: hint %q", hint)
	}
}
