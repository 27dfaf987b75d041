package config

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Limits Validate applies to Kubernetes settings.
const (
	// MaxKubeletMaxPods is the largest cluster.kubernetes.kubelet.maxPods.
	MaxKubeletMaxPods = 2500
	// maxExtraArgValue bounds one extraArgs value.
	maxExtraArgValue = 4096
)

// Service range sizes. kube-apiserver refuses a service range of more than
// 2^20 addresses; the range must hold the kubernetes service's IP (the
// first) and the cluster DNS service's (the tenth), which /28 and /124 do.
const (
	minServicePrefixIPv4, maxServicePrefixIPv4 = 12, 28
	minServicePrefixIPv6, maxServicePrefixIPv6 = 108, 124
	// kube-controller-manager refuses a pod range more than 16 bits shorter
	// than the node CIDRs it cuts from it.
	maxNodeCIDRBits = 16
)

var (
	flagNameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	// labelNameRE is a Kubernetes qualified name's name part.
	labelNameRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
)

// kubeComponents lists each configurable component with its field name,
// in document order.
func kubeComponents(k *Kubernetes) []struct {
	field, name string
	args        map[string]string
} {
	return []struct {
		field, name string
		args        map[string]string
	}{
		{"apiServer", KubeAPIServer, k.APIServer.ExtraArgs},
		{"controllerManager", KubeControllerManager, k.ControllerManager.ExtraArgs},
		{"scheduler", KubeScheduler, k.Scheduler.ExtraArgs},
		{"proxy", KubeProxy, k.Proxy.ExtraArgs},
		{"kubelet", KubeletComponent, k.Kubelet.ExtraArgs},
	}
}

// kubeFlagFields names the field that sets a reserved flag, where there is
// one, for the message that refuses the flag.
var kubeFlagFields = map[string]string{
	"kubelet/max-pods":    "cluster.kubernetes.kubelet.maxPods",
	"kubelet/node-labels": "cluster.kubernetes.kubelet.nodeLabels",
}

// validateKubernetes checks cluster.kubernetes: the version, the endpoint,
// the certificate names and each component's settings.
func validateKubernetes(k *Kubernetes, p fieldPath, vs *violations) {
	kv := p.key("version")
	switch {
	case k.Version == "":
		vs.add(kv, "is required, for example 1.37.2")
	case !kubeVersionRE.MatchString(k.Version):
		vs.add(kv, "%q is not a version like 1.37.2", k.Version)
	}
	if k.Endpoint != "" {
		checkKubeEndpoint(k.Endpoint, p.key("endpoint"), vs)
	}
	checkCertSANs(k.CertSANs, p.key("certSANs"), vs)
	for _, c := range kubeComponents(k) {
		checkExtraArgs(c.args, c.name, p.key(c.field).key("extraArgs"), vs)
	}
	kl := p.key("kubelet")
	if m := k.Kubelet.MaxPods; m < 0 || m > MaxKubeletMaxPods {
		vs.add(kl.key("maxPods"), "%d is out of range 1..%d (omit it for kubelet's default, 110)", m, MaxKubeletMaxPods)
	}
	for _, key := range slices.Sorted(maps.Keys(k.Kubelet.NodeLabels)) {
		checkNodeLabel(key, k.Kubelet.NodeLabels[key], kl.key("nodeLabels").mapKey(key), vs)
	}
}

// checkKubeEndpoint requires an https URL with a host and a port and
// nothing else.
func checkKubeEndpoint(s string, p fieldPath, vs *violations) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/") {
		vs.add(p, "%q is not an https URL like https://k8s.example.com:6443", s)
		return
	}
	if u.Port() == "" {
		vs.add(p, "%q has no port, as in https://k8s.example.com:6443", s)
		return
	}
	checkHostPort(u.Host, p, vs)
}

// checkCertSANs checks extra certificate names: each an IP address that is
// not unspecified, or a DNS name, and each once.
func checkCertSANs(sans []string, p fieldPath, vs *violations) {
	seen := map[string]bool{}
	for j, san := range sans {
		sp := p.index(j)
		key := strings.ToLower(san)
		if ip, err := netip.ParseAddr(san); err == nil {
			if ip.IsUnspecified() {
				vs.add(sp, "%q: a certificate cannot name an unspecified address", san)
				continue
			}
			key = ip.Unmap().String()
		} else if !isDNSSubdomain(key) {
			vs.add(sp, "%q is neither an IP address nor a DNS name", san)
			continue
		}
		if seen[key] {
			vs.add(sp, "%q is listed twice", san)
		}
		seen[key] = true
	}
}

// validateEtcd checks cluster.etcd: each extra argument is a flag name
// (lowercase words joined by '-', no leading dashes) that Cairn does not
// set itself, with a one-line value. Whether etcd knows the flag shows
// when the member starts (its log and EtcdStatus).
func validateEtcd(e *Etcd, p fieldPath, vs *violations) {
	checkExtraArgs(e.ExtraArgs, "etcd", p.key("extraArgs"), vs)
}

// checkExtraArgs checks the extraArgs of component (etcd, or a key of
// KubeReservedFlags): each key a flag name without dashes that Cairn does
// not set itself, each value one line.
func checkExtraArgs(args map[string]string, component string, p fieldPath, vs *violations) {
	reserved, example := EtcdReservedFlags, "quota-backend-bytes"
	if component != "etcd" {
		reserved, example = KubeReservedFlags[component], "feature-gates"
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		kp := p.mapKey(k)
		v := args[k]
		switch {
		case !flagNameRE.MatchString(k):
			vs.add(kp, "%q is not a %s flag name like %s (no leading dashes)", k, component, example)
		case slices.Contains(reserved, k):
			if f, ok := kubeFlagFields[component+"/"+k]; ok {
				vs.add(kp, "--%s is set by Cairn and cannot be given; use %s", k, f)
			} else {
				vs.add(kp, "--%s is set by Cairn and cannot be given", k)
			}
		case strings.ContainsAny(v, "\n\r\x00") || len(v) > maxExtraArgValue:
			vs.add(kp, "value must be one line of at most %d bytes", maxExtraArgValue)
		case component != "etcd":
			typ, ok := KubeFlagType(component, k)
			if !ok {
				vs.add(kp, "%s %s has no flag --%s", component, DefaultKubernetesVersion, k)
			} else if err := checkKubeFlagValue(typ, v); err != nil {
				vs.add(kp, "--%s %v", k, err)
			}
		}
	}
}

// kubeletLabels are the labels in the kubernetes.io and k8s.io namespaces
// that nodeLabels may set: kubelet accepts them from --node-labels and
// sets none of them itself. Keys under kubeletLabelNamespaces are accepted
// too (k8s.io/kubernetes pkg/kubelet/apis IsKubeletLabel).
var (
	kubeletLabels          = []string{"topology.kubernetes.io/zone", "topology.kubernetes.io/region"}
	kubeletLabelNamespaces = []string{"kubelet.kubernetes.io", "node.kubernetes.io"}
)

// checkNodeLabel checks one kubelet node label: a qualified name as key,
// a label value, and no reserved namespace.
func checkNodeLabel(key, value string, p fieldPath, vs *violations) {
	prefix, name, hasPrefix := strings.Cut(key, "/")
	if !hasPrefix {
		prefix, name = "", key
	}
	switch {
	case hasPrefix && !isDNSSubdomain(prefix):
		vs.add(p, "%q: the prefix before '/' must be a DNS subdomain such as example.com", key)
		return
	case len(name) > 63 || !labelNameRE.MatchString(name):
		vs.add(p, "%q is not a label key: the name (after an optional prefix and '/') must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", key)
		return
	}
	if reservedLabelNamespace(prefix) && !slices.Contains(kubeletLabels, key) &&
		!slices.ContainsFunc(kubeletLabelNamespaces, func(ns string) bool { return inNamespace(prefix, ns) }) {
		vs.add(p, "%q is in the kubernetes.io or k8s.io namespace, which is reserved: kubelet refuses such labels (and the NodeRestriction admission plugin refuses node-role.kubernetes.io/); only topology.kubernetes.io/zone, topology.kubernetes.io/region and the node.kubernetes.io/ and kubelet.kubernetes.io/ prefixes may be set", key)
		return
	}
	if value != "" && (len(value) > 63 || !labelNameRE.MatchString(value)) {
		vs.add(p, "value %q is not a label value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", value)
	}
}

func reservedLabelNamespace(prefix string) bool {
	return inNamespace(prefix, "kubernetes.io") || inNamespace(prefix, "k8s.io")
}

// inNamespace reports whether a label prefix is ns or a subdomain of it.
func inNamespace(prefix, ns string) bool {
	prefix = strings.ToLower(prefix)
	return prefix == ns || strings.HasSuffix(prefix, "."+ns)
}

// checkKubeRanges checks the sizes of the pod and service ranges.
func checkKubeRanges(pod, svc netip.Prefix, np fieldPath, vs *violations) {
	if svc.IsValid() {
		lo, hi := minServicePrefixIPv4, maxServicePrefixIPv4
		if svc.Addr().Is6() {
			lo, hi = minServicePrefixIPv6, maxServicePrefixIPv6
		}
		switch b := svc.Bits(); {
		case b > hi:
			vs.add(np.key("serviceCIDR"), "%s is too small: it must hold the kubernetes service's IP (the first) and the cluster DNS service's (the tenth), so its prefix length must be at most /%d", svc, hi)
		case b < lo:
			vs.add(np.key("serviceCIDR"), "%s is too large: kube-apiserver allows at most 2^20 service IPs, so its prefix length must be at least /%d", svc, lo)
		}
	}
	if pod.IsValid() {
		node := KubeNodeCIDRMaskIPv4
		if pod.Addr().Is6() {
			node = KubeNodeCIDRMaskIPv6
		}
		if b := pod.Bits(); b > node || b < node-maxNodeCIDRBits {
			vs.add(np.key("podCIDR"), "%s: the prefix length must be /%d to /%d: every node gets a /%d from it, and kube-controller-manager allows at most 2^%d of them",
				pod, node-maxNodeCIDRBits, node, node, maxNodeCIDRBits)
		}
	}
}

// kubeSecretsHint says where missing Kubernetes secrets come from.
const kubeSecretsHint = "'cairnctl gen config' generates it; a config from before it existed gets one from 'cairnctl gen config --with-secrets FILE'; or set cluster.kubernetes.disabled"

// namedCA is a CA pair checked by Validate with what the message calls it.
type namedCA struct {
	path fieldPath
	cert *x509.Certificate
	// why says what sharing a key with an earlier CA would undo.
	why string
}

// validateKubeSecrets checks the Kubernetes CAs and the service account
// key, required unless Kubernetes is disabled, and refuses a CA that
// shares a key with one of others (checked already) or with each other.
func validateKubeSecrets(s *Secrets, disabled bool, p fieldPath, others []namedCA, vs *violations) {
	cas := others
	for _, ca := range []struct {
		pair *CertKeyPair
		name string
		why  string
	}{
		{&s.KubernetesCA, "kubernetesCA", "Kubernetes needs a CA of its own, so that certificates from another CA cannot act as Kubernetes clients or the other way round"},
		{&s.FrontProxyCA, "frontProxyCA", "the front proxy needs a CA of its own, since extension API servers trust every client certificate it signs to name users"},
	} {
		if disabled && *ca.pair == (CertKeyPair{}) {
			continue
		}
		cp := p.key(ca.name)
		cert := validateCA(ca.pair, cp, kubeSecretsHint, vs)
		if cert == nil {
			continue
		}
		for _, o := range cas {
			if o.cert != nil && publicKeysEqual(o.cert.PublicKey, cert.PublicKey) {
				vs.add(cp.key("crt"), "has the same key as %s: %s (delete %s; %s)", o.path.key("crt"), ca.why, cp, kubeSecretsHint)
				break
			}
		}
		cas = append(cas, namedCA{path: cp, cert: cert})
	}
	if disabled && s.ServiceAccountKey == "" {
		return
	}
	sp := p.key("serviceAccountKey")
	if !checkSecretPresentHint(s.ServiceAccountKey, sp, kubeSecretsHint, vs) {
		return
	}
	key, err := parseKeyPEM(s.ServiceAccountKey)
	if err != nil {
		vs.add(sp, "does not parse as a PEM private key: %v", err)
		return
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			vs.add(sp, "is an RSA key of %d bits; it must have at least 2048", k.N.BitLen())
		}
	default:
		vs.add(sp, "is neither an ECDSA nor an RSA key, the kinds kube-apiserver signs service account tokens with")
	}
}

// kubeRangeChecker reports the nodes' networks and endpoint IPs that
// overlap the pod or service range, at the range's field, so that the
// cluster network never captures traffic to a node's own address.
type kubeRangeChecker []kubeRange

type kubeRange struct {
	path fieldPath
	pfx  netip.Prefix
}

func newKubeRangeChecker(pod, svc netip.Prefix) kubeRangeChecker {
	var kc kubeRangeChecker
	np := fieldPath("cluster.network")
	if pod.IsValid() {
		kc = append(kc, kubeRange{np.key("podCIDR"), pod})
	}
	if svc.IsValid() {
		kc = append(kc, kubeRange{np.key("serviceCIDR"), svc})
	}
	return kc
}

// network reports a range that overlaps the network of a node's address
// at p, unless the address itself lies in the range, which the address's
// own check reports.
func (kc kubeRangeChecker) network(n *Node, addr netip.Prefix, p fieldPath, vs *violations) {
	for _, r := range kc {
		if !r.pfx.Contains(addr.Addr()) && r.pfx.Overlaps(addr.Masked()) {
			vs.add(r.path, "%s overlaps the network %s of node %s (%s)", r.pfx, addr.Masked(), n.Name, p)
		}
	}
}

// endpoint reports a range that contains the IP of an explicit endpoint.
func (kc kubeRangeChecker) endpoint(n *Node, hostPort string, p fieldPath, vs *violations) {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return
	}
	for _, r := range kc {
		if r.pfx.Contains(ip.Unmap()) {
			vs.add(r.path, "%s contains %s, the address of node %s (%s)", r.pfx, ip.Unmap(), n.Name, p)
		}
	}
}
