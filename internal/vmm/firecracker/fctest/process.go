package fctest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"banger/internal/agent/agentproto"
)

// Environment variables that steer Main. The driver builds the fake's argv
// itself, so tests pass their wishes through the environment it inherits.
const (
	// EnvMode: "" serves normally; "die" exits 1 before serving, like a
	// Firecracker that cannot open /dev/kvm; "hang" runs but never serves.
	EnvMode = "FCTEST_MODE"
	// EnvPIDLog names a file the fake appends its pid to, so a test can
	// check that no fake process outlives a failed start.
	EnvPIDLog = "FCTEST_PID_LOG"
	// EnvDropFields is a comma-separated Config.DropFields list.
	EnvDropFields = "FCTEST_DROP_FIELDS"
	// EnvVersion is the version the fake reports (--version, GET /).
	EnvVersion = "FCTEST_VERSION"
)

// Main runs a fake `firecracker --api-sock <path> --id <id>` process and
// returns its exit code. Like Firecracker it writes its log and the guest
// console to stdout, refuses to bind over an existing API socket, and exits
// (status 0, sockets left behind) when the guest reboots after
// SendCtrlAltDel.
func Main(args []string) int {
	stdout, stderr := os.Stdout, os.Stderr
	fs := flag.NewFlagSet("firecracker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	apiSock := fs.String("api-sock", "/run/firecracker.socket", "API socket path")
	id := fs.String("id", "anonymous-instance", "instance id")
	showVersion := fs.Bool("version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	version := os.Getenv(EnvVersion)
	if version == "" {
		version = Version
	}
	if *showVersion {
		// Firecracker's exact format (src/firecracker/src/main.rs).
		fmt.Fprintf(stdout, "Firecracker v%s\n\n", version)
		return 0
	}
	if p := os.Getenv(EnvPIDLog); p != "" {
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintln(f, os.Getpid())
			f.Close()
		}
	}
	logf := func(w io.Writer, format string, a ...any) {
		fmt.Fprintf(w, "%s [%s:main] %s\n", time.Now().Format("2006-01-02T15:04:05.000000000"), *id, fmt.Sprintf(format, a...))
	}
	logf(stdout, "Running Firecracker v%s", version)

	switch os.Getenv(EnvMode) {
	case "die":
		logf(stdout, "Error creating the Kvm object: Error opening /dev/kvm: No such file or directory (os error 2)")
		fmt.Fprintln(stderr, "Error: RunWithoutApiError(BuildMicroVm(Kvm(Kvm(Error(2)))))")
		logf(stdout, "Firecracker exiting with error. exit_code=1")
		return 1
	case "hang":
		for {
			time.Sleep(time.Hour)
		}
	}

	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: *apiSock, Net: "unix"})
	if err != nil {
		logf(stdout, "RunWithApiError error: Failed to open the API socket at: %s. Check that it is not already used.", *apiSock)
		fmt.Fprintf(stderr, "Error: RunWithApi(FailedToBindSocket(%q))\n", *apiSock)
		return 1
	}
	ln.SetUnlinkOnClose(false)

	reboot := make(chan struct{})
	var once sync.Once
	var drop []string
	if v := os.Getenv(EnvDropFields); v != "" {
		drop = strings.Split(v, ",")
	}
	api := NewServer(Config{
		ID:           *id,
		Console:      stdout,
		AgentPorts:   []uint32{agentproto.Port},
		DropFields:   drop,
		OnCtrlAltDel: func() { once.Do(func() { close(reboot) }) },
		KeepSockets:  true,
		Version:      version,
	})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)

	<-reboot
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	api.Close()
	logf(stdout, "Vmm is stopping. exit_code=0 (pid %s)", strconv.Itoa(os.Getpid()))
	return 0
}
