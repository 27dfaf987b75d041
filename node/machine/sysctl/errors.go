package sysctl

import "errors"

var (
	// ErrInvalidName is returned for a name that does not map to a path
	// below the root: empty, with an empty, "." or ".." segment, or
	// absolute.
	ErrInvalidName = errors.New("invalid sysctl name")
	// ErrNoParameter is returned when the kernel has no parameter of that
	// name (the file does not exist): a typo, a module not loaded, an
	// interface not there yet.
	ErrNoParameter = errors.New("no such parameter")
	// ErrNotParameter is returned for a name that is a directory of
	// parameters (net.ipv4) rather than one parameter.
	ErrNotParameter = errors.New("not a parameter but a directory of them")
)
