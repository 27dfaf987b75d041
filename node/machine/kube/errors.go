package kube

import "errors"

var (
	// ErrMissingSecret is returned when the bootstrap secrets lack a key
	// the control plane needs.
	ErrMissingSecret = errors.New("missing Kubernetes secret")
	// ErrBadInputs is returned for inputs no component can be started
	// with (a node address that is not an IP, say).
	ErrBadInputs = errors.New("bad Kubernetes inputs")
)
