package qemu

import "errors"

var (
	// ErrNotRoot is returned by Check when the caller is not root: the
	// bridge, its network namespace and the taps need CAP_NET_ADMIN.
	ErrNotRoot = errors.New("the qemu provisioner needs root (a bridge and tap devices in a network namespace of the cluster's)")
	// ErrNoQEMU is returned by Check when qemu-system-x86_64 is not in PATH.
	ErrNoQEMU = errors.New("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
	// ErrNoTun is returned by Check when /dev/net/tun is missing.
	ErrNoTun = errors.New("/dev/net/tun is missing (modprobe tun)")
	// ErrStart is returned when QEMU refuses to start a VM; it carries
	// QEMU's own message.
	ErrStart = errors.New("start VM")
)
