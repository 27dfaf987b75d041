package supervisor

import "golang.org/x/sys/unix"

// waitExited blocks until the child pid has exited but leaves it unreaped
// (WNOWAIT): it stays a zombie, holding its PID and process group ID, until
// Wait reaps it. It reports whether it could wait that way.
func waitExited(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}
