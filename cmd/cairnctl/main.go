// Command cairnctl is the Cairn operator CLI: it generates cluster
// configurations, reads and changes the replicated configuration, shows
// membership, consensus and health, and runs local clusters of cairnd
// processes. See `cairnctl --help`; the commands live in internal/cli.
package main

import (
	"os"

	"github.com/cairn-project/cairn/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
