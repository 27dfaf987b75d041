// Package power names what an operator may ask of a machine's power —
// reboot, power off, reset — as values that travel up the stack: the API
// asks the node to stop, node.Run returns a *Request as its error, and
// cairnd's main carries it out in the manner of its mode (reboot(2) as
// PID 1, an exit code its parent understands otherwise). Nothing below
// main calls reboot(2), so every service is stopped, in reverse dependency
// order, before the machine goes down.
package power

import (
	"errors"
	"fmt"
)

// Action is what the machine does once the node has stopped.
type Action string

// Actions.
const (
	// Reboot restarts the machine: reboot(2) with RB_AUTOBOOT as PID 1, a
	// restart by the parent (boot stage, container runtime) otherwise.
	Reboot Action = "reboot"
	// Poweroff halts the machine: reboot(2) with RB_POWER_OFF as PID 1, an
	// exit its parent does not restart otherwise.
	Poweroff Action = "poweroff"
)

// Exit codes with which cairnd tells a parent that is not a kernel what to
// do (process mode's boot stage; a container runtime with restart policy
// on-failure).
const (
	// ExitPoweroff: stay stopped.
	ExitPoweroff = 0
	// ExitReboot: start cairnd again at once, without backoff.
	ExitReboot = 75
)

// Request is a power operation the node stopped for. node.Run returns it as
// its error (errors.As finds it); main acts on it.
type Request struct {
	Action Action
	// Reset says the node's state was wiped before it stopped (the node
	// left Raft first), so the machine comes back as a new member.
	Reset bool
	// Reason is who asked and why, for the console and the log.
	Reason string
}

func (r *Request) Error() string {
	what := string(r.Action)
	if r.Reset {
		what = "reset and " + what
	}
	if r.Reason != "" {
		return fmt.Sprintf("%s requested: %s", what, r.Reason)
	}
	return what + " requested"
}

// As returns the power request in err's chain, if any.
func As(err error) (*Request, bool) {
	var r *Request
	ok := errors.As(err, &r)
	return r, ok
}

// ExitCode is the exit code that tells a non-kernel parent to carry out a.
func ExitCode(a Action) int {
	if a == Reboot {
		return ExitReboot
	}
	return ExitPoweroff
}
