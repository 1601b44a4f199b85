// Package cmd is bangerd's command line: it loads paths and config, runs the
// daemon, or runs the privileged helper, and maps errors to exit codes.
package cmd

import (
	"context"
	"fmt"
	"os"

	"banger/internal/config"
	"banger/internal/daemon"
	"banger/internal/network"
	"banger/internal/paths"
	"banger/internal/privileged"
	"banger/internal/version"
	"banger/internal/vmm/bootlog"
)

// Main runs bangerd with args and returns its exit code.
func Main(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "priv":
			return privileged.Main(context.Background(), args[1:], os.Stdin, os.Stdout)
		case bootlog.Subcommand:
			// The detached per-VM log pump (internal/vmm/bootlog).
			return bootlog.Main(args[1:])
		case "--version", "version":
			fmt.Println("bangerd", version.Version)
			return 0
		case "-h", "--help", "help":
			sock, log := "$XDG_RUNTIME_DIR/banger/bangerd.sock", "~/.local/state/banger/bangerd.log"
			if l, err := paths.FromEnv(); err == nil {
				sock, log = l.Socket(), l.LogFile()
			}
			fmt.Printf("usage: bangerd [--version]\n\nbangerd is banger's daemon; the banger CLI starts it when needed.\nIt serves the API on %s and logs to %s.\n", sock, log)
			return 0
		default:
			fmt.Fprintf(os.Stderr, "bangerd: unknown argument %q (bangerd takes no arguments; see --help)\n", args[0])
			return 2
		}
	}
	// The test suite sets BANGER_REQUIRE_NETNS=1 on every daemon it
	// starts: a daemon reconciles bridges, TAPs and NAT rules at startup,
	// and one that lands in the host's namespace by mistake must not touch
	// the developer's own VMs.
	if os.Getenv("BANGER_REQUIRE_NETNS") == "1" {
		if ns, err := network.NamedNamespace(); err != nil || ns == "" {
			fmt.Fprintf(os.Stderr, "bangerd: BANGER_REQUIRE_NETNS=1 but this is not a namespace made with `ip netns add` (%v); refusing to start\n", err)
			return 1
		}
	}
	layout, err := paths.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bangerd:", err)
		return 1
	}
	cfg, err := config.Load(layout.ConfigFile(), os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, "bangerd:", err)
		return 1
	}
	exe, _ := os.Executable()
	err = daemon.Run(context.Background(), daemon.Options{Layout: layout, Config: cfg, Exe: exe, Stderr: os.Stderr, Version: version.Version})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bangerd:", err)
		return 1
	}
	return 0
}
