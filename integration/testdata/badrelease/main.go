// Command badrelease is a stand-in for a broken cairnd release, built by
// the upgrade tests with a release version (-X internal/version.Version)
// and a way to fail (-X main.mode): "exit" exits 1 at once, as a binary
// that cannot start; "hang" runs and serves nothing until it is killed,
// as a release that starts but never becomes healthy.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairn-project/cairn/internal/version"
)

var mode = "exit"

func main() {
	fmt.Fprintf(os.Stderr, "badrelease %s: mode %s\n", version.Version, mode)
	if mode != "hang" {
		os.Exit(1)
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
	os.Exit(0)
}
