package kmod

import "errors"

var (
	// ErrUnknownModule is returned for a requested module, or a dependency
	// of one, that neither modules.dep nor modules.builtin names.
	ErrUnknownModule = errors.New("unknown kernel module")
	// ErrCycle is returned for a requested module whose dependencies in
	// modules.dep form a cycle (depmod never writes one; a hand-edited or
	// corrupt file may).
	ErrCycle = errors.New("kernel module dependency cycle")
	// ErrCompressed is returned for a module stored compressed (.ko.xz,
	// .ko.zst, .ko.gz): cairnd does not decompress modules yet.
	ErrCompressed = errors.New("compressed modules are not supported yet")
	// ErrNoIndex is returned by Open for a modules directory without
	// modules.dep: the image ships no modules, which retrying does not
	// change.
	ErrNoIndex = errors.New("no kernel modules index")
	// ErrMalformed is returned when a line of modules.dep cannot be parsed.
	ErrMalformed = errors.New("malformed modules.dep")
	// ErrDependencyFailed is returned for a module whose dependency failed
	// to load, so it was not attempted.
	ErrDependencyFailed = errors.New("dependency failed to load")
)
