//go:build unix && !linux

package boot

import "syscall"

// childAttr gives the child its own process group. Without Linux's
// PR_SET_PDEATHSIG a child outlives a boot stage that is killed.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
