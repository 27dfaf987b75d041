package config

import (
	"crypto/x509"
	"encoding/base64"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Patterns shared by Validate and Schema, so the schema can never accept what
// validation rejects.
var (
	dnsLabelRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	clusterIDRE   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	joinTokenRE   = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	kubeVersionRE = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)
)

const (
	gossipKeyBytes = 32
	minMTU         = 68
	maxMTU         = 65535
	maxLinkName    = 15 // IFNAMSIZ - 1
)

// Validate checks the meaning of a parsed document and returns nil or a
// *ValidationError listing every problem with its field path, sorted. It never
// stops at the first problem, so one round trip shows an operator everything to
// fix. Validate is deterministic: it reads no clock, network or randomness, so
// every node reaches the same verdict on the same document.
func (c *Config) Validate() error {
	var vs violations
	if c.APIVersion != APIVersion {
		vs.add("apiVersion", "must be %q, got %q", APIVersion, c.APIVersion)
	}
	if c.Kind != Kind {
		vs.add("kind", "must be %q, got %q", Kind, c.Kind)
	}
	validateCluster(c, &vs)
	validateSecrets(&c.Secrets, c.Cluster.Kubernetes.Disabled, "secrets", &vs)
	validateNodes(c, &vs)
	return vs.asError(ErrInvalid)
}

// Warnings returns advice about a valid document that is legal but probably
// not what the operator wants, such as an even controlPlane.expect.
func (c *Config) Warnings() []Violation {
	var vs violations
	if e := c.Cluster.ControlPlane.Expect; e > 0 && e%2 == 0 {
		vs.add("cluster.controlPlane.expect", "%d is even: a Raft group of %d tolerates no more failures than one of %d", e, e, e-1)
	}
	return vs.sorted()
}

func validateCluster(c *Config, vs *violations) {
	p := fieldPath("cluster")
	cl := &c.Cluster
	checkDNSLabel(cl.Name, p.key("name"), vs)
	switch {
	case cl.ID == "":
		vs.add(p.key("id"), "is required (32 lowercase hex digits; cairnctl gen config generates it)")
	case !clusterIDRE.MatchString(cl.ID):
		vs.add(p.key("id"), "must be 32 lowercase hex digits (16 bytes)")
	}

	expect := p.key("controlPlane").key("expect")
	controlPlanes := 0
	for _, n := range c.Nodes {
		if n.Role == RoleControlPlane {
			controlPlanes++
		}
	}
	switch {
	case cl.ControlPlane.Expect < 1:
		vs.add(expect, "must be at least 1, got %d", cl.ControlPlane.Expect)
	case cl.ControlPlane.Expect > controlPlanes:
		vs.add(expect, "is %d but nodes lists only %d controlplane node(s)", cl.ControlPlane.Expect, controlPlanes)
	}

	np := p.key("network")
	pod, podOK := checkNetworkPrefix(cl.Network.PodCIDR, np.key("podCIDR"), vs)
	svc, svcOK := checkNetworkPrefix(cl.Network.ServiceCIDR, np.key("serviceCIDR"), vs)
	if podOK && svcOK && pod.Overlaps(svc) {
		vs.add(np.key("serviceCIDR"), "%s overlaps podCIDR %s", svc, pod)
	}
	checkKubeRanges(pod, svc, np, vs)
	checkDNSSubdomain(cl.Network.DNSDomain, np.key("dnsDomain"), vs)

	validateKubernetes(&cl.Kubernetes, p.key("kubernetes"), vs)
	validateEtcd(&cl.Etcd, p.key("etcd"), vs)

	seen := map[string]fieldPath{}
	for i, s := range cl.Seeds {
		sp := p.key("seeds").index(i)
		if key, ok := checkHostPort(s, sp, vs); ok {
			if first, dup := seen[key]; dup {
				vs.add(sp, "duplicate seed %s (also %s)", s, first)
			}
			seen[key] = sp
		}
	}
}

// validateSecrets checks the secrets; those of Kubernetes are required
// unless kubeDisabled.
func validateSecrets(s *Secrets, kubeDisabled bool, p fieldPath, vs *violations) {
	if checkSecretPresent(s.GossipKey, p.key("gossipKey"), vs) {
		key, err := base64.StdEncoding.DecodeString(s.GossipKey)
		switch {
		case err != nil:
			vs.add(p.key("gossipKey"), "is not valid standard base64")
		case len(key) != gossipKeyBytes:
			vs.add(p.key("gossipKey"), "decodes to %d bytes, want %d", len(key), gossipKeyBytes)
		}
	}
	if checkSecretPresent(s.JoinToken, p.key("joinToken"), vs) && !joinTokenRE.MatchString(s.JoinToken) {
		vs.add(p.key("joinToken"), "must look like abcdef.0123456789abcdef (6 and 16 lowercase letters or digits)")
	}

	caCert := validateCA(&s.CA, p.key("ca"), "cairnctl gen config generates it", vs)
	etcdCert := validateCA(&s.EtcdCA, p.key("etcdCA"), etcdCAHint, vs)
	if caCert != nil && etcdCert != nil && publicKeysEqual(caCert.PublicKey, etcdCert.PublicKey) {
		vs.add(p.key("etcdCA").key("crt"), "has the same key as %s: etcd needs a CA of its own, so that certificates from the cluster CA cannot reach etcd (delete %s and %s)",
			p.key("ca").key("crt"), p.key("etcdCA"), etcdCAHint)
	}
	validateKubeSecrets(s, kubeDisabled, p, []namedCA{{path: p.key("ca"), cert: caCert}, {path: p.key("etcdCA"), cert: etcdCert}}, vs)
}

// etcdCAHint says how to add an etcd CA to a config from before it existed.
const etcdCAHint = "add a new one with 'cairnctl gen etcd-ca FILE', then 'cairnctl config apply -f FILE' on a running cluster"

// validateCA checks a CA pair and returns its certificate when that is
// usable. hint says where a missing pair comes from.
func validateCA(ca *CertKeyPair, p fieldPath, hint string, vs *violations) *x509.Certificate {
	var cert *x509.Certificate
	if ca.Crt == "" {
		vs.add(p.key("crt"), "is required (%s)", hint)
	} else if c, err := parseCertPEM(ca.Crt); err != nil {
		vs.add(p.key("crt"), "does not parse as a PEM certificate: %v", err)
	} else if !c.IsCA {
		vs.add(p.key("crt"), "is not a CA certificate (basic constraints CA:TRUE missing)")
	} else {
		cert = c
	}
	if !checkSecretPresentHint(ca.Key, p.key("key"), hint, vs) {
		return cert
	}
	key, err := parseKeyPEM(ca.Key)
	switch {
	case err != nil:
		vs.add(p.key("key"), "does not parse as a PEM private key: %v", err)
	case cert != nil && !publicKeysEqual(cert.PublicKey, key.Public()):
		vs.add(p.key("key"), "does not belong to the certificate in %s", p.key("crt"))
	}
	return cert
}

// checkSecretPresent reports a missing or still-redacted secret and returns
// whether the value is there to check further.
func checkSecretPresent(v string, p fieldPath, vs *violations) bool {
	return checkSecretPresentHint(v, p, "cairnctl gen config generates it", vs)
}

// checkSecretPresentHint is checkSecretPresent with hint saying where a
// missing secret comes from.
func checkSecretPresentHint(v string, p fieldPath, hint string, vs *violations) bool {
	switch v {
	case "":
		vs.add(p, "is required (%s)", hint)
		return false
	case Redacted:
		vs.add(p, "is redacted; supply the real secret (or restore it with RestoreSecrets)")
		return false
	}
	return true
}

func checkDNSLabel(s string, p fieldPath, vs *violations) bool {
	switch {
	case s == "":
		vs.add(p, "is required")
	case len(s) > 63 || !dnsLabelRE.MatchString(s):
		vs.add(p, "%q is not a DNS-1123 label (lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit)", s)
	default:
		return true
	}
	return false
}

func checkDNSSubdomain(s string, p fieldPath, vs *violations) bool {
	switch {
	case s == "":
		vs.add(p, "is required")
	case !isDNSSubdomain(s):
		vs.add(p, "%q is not a DNS-1123 subdomain (dot-separated DNS labels, at most 253 characters)", s)
	default:
		return true
	}
	return false
}

func isDNSSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) > 63 || !dnsLabelRE.MatchString(label) {
			return false
		}
	}
	return true
}

// checkNetworkPrefix requires a network prefix with no host bits set.
func checkNetworkPrefix(s string, p fieldPath, vs *violations) (netip.Prefix, bool) {
	if s == "" {
		vs.add(p, "is required")
		return netip.Prefix{}, false
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		vs.add(p, "%q is not a CIDR prefix like 10.244.0.0/16", s)
		return netip.Prefix{}, false
	}
	if pfx.Masked() != pfx {
		vs.add(p, "%s has host bits set; did you mean %s?", s, pfx.Masked())
		return netip.Prefix{}, false
	}
	return pfx, true
}

// checkHostPort checks an address other machines dial: host (an IP address
// that is not unspecified, or a DNS name) and a port from 1 to 65535. It returns
// a normalized form for duplicate detection.
func checkHostPort(s string, p fieldPath, vs *violations) (string, bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		vs.add(p, "%q is not host:port", s)
		return "", false
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		vs.add(p, "%q: port must be a number from 1 to 65535", s)
		return "", false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.IsUnspecified() {
			vs.add(p, "%q: other nodes dial this address, so it cannot be unspecified (0.0.0.0 or ::)", s)
			return "", false
		}
		return net.JoinHostPort(ip.Unmap().String(), port), true
	}
	if !isDNSSubdomain(strings.ToLower(host)) {
		vs.add(p, "%q: host is neither an IP address nor a DNS name", s)
		return "", false
	}
	return net.JoinHostPort(strings.ToLower(host), port), true
}
