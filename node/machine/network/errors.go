package network

import "errors"

var (
	// ErrInvalidConfig is returned by DesiredFrom when the node's network
	// section cannot be turned into a spec: an address or prefix that does
	// not parse, a route prefix with host bits set, a gateway of the other
	// address family, a reference to an undeclared link or a duplicate entry.
	ErrInvalidConfig = errors.New("invalid network config")

	// ErrLinkNotFound is returned (joined with any other failures) by Apply
	// and Plan when a link named in the spec does not exist in the kernel.
	// Everything on the other links is still converged.
	ErrLinkNotFound = errors.New("link not found")

	// ErrNoHandle is returned by Apply, Plan and Observe when they are given
	// a nil *netlink.Handle.
	ErrNoHandle = errors.New("no netlink handle")

	// ErrInvalidHostname is returned by SetHostname for an empty name or one
	// longer than the kernel's 64-byte limit.
	ErrInvalidHostname = errors.New("invalid hostname")
)
