// Package version holds the build's version, set with -ldflags by the Makefile.
package version

import "runtime/debug"

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
