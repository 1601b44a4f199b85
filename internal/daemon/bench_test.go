package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/daemon/server"
	"banger/internal/store"
)

// BenchmarkListVMs200 measures GET /v1/vms with 200 VM records through the
// real API server and client over a unix socket (`vm list` minus process
// start-up).
func BenchmarkListVMs200(b *testing.B) {
	base := b.TempDir()
	td := newTestDaemon(b, newFakeHost(), base)
	defer td.Close()
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		v := &store.VM{ID: fmt.Sprintf("%016x", i), Name: fmt.Sprintf("vm-%d", i), State: api.StateStopped, ImageID: "img", ImageName: "default",
			VCPUs: 2, MemoryMiB: 1024, DiskSize: 8 << 30, MAC: "02:00:00:00:00:01", VMM: "fake", Kernel: "/k", Initrd: "/i", Rootfs: "/r", CreatedAt: time.Now()}
		if err := td.store.CreateVM(ctx, v, td.cfg.BridgePrefix()); err != nil {
			b.Fatal(err)
		}
	}
	sock := filepath.Join(base, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: server.New(td.Daemon, slog.New(slog.NewTextHandler(io.Discard, nil)))}
	go srv.Serve(ln)
	defer srv.Close()
	c := client.New(sock)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vms, err := c.ListVMs(ctx)
		if err != nil || len(vms) != 200 {
			b.Fatalf("%v %d", err, len(vms))
		}
	}
}
