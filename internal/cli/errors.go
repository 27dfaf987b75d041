package cli

import (
	"errors"
	"fmt"
)

var (
	// ErrUsage is returned when flags or arguments are missing, conflict or
	// are out of range.
	ErrUsage = errors.New("invalid usage")
	// ErrNoEndpoints is returned when neither --endpoints nor the selected
	// context names an endpoint to talk to.
	ErrNoEndpoints = errors.New("no endpoints")
	// ErrUnknownContext is returned when --context (or the client config's
	// current context) names a context the client config does not hold.
	ErrUnknownContext = errors.New("unknown context")
	// ErrUnhealthy is returned by health and cluster create when the cluster
	// does not pass every health check (in time, with --wait).
	ErrUnhealthy = errors.New("cluster is not healthy")
	// ErrNodeFailed is returned by commands that ask several nodes when at
	// least one of them failed; the others' answers are still printed.
	ErrNodeFailed = errors.New("some nodes failed")
	// ErrClusterExists is returned by cluster create when the cluster's state
	// directory already exists.
	ErrClusterExists = errors.New("cluster already exists")
	// ErrClusterNotFound is returned by cluster show and destroy when there is
	// no state for the named cluster.
	ErrClusterNotFound = errors.New("cluster not found")
	// ErrCairndNotFound is returned by cluster create when no cairnd binary is
	// given, next to cairnctl or in PATH.
	ErrCairndNotFound = errors.New("cairnd binary not found")
	// ErrEtcdNotFound is returned by cluster create --provisioner docker when
	// it must build the image and finds no etcd binary (--etcd, else next
	// to cairnd).
	ErrEtcdNotFound = errors.New("etcd binary not found")
	// ErrNoFreeSubnet is returned by cluster create when every loopback subnet
	// 127.0.N.0/24 it may use is taken.
	ErrNoFreeSubnet = errors.New("no free loopback subnet")
	// ErrNodeExited is returned by cluster create when a cairnd process exits
	// before the cluster is healthy.
	ErrNodeExited = errors.New("node process exited")
	// ErrEmptyFile is returned by commands that read a configuration or
	// patch file (config apply -f, config patch --patch-file) when it is
	// empty or holds only white space.
	ErrEmptyFile = errors.New("file is empty")
	// ErrNotYAML is returned by the same commands, and by config edit, for a
	// file that is not UTF-8 text (a binary file, or another encoding).
	ErrNotYAML = errors.New("not a YAML document")
	// ErrTooLarge is returned when a file or configuration is larger than a
	// node accepts (config.MaxDocumentBytes); it is checked before sending.
	ErrTooLarge = errors.New("too large")
	// ErrNotBack is returned by reboot --wait and reset --wait when the
	// node does not answer with a new boot ID within --wait-timeout.
	ErrNotBack = errors.New("node did not come back")
	// ErrUnsupported is returned by the process provisioner on platforms
	// without sessions and signals.
	ErrUnsupported = errors.New("not supported on this platform")
	// ErrNotImplemented is returned by cluster commands for a provisioner
	// that is named (--provisioner) but not built yet.
	ErrNotImplemented = errors.New("not implemented yet")
	// ErrBootFiles is returned by cluster create --provisioner qemu when
	// the kernel or initramfs is missing.
	ErrBootFiles = errors.New("VM boot files")
)

// ExitError ends cairnctl with Code without printing anything more: the
// command has already said why.
type ExitError struct {
	// Code is the process exit code.
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

var (
	// ErrNoClientCert is returned when the selected context (or the absence
	// of one) gives no client certificate: the node API requires one.
	ErrNoClientCert = errors.New("no client certificate")
	// ErrBadClientCert is returned when the context's CA or client
	// certificate cannot be used: unparsable, mismatched or expired.
	ErrBadClientCert = errors.New("unusable client certificate")
)

var (
	// ErrUnknownNode is returned by cluster stop, start and restart when a
	// named node is not in the cluster; the message lists the known ones.
	ErrUnknownNode = errors.New("unknown node")
	// ErrProcessesSurvived is returned by cluster destroy when processes of
	// the cluster still run after SIGKILL; the directory is kept.
	ErrProcessesSurvived = errors.New("cluster processes survived")
)

// ErrUpgradeStopped is returned by upgrade start --wait when the plan
// paused or was aborted instead of finishing.
var ErrUpgradeStopped = errors.New("the upgrade stopped")
