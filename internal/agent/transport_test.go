package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestFindSerialPort(t *testing.T) {
	dev, sys := t.TempDir(), t.TempDir()
	if _, err := FindSerialPort(dev, sys, "banger.agent"); !errors.Is(err, ErrNoSerialPort) {
		t.Fatalf("nothing there: got %v", err)
	}
	// Before udev: only sysfs knows the name.
	writeFile(t, sys+"/class/virtio-ports/vport0p1/name", "org.qemu.guest_agent.0\n")
	writeFile(t, sys+"/class/virtio-ports/vport0p2/name", "banger.agent\n")
	if got, err := FindSerialPort(dev, sys, "banger.agent"); err != nil || got != dev+"/vport0p2" {
		t.Fatalf("sysfs: got %q, %v", got, err)
	}
	// With udev's symlink, that wins.
	writeFile(t, dev+"/vport0p2", "")
	os.MkdirAll(dev+"/virtio-ports", 0o755)
	os.Symlink("../vport0p2", dev+"/virtio-ports/banger.agent")
	if got, err := FindSerialPort(dev, sys, "banger.agent"); err != nil || got != filepath.Join(dev, "virtio-ports/banger.agent") {
		t.Fatalf("udev link: got %q, %v", got, err)
	}
}

func TestListenDebug(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "a.sock")
	for _, spec := range []string{"unix:" + sock, "tcp:127.0.0.1:0"} {
		ln, err := ListenDebug(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		ln.Close()
	}
	for _, spec := range []string{"", "unix:", "udp:127.0.0.1:1", "/tmp/x.sock", "tcp:256.0.0.1:1"} {
		if ln, err := ListenDebug(spec); err == nil {
			ln.Close()
			t.Errorf("%q: no error", spec)
		}
	}
}

// A transport that is missing at first is retried in the background and
// served once it appears, while a working one is served all along.
func TestServeTransportsRetriesMissingDevice(t *testing.T) {
	s, _ := testServer(t)
	lnA, err := net.Listen("unix", filepath.Join(t.TempDir(), "a.sock"))
	if err != nil {
		t.Fatal(err)
	}
	pathB := filepath.Join(t.TempDir(), "b.sock")
	var tries atomic.Int32
	ts := []Transport{
		{Name: "a", Listen: func() (net.Listener, error) { return lnA, nil }},
		{Name: "b", Listen: func() (net.Listener, error) {
			if tries.Add(1) < 3 {
				return nil, ErrNoSerialPort
			}
			return net.Listen("unix", pathB)
		}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.ServeTransports(ctx, ts); close(done) }()

	get := func(path string) error {
		c := &http.Client{Timeout: time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", path)
			}}}
		req, _ := http.NewRequest("GET", "http://agent/v1/health", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	}
	if err := get(lnA.Addr().String()); err != nil {
		t.Fatalf("transport a: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for get(pathB) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("transport b never served (tried %d times)", tries.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("ServeTransports did not return after cancel")
	}
}
