package kube

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/cairn-project/cairn/internal/atomicfile"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
)

// ClientValidity is the lifetime of the component certificates issued
// here: a year, as kubeadm issues them; they are issued again at two
// thirds of it.
const ClientValidity = 365 * 24 * time.Hour

// pair is one certificate this control plane keeps in its PKI directory:
// its file name (NAME.crt, NAME.key), the CA it must chain to, the names
// and IPs a serving certificate must carry (none for a client), and how
// to issue it.
type pair struct {
	name string
	ca   config.CertKeyPair
	// A serving certificate's names, or a client certificate's user and
	// groups.
	dns    []string
	ips    []net.IP
	user   string
	groups []string
	issue  func() (config.CertKeyPair, error)
}

// current reports whether p's certificate can stay: see
// pki.KubeCertCurrent and pki.KubeClientCurrent.
func (p pair) current(have config.CertKeyPair, now time.Time) bool {
	if p.user != "" {
		return pki.KubeClientCurrent(have, p.ca, p.user, p.groups, now)
	}
	return pki.KubeCertCurrent(have, p.ca, p.dns, p.ips, now)
}

// Inputs is what the control plane's files are made from.
type Inputs struct {
	Config *config.Config
	// Node is this control plane's entry; IP its own address, where the
	// components listen.
	Node *config.Node
	IP   string
	// Secrets are this control plane's bootstrap secrets: the Kubernetes,
	// front-proxy and etcd CAs and the service-account key.
	Secrets config.Secrets
	Now     time.Time
}

// WriteControlPlaneFiles makes sure every file the control plane's
// components read is in l and valid at in.Now: the CA certificates (and
// the Kubernetes CA's key, which kube-controller-manager signs kubelet
// certificates with), the service-account key pair, the apiserver's
// serving, etcd-client, kubelet-client and front-proxy-client
// certificates, the controller-manager's and scheduler's client and
// serving certificates, and their kubeconfigs. A certificate is issued
// again when it is missing, not from its CA, due (two thirds of its life)
// or for other names and IPs than the node has now. Files are replaced
// atomically and keys are written before their certificates, so a crash
// in between leaves a mismatch the next call repairs. It reports whether
// anything changed: the components read their certificates at start, so a
// change restarts them.
func WriteControlPlaneFiles(l Layout, in Inputs) (bool, error) {
	s := in.Secrets
	for _, req := range []struct {
		v    string
		what string
	}{{s.KubernetesCA.Crt, "secrets.kubernetesCA"}, {s.FrontProxyCA.Crt, "secrets.frontProxyCA"}, {s.ServiceAccountKey, "secrets.serviceAccountKey"}, {s.EtcdCA.Crt, "secrets.etcdCA"}} {
		if req.v == "" {
			return false, fmt.Errorf("%w: this control plane's bootstrap config has no %s", ErrMissingSecret, req.what)
		}
	}
	for _, dir := range []string{l.PKIDir(), l.CertDir(APIServer), l.CertDir(ControllerManager), l.CertDir(Scheduler)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	saPub, err := pki.ServiceAccountPublicPEM(s.ServiceAccountKey)
	if err != nil {
		return false, fmt.Errorf("secrets.serviceAccountKey: %w", err)
	}
	changed := false
	for _, f := range []struct {
		name string
		data string
		mode os.FileMode
	}{
		{"ca.crt", s.KubernetesCA.Crt, 0o644}, {"ca.key", s.KubernetesCA.Key, 0o600},
		{"front-proxy-ca.crt", s.FrontProxyCA.Crt, 0o644}, {"etcd-ca.crt", s.EtcdCA.Crt, 0o644},
		{"sa.key", s.ServiceAccountKey, 0o600}, {"sa.pub", saPub, 0o644},
	} {
		wrote, err := atomicfile.WriteIfDifferent(l.File(f.name), []byte(f.data), f.mode)
		if err != nil {
			return changed, err
		}
		changed = changed || wrote
	}
	apiDNS, apiIPs := pki.KubeAPIServerNames(in.Config, in.Node)
	ip := net.ParseIP(in.IP)
	if ip == nil {
		return changed, fmt.Errorf("%w: node address %q is not an IP", ErrBadInputs, in.IP)
	}
	kubeCA, now := s.KubernetesCA, in.Now
	client := func(name string, ca config.CertKeyPair, user string, groups ...string) pair {
		return pair{name: name, ca: ca, user: user, groups: groups, issue: func() (config.CertKeyPair, error) {
			return pki.IssueKubeClient(ca, user, groups, ClientValidity, now)
		}}
	}
	serving := func(cn string) func() (config.CertKeyPair, error) {
		return func() (config.CertKeyPair, error) {
			return pki.IssueKubeServing(kubeCA, cn, []string{in.Node.Name}, []net.IP{ip}, ClientValidity, now)
		}
	}
	pairs := []pair{
		{name: "apiserver", ca: kubeCA, dns: apiDNS, ips: apiIPs,
			issue: func() (config.CertKeyPair, error) { return pki.IssueKubeAPIServer(kubeCA, in.Config, in.Node, now) }},
		client("apiserver-kubelet-client", kubeCA, pki.KubeAPIServerKubeletClient, pki.KubeAdminGroup),
		client("front-proxy-client", s.FrontProxyCA, pki.KubeFrontProxyClient),
		// From the etcd CA, which etcd trusts for clients.
		{name: "apiserver-etcd-client", ca: s.EtcdCA, user: pki.EtcdClientAPIServer, issue: func() (config.CertKeyPair, error) {
			return pki.IssueEtcdClient(s.EtcdCA, pki.EtcdClientAPIServer, now)
		}},
		client("controller-manager", kubeCA, pki.KubeControllerManagerUser),
		{name: "controller-manager-serving", ca: kubeCA, dns: []string{in.Node.Name}, ips: []net.IP{ip}, issue: serving(ControllerManager)},
		client("scheduler", kubeCA, pki.KubeSchedulerUser),
		{name: "scheduler-serving", ca: kubeCA, dns: []string{in.Node.Name}, ips: []net.IP{ip}, issue: serving(Scheduler)},
	}
	for _, p := range pairs {
		wrote, err := keepPair(l, p, now)
		if err != nil {
			return changed, err
		}
		changed = changed || wrote
	}
	server := "https://" + net.JoinHostPort(in.IP, fmt.Sprint(APIServerPort))
	for _, k := range []struct{ component, cert, user string }{
		{ControllerManager, "controller-manager", pki.KubeControllerManagerUser},
		{Scheduler, "scheduler", pki.KubeSchedulerUser},
	} {
		data, err := fileKubeconfig(in.Config.Cluster.Name, server, l.File("ca.crt"), l.File(k.cert+".crt"), l.File(k.cert+".key"), k.user)
		if err != nil {
			return changed, err
		}
		wrote, err := atomicfile.WriteIfDifferent(l.Kubeconfig(k.component), data, 0o600)
		if err != nil {
			return changed, err
		}
		changed = changed || wrote
	}
	return changed, nil
}

// keepPair issues p again unless its files hold a current certificate.
func keepPair(l Layout, p pair, now time.Time) (bool, error) {
	crt, _ := os.ReadFile(l.File(p.name + ".crt"))
	key, _ := os.ReadFile(l.File(p.name + ".key"))
	if crt != nil && key != nil && p.current(config.CertKeyPair{Crt: string(crt), Key: string(key)}, now) {
		return false, nil
	}
	issued, err := p.issue()
	if err != nil {
		return false, fmt.Errorf("issue the %s certificate: %w", p.name, err)
	}
	if err := atomicfile.Write(l.File(p.name+".key"), []byte(issued.Key), 0o600); err != nil {
		return false, err
	}
	return true, atomicfile.Write(l.File(p.name+".crt"), []byte(issued.Crt), 0o644)
}

// fileKubeconfig is a kubeconfig that names its certificate files rather
// than embedding them: a renewal rewrites the files and the kubeconfig
// stays the same. client-go reads YAML, of which JSON is a part.
func fileKubeconfig(cluster, server, caFile, certFile, keyFile, user string) ([]byte, error) {
	type named struct {
		Name    string         `json:"name"`
		Cluster map[string]any `json:"cluster,omitempty"`
		User    map[string]any `json:"user,omitempty"`
		Context map[string]any `json:"context,omitempty"`
	}
	doc := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []named{{Name: cluster, Cluster: map[string]any{"server": server, "certificate-authority": caFile}}},
		"users":           []named{{Name: user, User: map[string]any{"client-certificate": certFile, "client-key": keyFile}}},
		"contexts":        []named{{Name: user + "@" + cluster, Context: map[string]any{"cluster": cluster, "user": user}}},
		"current-context": user + "@" + cluster,
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return append(data, '\n'), nil
}
