package qemu

import (
	"slices"
	"strings"
	"testing"
)

func TestAgentTransportOfOwnCommandLines(t *testing.T) {
	spec := baseSpec()
	l := serialLaunch("tcg")
	l.SerialSocket = "/odd,dir/agent-serial.sock"
	args, err := buildArgs(spec, l)
	if err != nil {
		t.Fatal(err)
	}
	got, err := agentTransportOf(append([]string{"/usr/bin/qemu-system-x86_64"}, args...))
	if err != nil || got != (agentTransport{serialSocket: "/odd,dir/agent-serial.sock"}) {
		t.Fatalf("serial: %+v, %v", got, err)
	}

	l = launchConfig{Accel: "kvm", QMPSocket: "/q/api.sock", VsockCID: 123456}
	args, err = buildArgs(spec, l)
	if err != nil {
		t.Fatal(err)
	}
	got, err = agentTransportOf(append([]string{"qemu-system-x86_64"}, args...))
	if err != nil || got != (agentTransport{vsockCID: 123456}) {
		t.Fatalf("vsock: %+v, %v", got, err)
	}
}

func TestAgentTransportOfForeignProcesses(t *testing.T) {
	for _, argv := range [][]string{
		{"/usr/bin/sleep", "100"},
		{"qemu-system-x86_64", "-M", "q35", "-chardev", "socket,id=other,path=/x"},
		{"qemu-system-x86_64", "-device", "vhost-vsock-device,guest-cid=2"},
		{},
	} {
		if got, err := agentTransportOf(argv); err == nil {
			t.Errorf("%q: got %+v, want an error", argv, got)
		}
	}
}

func TestSplitOpts(t *testing.T) {
	got := splitOpts("socket,id=agent,path=/a,,b,,,server=on")
	want := []string{"socket", "id=agent", "path=/a,b,", "server=on"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestGuestCID(t *testing.T) {
	ids := []string{"", "0", "1a2b3c4d", "ffffffffffffffff", strings.Repeat("a", 64)}
	seen := map[uint32]bool{}
	for _, id := range ids {
		c := guestCID(id)
		if c < 3 || c >= 1<<31 {
			t.Errorf("guestCID(%q) = %d out of range", id, c)
		}
		if c != guestCID(id) {
			t.Errorf("guestCID(%q) not stable", id)
		}
		seen[c] = true
	}
	if len(seen) != len(ids) {
		t.Errorf("collisions among %d ids: %v", len(ids), seen)
	}
}
