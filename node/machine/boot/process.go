package boot

import "time"

// child is one run of the child process. Its Wait runs in a goroutine that
// reports on exited exactly once, so every child is reaped however it ends.
type child struct {
	pid     int
	started time.Time
	exited  chan exitResult // buffered: the Wait goroutine never blocks
}

// exitResult is how a child ended.
type exitResult struct {
	summary string
	uptime  time.Duration
	// clean is an exit with code 0: the child stopped on purpose (cairnd
	// does after it was removed from the cluster), so it is not restarted.
	clean bool
	// code is the exit code, -1 when a signal ended the child.
	code int
}
