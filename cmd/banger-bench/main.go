// Command banger-bench measures banger: `banger-bench create` is what
// `make bench-create` runs.
package main

import (
	"os"

	"banger/internal/bench"
)

func main() { os.Exit(bench.Main(os.Args[1:])) }
