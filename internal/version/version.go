// Package version holds the build's version, set with -ldflags by the Makefile.
package version

import (
	"fmt"
	"runtime/debug"
)

// Version is the Cairn release ("dev" for untagged builds).
var Version = "dev"

// Commit returns the VCS revision recorded by the Go toolchain, if any.
func Commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// OSRelease is a Cairn node's /etc/os-release (os-release(5)) for version
// v: what kubelet reports as its Node's OS image. The image ships it, and
// a container node that runs a newer cairnd from a boot slot shows that
// one's over it (node/machine/kubehost.ShowRelease).
func OSRelease(v string) []byte {
	return fmt.Appendf(nil, "NAME=\"Cairn\"\nID=cairn\nVERSION_ID=%q\nPRETTY_NAME=\"Cairn %s\"\nHOME_URL=\"https://github.com/cairn-project/cairn\"\n", v, v)
}
