package boot

import "errors"

var (
	// ErrRunning is returned by Run when another boot stage holds the state
	// directory's PID file lock.
	ErrRunning = errors.New("a boot stage already runs for this state directory")
	// ErrNotRunning is returned by Call when nothing answers on the state
	// directory's control socket: no socket, or a socket nobody listens on.
	ErrNotRunning = errors.New("no boot stage running")
	// ErrUnknownOp is returned by Call (and answered by the boot stage) for
	// an operation the boot stage does not know.
	ErrUnknownOp = errors.New("unknown operation")
	// ErrShuttingDown is returned by Call for a request that reached the boot
	// stage while it was exiting.
	ErrShuttingDown = errors.New("boot stage is shutting down")
	// ErrRefused is returned by Call when the boot stage answered with an
	// error, such as a failed start of the child; the message follows.
	ErrRefused = errors.New("boot stage refused")
	// ErrUnsupported is returned by Run on platforms without process
	// groups, signals and flock.
	ErrUnsupported = errors.New("the boot stage is not supported on this platform")
	// ErrNoSlots answers a slot request to a boot stage run without
	// Options.Slots.
	ErrNoSlots = errors.New("this boot stage has no A/B slots")
	// ErrBadSlot answers a try or rollback of a slot that is not A or B,
	// holds no binary, or is the one running.
	ErrBadSlot = errors.New("bad slot")
	// ErrNotOnTrial answers a confirm of a slot that is neither on trial
	// in the running child nor the confirmed one.
	ErrNotOnTrial = errors.New("slot is not on trial")
	// ErrBadRecord is a boot record that cannot be read as one; the boot
	// stage then boots slot A and keeps the bad file beside it.
	ErrBadRecord = errors.New("bad boot record")
	// ErrInvalidOptions is returned by Run when Options lack a state
	// directory or a child command.
	ErrInvalidOptions = errors.New("invalid boot options")
)
