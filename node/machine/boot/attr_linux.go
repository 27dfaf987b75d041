package boot

import "syscall"

// childAttr gives the child its own process group and, through
// PR_SET_PDEATHSIG, a SIGTERM when the boot stage dies, even by SIGKILL, so
// no node outlives the parent that is meant to manage it. (The signal is
// tied to the thread that forked the child; Go only ends threads of
// goroutines locked with LockOSThread, which this package never uses.)
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
