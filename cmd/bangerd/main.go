// Command bangerd is the banger daemon. `bangerd priv ...` is the hidden
// privileged helper that bangerd itself runs through `sudo -n`.
package main

import (
	"os"

	"banger/internal/daemon/cmd"
)

func main() { os.Exit(cmd.Main(os.Args[1:])) }
