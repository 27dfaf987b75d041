// Package sysctl reads and writes kernel parameters under /proc/sys by
// their dotted names, as sysctl(8) does: a machine whose whole userspace is
// cairnd has no sysctl binary to run. See DESIGN.md for the name rules and
// which failures are worth retrying.
package sysctl
