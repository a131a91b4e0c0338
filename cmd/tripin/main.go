// Command tripin runs the Tripin tour-booking backend: API, queue workers,
// scheduler and dashboard, and the operator commands around them.
package main

import (
	"os"

	"github.com/tripintravel/tripin/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
