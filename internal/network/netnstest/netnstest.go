// Package netnstest gives privileged tests a throwaway network namespace, so
// that bridges, TAPs, NAT rules and sysctls they touch never reach the host's
// own network. It is imported only from tests.
//
// A test needs root and iproute2's `ip`. Without them it is skipped with a
// message naming what is missing — except when CI=true, where it fails.
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"banger/internal/execx"
	"banger/internal/testenv"
)

// Require skips (or, under CI=true, fails) t unless the process is root and
// every named tool is on PATH.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	missing := ""
	if os.Geteuid() != 0 {
		missing = "root (run as root)"
	}
	for _, tool := range tools {
		if missing != "" {
			break
		}
		if _, err := execx.LookPath(tool); err != nil {
			missing = fmt.Sprintf("the %s tool (%v)", tool, err)
		}
	}
	testenv.RequireOrSkip(t, missing+" (privileged test)", missing == "")
}

// NS is a named network namespace (`ip netns add`) owned by one test.
type NS struct {
	Name   string
	handle netns.NsHandle
}

// New creates a namespace named banger-t-<random>, brings its loopback up
// and deletes it when the test ends, whether it passed or not.
func New(t testing.TB) *NS {
	t.Helper()
	Require(t, "ip")
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "banger-t-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := execx.Run(ctx, "ip", "netns", "add", name); err != nil {
		t.Fatalf("create network namespace: %v", err)
	}
	ns := &NS{Name: name, handle: -1}
	t.Cleanup(func() {
		if ns.handle >= 0 {
			ns.handle.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := execx.Run(ctx, "ip", "netns", "del", name); err != nil {
			t.Errorf("delete network namespace %s: %v", name, err)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open network namespace %s: %v", name, err)
	}
	ns.handle = h
	if _, err := ns.Exec(ctx, "ip", "link", "set", "lo", "up"); err != nil {
		t.Fatalf("bring up loopback in %s: %v", name, err)
	}
	return ns
}

// Exec runs argv inside the namespace through `ip netns exec`, which also
// gives the command a /sys of the namespace.
func (ns *NS) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	return execx.Run(ctx, append([]string{"ip", "netns", "exec", ns.Name}, argv...)...)
}

// Do runs fn on the calling goroutine with its OS thread switched into the
// namespace. Everything fn does on this goroutine — netlink calls, ioctls on
// /dev/net/tun, writes under /proc/sys/net, subprocesses it starts — happens
// inside the namespace; goroutines fn starts do not inherit it. fn may call
// t.Fatal: the thread is switched back on the way out. If it cannot be
// switched back it stays locked, so the runtime discards it when the
// goroutine ends instead of reusing a thread in the wrong namespace.
func (ns *NS) Do(t testing.TB, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current network namespace: %v", err)
	}
	if err := netns.Set(ns.handle); err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("enter network namespace %s: %v", ns.Name, err)
	}
	defer func() {
		defer orig.Close()
		if err := netns.Set(orig); err != nil {
			t.Errorf("leave network namespace %s: %v (thread retired)", ns.Name, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}
