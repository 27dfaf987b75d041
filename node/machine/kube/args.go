package kube

import (
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
)

// Component is one control-plane component as this node runs it: its
// binary, its flags, and the URL that answers 200 while it is healthy
// (its serving certificate chains to the Kubernetes CA, HealthCA).
type Component struct {
	Name      string
	Path      string
	Args      []string
	HealthURL string
	HealthCA  string
}

// ControlPlane is what a control plane's components are started from.
type ControlPlane struct {
	Layout Layout
	// BinDir holds the component binaries (links named after each
	// component to the multi-call kube binary).
	BinDir string
	// EtcdURL is the local etcd member's client URL (the apiserver has a
	// client certificate of its own in Layout).
	EtcdURL string
	Inputs
}

// Components renders the control plane's components from the config:
// Cairn's flags first, then cluster.kubernetes.<component>.extraArgs,
// which may replace a flag Cairn sets only where it is not reserved
// (config.KubeReservedFlags; validation refuses those). Flags are sorted,
// so the same config always renders the same command line.
func (cp ControlPlane) Components() ([]Component, error) {
	c := cp.Config
	ip := cp.IP
	if net.ParseIP(ip) == nil {
		return nil, fmt.Errorf("%w: node address %q is not an IP", ErrBadInputs, ip)
	}
	l := cp.Layout
	f := l.File
	k := c.Cluster.Kubernetes
	netw := c.Cluster.Network
	apiserver := map[string]string{
		"advertise-address":                  ip,
		"bind-address":                       ip,
		"secure-port":                        strconv.Itoa(APIServerPort),
		"etcd-servers":                       cp.EtcdURL,
		"etcd-cafile":                        f("etcd-ca.crt"),
		"etcd-certfile":                      f("apiserver-etcd-client.crt"),
		"etcd-keyfile":                       f("apiserver-etcd-client.key"),
		"client-ca-file":                     f("ca.crt"),
		"tls-cert-file":                      f("apiserver.crt"),
		"tls-private-key-file":               f("apiserver.key"),
		"kubelet-client-certificate":         f("apiserver-kubelet-client.crt"),
		"kubelet-client-key":                 f("apiserver-kubelet-client.key"),
		"requestheader-client-ca-file":       f("front-proxy-ca.crt"),
		"requestheader-allowed-names":        "front-proxy-client",
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-username-headers":     "X-Remote-User",
		"proxy-client-cert-file":             f("front-proxy-client.crt"),
		"proxy-client-key-file":              f("front-proxy-client.key"),
		"service-account-issuer":             "https://kubernetes.default.svc." + netw.DNSDomain,
		"service-account-key-file":           f("sa.pub"),
		"service-account-signing-key-file":   f("sa.key"),
		"service-cluster-ip-range":           netw.ServiceCIDR,
		"cert-dir":                           l.CertDir(APIServer),
		"authorization-mode":                 "Node,RBAC",
		"enable-admission-plugins":           "NodeRestriction",
		"allow-privileged":                   "true",
		"kubelet-preferred-address-types":    "InternalIP,ExternalIP,Hostname",
		"profiling":                          "false",
	}
	if net.ParseIP(ip).IsLoopback() {
		// Process mode: kube-apiserver will not publish a loopback address
		// as the kubernetes Service's endpoint, and no pod could use it;
		// without the reconciler the Service simply has none.
		apiserver["endpoint-reconciler-type"] = "none"
	}
	common := func(component, cert string, port int) map[string]string {
		return map[string]string{
			"kubeconfig":                l.Kubeconfig(component),
			"authentication-kubeconfig": l.Kubeconfig(component),
			"authorization-kubeconfig":  l.Kubeconfig(component),
			"bind-address":              ip,
			"secure-port":               strconv.Itoa(port),
			"tls-cert-file":             f(cert + "-serving.crt"),
			"tls-private-key-file":      f(cert + "-serving.key"),
			"cert-dir":                  l.CertDir(component),
			"leader-elect":              "true",
			"profiling":                 "false",
		}
	}
	cm := common(ControllerManager, "controller-manager", ControllerManagerPort)
	maps.Copy(cm, map[string]string{
		"cluster-name":                     c.Cluster.Name,
		"use-service-account-credentials":  "true",
		"controllers":                      "*,bootstrapsigner,tokencleaner",
		"cluster-signing-cert-file":        f("ca.crt"),
		"cluster-signing-key-file":         f("ca.key"),
		"root-ca-file":                     f("ca.crt"),
		"service-account-private-key-file": f("sa.key"),
		"allocate-node-cidrs":              "true",
		"cluster-cidr":                     netw.PodCIDR,
		"service-cluster-ip-range":         netw.ServiceCIDR,
		"requestheader-client-ca-file":     f("front-proxy-ca.crt"),
	})
	sched := common(Scheduler, "scheduler", SchedulerPort)
	health := func(port int, path string) string {
		return "https://" + net.JoinHostPort(ip, strconv.Itoa(port)) + path
	}
	out := []Component{
		{Name: APIServer, Args: flags(apiserver, k.APIServer.ExtraArgs), HealthURL: health(APIServerPort, "/readyz")},
		{Name: ControllerManager, Args: flags(cm, k.ControllerManager.ExtraArgs), HealthURL: health(ControllerManagerPort, "/healthz")},
		{Name: Scheduler, Args: flags(sched, k.Scheduler.ExtraArgs), HealthURL: health(SchedulerPort, "/healthz")},
	}
	for i := range out {
		out[i].Path = filepath.Join(cp.BinDir, out[i].Name)
		out[i].HealthCA = f("ca.crt")
	}
	return out, nil
}

// flags renders ours overlaid with extra as sorted --key=value arguments.
func flags(ours, extra map[string]string) []string {
	all := maps.Clone(ours)
	maps.Copy(all, extra)
	args := make([]string, 0, len(all))
	for _, key := range slices.Sorted(maps.Keys(all)) {
		args = append(args, "--"+key+"="+all[key])
	}
	return args
}
