package kube

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Version is the Kubernetes release the binaries of this build are: the
// k8s.io/kubernetes version pinned in tools/kube/go.mod (a test keeps the
// two equal), and the only cluster.kubernetes.version a node runs.
const Version = "1.37.2"

// SameVersion reports whether a config's version (with or without a
// leading "v") is Version.
func SameVersion(v string) bool { return strings.TrimPrefix(v, "v") == Version }

// Component names, as the binaries (links to the multi-call kube binary)
// and the services are called.
const (
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
)

// ControlPlaneComponents are the control plane's components, in start order.
var ControlPlaneComponents = []string{APIServer, ControllerManager, Scheduler}

// Ports of the control plane, on the node's own address.
const (
	APIServerPort         = 6443
	ControllerManagerPort = 10257
	SchedulerPort         = 10259
)

// Layout is where the control plane's files live: Dir is the node's state
// directory's kubernetes/, pki/ under it the certificates and keys,
// NAME.conf the components' kubeconfigs.
type Layout struct {
	Dir string
}

// PKIDir holds the certificates and keys (WriteControlPlaneFiles).
func (l Layout) PKIDir() string { return filepath.Join(l.Dir, "pki") }

// File returns the path of a file in PKIDir.
func (l Layout) File(name string) string { return filepath.Join(l.PKIDir(), name) }

// Kubeconfig returns the path of a component's kubeconfig.
func (l Layout) Kubeconfig(component string) string {
	return filepath.Join(l.Dir, component+".conf")
}

// CertDir is a component's --cert-dir: where it would write a self-signed
// certificate were it not given one (it is), kept off the PKI directory.
func (l Layout) CertDir(component string) string { return filepath.Join(l.Dir, "run", component) }

// APIServerURL is the apiserver's URL on a control plane's address.
func APIServerURL(ip string) string {
	return "https://" + net.JoinHostPort(ip, strconv.Itoa(APIServerPort))
}
