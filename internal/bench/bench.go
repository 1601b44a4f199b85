// Package bench measures banger by driving the real CLI against a daemon
// of its own, in a network namespace of its own (sandbox.go): `create`
// takes every figure of a VM's life (cold create → SSH, stop/start → SSH,
// suspend, resume → SSH, snapshot size, clone at 4G and 64G, idle VMM CPU,
// bangerd's and the guest agent's memory), `boot` compares two images'
// boot → SSH in one run. On the qemu path `create --bare` also boots the
// same disks with a bare qemu command line.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

type bencher struct {
	sb                      *sandbox
	banger, image, diskSize string
	timeout                 time.Duration
	log                     io.Writer
	vmm, accel              string // seen by boot
}

func printJSON(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

func (b *bencher) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := b.sb.command(ctx, b.banger, args...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, fmt.Errorf("banger %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return out, fmt.Errorf("banger %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

type vmInfo struct {
	ID, Name, VMM, Accel, IP, Dir string
	PID                           int
	DiskSize                      int64 `json:"disk_size_bytes"`
}

func (b *bencher) show(ctx context.Context, name string) (vmInfo, error) {
	out, err := b.cli(ctx, "vm", "show", "--json", name)
	if err != nil {
		return vmInfo{}, err
	}
	var v vmInfo
	return v, json.Unmarshal(out, &v)
}

// waitSSH polls `banger vm ssh NAME -- true` until it succeeds.
func (b *bencher) waitSSH(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	for {
		cmd := b.sb.command(ctx, b.banger, "vm", "ssh", name, "--", "true")
		if cmd.Run() == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vm %s: ssh not ready within %s", name, b.timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarize(xs []float64) Summary {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{Min: s[0], Median: med}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
