// Command banger-bundle is the developer tool behind `make runtime-bundle`,
// `make runtime-package` and `make rootfs`: it fetches, builds, packages and
// verifies the runtime bundle that banger's VMs boot from.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: banger-bundle <command> [flags]

commands:
  fetch    --manifest F --dest DIR           install the archive a manifest names
  build    --dest DIR --agent PATH [...]     build a bundle from Debian (needs root)
  auto     --manifest F --dest DIR --agent PATH [--cache DIR --key K]
                                             fetch when the manifest has a url, else build
                                             (or, with --cache, install a copy of the cached build)
  cache    --cache DIR --key K --agent PATH  build or reuse the cached bundle for K; print its directory
  rootfs   --dest DIR [--base-rootfs PATH]   rebuild only the rootfs and work seed (needs root)
  agent    --dest DIR --agent PATH           install a new guest agent into the bundle and its rootfs
  void-rootfs [--mirror URL] [--size SIZE] [--out DIR]
                                             build the experimental Void rootfs + work seed (needs root)
  package  --src DIR --out FILE              write a deterministic tar.gz and print its SHA256
  verify   --dir DIR                         check a bundle; exit 1 on problems

Run "banger-bundle <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		os.Exit(2)
	case errors.Is(err, errProblems):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "banger-bundle:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return usageError{errors.New("no command")}
	}
	cmds := map[string]func(context.Context, []string) error{
		"fetch": cmdFetch, "build": cmdBuild, "auto": cmdAuto, "cache": cmdCache,
		"rootfs": cmdRootfs, "void-rootfs": cmdVoidRootfs, "agent": cmdAgent, "package": cmdPackage, "verify": cmdVerify,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(os.Stdout, usage)
			return nil
		}
		fmt.Fprint(os.Stderr, usage)
		fmt.Fprintf(os.Stderr, "\nunknown command %q\n", args[0])
		return usageError{fmt.Errorf("unknown command %q", args[0])}
	}
	return cmd(ctx, args[1:])
}
