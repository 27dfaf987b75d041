package kmsg

import "errors"

var (
	// ErrUnavailable is returned by Open when the device cannot be opened
	// for reading: it does not exist (a container without /dev/kmsg) or
	// the caller may not read it (no CAP_SYSLOG while
	// kernel.dmesg_restrict is set, as for process mode run by a user).
	ErrUnavailable = errors.New("the kernel message buffer cannot be read")
	// ErrMalformed is returned by Parse for bytes that are not a kmsg
	// record.
	ErrMalformed = errors.New("malformed kmsg record")
)
