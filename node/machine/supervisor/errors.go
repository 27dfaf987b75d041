package supervisor

import "errors"

var (
	// ErrInvalidSpec is returned by Supervisor.Add when a Spec is incomplete
	// or inconsistent: no or a malformed name, a relative path, several or
	// malformed health check targets, negative durations, or a service that
	// depends on itself.
	ErrInvalidSpec = errors.New("invalid service spec")
	// ErrExists is returned by Supervisor.Add when a service of that name was
	// already added.
	ErrExists = errors.New("service already exists")
	// ErrNotFound is returned by Start, Stop, Restart, Status and Logs when
	// no service of that name was added.
	ErrNotFound = errors.New("service not found")
	// ErrDependencyCycle is returned by Supervisor.Add when the new service
	// would close a cycle of DependsOn edges; such services could never
	// start, and could not be stopped in dependency order either.
	ErrDependencyCycle = errors.New("service dependency cycle")
	// ErrNotRunning is returned by Start, Stop and Restart when Run is not
	// running: it has not been called yet, or it is stopping or has
	// returned. Only Run's orderly shutdown stops services then.
	ErrNotRunning = errors.New("supervisor is not running")
	// ErrClosed is returned by Run when Run was called before (a Supervisor
	// runs once), and by Add once Run has begun to stop.
	ErrClosed = errors.New("supervisor is closed")
	// ErrUnhealthy wraps every failed health check in Status.LastError, so
	// callers can tell a health-driven restart from an exit.
	ErrUnhealthy = errors.New("health check failed")
)
