package controllers

import (
	"fmt"
	"os"
	"strings"
)

// sharedNamespace reports whether cairnd runs beside other processes in
// namespace kind ("uts", "net"): it is not PID 1, and shares that
// namespace with PID 1 or with its parent. A machine's or a container's
// cairnd is PID 1 and owns its namespaces; one that is not was started
// in a forced mode by a test or by hand, and what it would change in a
// shared namespace belongs to the processes beside it (the host's
// hostname, the host's network parameters). A namespace that cannot be
// read (another user's process) proves nothing; the kernel's permission
// checks decide.
func sharedNamespace(kind string) bool {
	if os.Getpid() == 1 {
		return false
	}
	self, err := os.Readlink("/proc/self/ns/" + kind)
	if err != nil {
		return false
	}
	for _, pid := range []int{1, os.Getppid()} {
		if other, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind)); err == nil && other == self {
			return true
		}
	}
	return false
}

// hostSysctl returns why the parameter name is not cairnd's to write
// where cairnd is not PID 1, or nil: only net.* parameters belong to a
// namespace (the network's) it may own; the rest are the whole machine's.
func hostSysctl(name string) error {
	if os.Getpid() == 1 {
		return nil
	}
	if !strings.HasPrefix(name, "net.") && !strings.HasPrefix(name, "net/") {
		return ErrMachineSysctl
	}
	if sharedNamespace("net") {
		return ErrSharedNetNS
	}
	return nil
}
