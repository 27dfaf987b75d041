package controllers

import "errors"

// The guards against changing what belongs to the processes beside a
// cairnd that is not PID 1 (beside.go).
var (
	// ErrSharedUTS is returned when setting the hostname where cairnd is
	// not PID 1 yet shares its UTS namespace with PID 1 or its parent: it
	// runs beside the host's processes (a container-mode cairnd started
	// without a UTS namespace of its own), and the hostname is theirs.
	ErrSharedUTS = errors.New("cairnd shares its UTS namespace with the processes that started it, so the hostname is theirs: not set")
	// ErrSharedNetNS is returned for a net.* sysctl where cairnd is not
	// PID 1 and shares its network namespace with PID 1 or its parent: the
	// parameter is theirs.
	ErrSharedNetNS = errors.New("cairnd shares its network namespace with the processes that started it, so the parameter is theirs: not set")
	// ErrMachineSysctl is returned for a sysctl outside net.* where cairnd
	// is not PID 1: such parameters are the whole machine's, set only by
	// cairnd as PID 1 (a container's PID 1 is refused by the kernel).
	ErrMachineSysctl = errors.New("not a per-namespace parameter, and cairnd is not PID 1: not set")
)
