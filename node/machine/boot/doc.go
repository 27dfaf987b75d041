// Package boot is the boot stage of cairnd: a small parent process that runs
// the node (cairnd itself, re-executed) as its only child, restarts it with
// capped exponential backoff when it exits unexpectedly, and takes stop,
// start, restart and shutdown requests on a unix control socket in the
// node's state directory. It writes its own PID file and socket at start, so
// they describe the process that actually runs, whoever started it.
//
// It imports nothing of Cairn's: a later boot stage picks the A/B slot to
// run, and the code that chooses and restarts the node must not depend on
// the node it runs. See DESIGN.md.
package boot
