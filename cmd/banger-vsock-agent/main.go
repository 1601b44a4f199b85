// Command banger-vsock-agent is the guest agent: the guest's init starts it
// with no flags (systemd: agent.Unit; runit: the service guestconfig
// renders) and it serves the agent API on vsock and on the
// banger.agent virtio-serial port, whichever exist, to callers that present
// the VM's token (agentproto.TokenPath).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"banger/internal/agent"
	"banger/internal/agent/agentproto"
)

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banger-vsock-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	showVersion := fs.Bool("version", false, "print the version and exit")
	// Hidden: serve on a unix socket or TCP address instead of the VM
	// transports, to run and measure the agent outside a VM.
	listen := fs.String("listen", "", "")
	// Hidden: where the VM's agent token is, for the same purpose.
	tokenFile := fs.String("token-file", agentproto.TokenPath, "")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: banger-vsock-agent [--version]")
		fmt.Fprintln(stderr, "Serves the banger guest agent on vsock and the banger.agent virtio-serial port.")
		fmt.Fprintln(stderr, "Started by the guest's init (systemd's "+agent.UnitName+" or a runit service); takes no flags.")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, version)
		return 0
	}

	level := slog.LevelInfo
	if os.Getenv("BANGER_AGENT_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Without its token the agent still serves, refusing every request
	// with an answer that says why, rather than restarting in a loop.
	token, err := agent.LoadToken(*tokenFile)
	if err != nil {
		log.Error("no agent token; every request will be refused", "error", err)
	}
	srv := agent.NewServer(agent.Options{Version: version, Log: log, Token: token})
	if *listen == "" {
		log.Info("banger-vsock-agent starting", "version", version)
		srv.ServeTransports(ctx, agent.GuestTransports(log))
		return 0
	}
	ln, err := agent.ListenDebug(*listen)
	if err != nil {
		fmt.Fprintln(stderr, "banger-vsock-agent:", err)
		return 1
	}
	log.Info("banger-vsock-agent serving on a debug listener", "addr", ln.Addr().String())
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintln(stderr, "banger-vsock-agent:", err)
		return 1
	}
	return 0
}
