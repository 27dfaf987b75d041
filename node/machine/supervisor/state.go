package supervisor

import (
	"fmt"
	"time"
)

// State is where a service is in its lifecycle. Health is reported
// separately (Status.Health), because a running process can become
// unhealthy and recover without being restarted.
type State int

const (
	// StateWaiting means the service waits for its dependencies or its start
	// condition; Status.Message says for what.
	StateWaiting State = iota + 1
	// StateStarting means the process runs but its health check has not
	// passed yet.
	StateStarting
	// StateRunning means the process runs and, with a health check, passed
	// it at least once.
	StateRunning
	// StateBackoff means the process ended and will be started again after
	// the current backoff delay.
	StateBackoff
	// StateFinished means the process exited with code 0 and the restart
	// policy does not run it again.
	StateFinished
	// StateFailed means the process failed and the restart policy does not
	// run it again.
	StateFailed
	// StateStopped means the service was stopped on request (Stop, or Run's
	// shutdown) and stays stopped until Start or Restart.
	StateStopped
)

var stateNames = [...]string{"", "waiting", "starting", "running", "backoff", "finished", "failed", "stopped"}

// String returns the state's lowercase name.
func (s State) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Health is the outcome of a service's health checks.
type Health int

const (
	// HealthNone means the service has no health check.
	HealthNone Health = iota
	// HealthUnknown means no check has counted yet for the current process
	// (or no process runs).
	HealthUnknown
	// HealthHealthy means the last check passed.
	HealthHealthy
	// HealthUnhealthy means the last counted check failed.
	HealthUnhealthy
)

var healthNames = [...]string{"", "unknown", "healthy", "unhealthy"}

// String returns "healthy", "unhealthy", "unknown", or "" for HealthNone.
func (h Health) String() string {
	if h >= 0 && int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("Health(%d)", int(h))
}

// Status is a snapshot of one service.
type Status struct {
	// Name is the service's name.
	Name string
	// State is the lifecycle state.
	State State
	// Health is the health check outcome of the current process.
	Health Health
	// PID is the running process's ID, 0 when none runs.
	PID int
	// Restarts counts starts after the first, whatever caused them.
	Restarts int
	// LastExitCode is the exit code of the last process that exited, -1 if
	// a signal killed it, 0 before any exit.
	LastExitCode int
	// LastError is the most recent failure: a start error, a non-zero
	// exit, or a failed health check (wrapping ErrUnhealthy). It is kept
	// after the service recovers; nil if nothing ever failed.
	LastError error
	// Message explains the current state for humans.
	Message string
	// Since is when the service entered its current state.
	Since time.Time
}

// Ready reports whether services that depend on this one may start: its
// process runs and its health check, if it has one, passes.
func (s Status) Ready() bool {
	return s.State == StateRunning && (s.Health == HealthNone || s.Health == HealthHealthy)
}
