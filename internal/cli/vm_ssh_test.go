package cli

import (
	"reflect"
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
