package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// Kubernetes identities. kube-apiserver maps a client certificate's common
// name to the user and its organizations to groups; these are the names
// the default RBAC roles bind (system:kube-controller-manager and so on)
// and the ones the Node authorizer and NodeRestriction expect.
const (
	// KubeAdminUser is the user of admin kubeconfigs.
	KubeAdminUser = "admin"
	// KubeAdminGroup is the group of admin kubeconfigs, bound to
	// cluster-admin by default RBAC.
	KubeAdminGroup = "system:masters"
	// KubeControllerManagerUser is kube-controller-manager's user.
	KubeControllerManagerUser = "system:kube-controller-manager"
	// KubeSchedulerUser is kube-scheduler's user.
	KubeSchedulerUser = "system:kube-scheduler"
	// KubeProxyUser is kube-proxy's user.
	KubeProxyUser = "system:kube-proxy"
	// KubeAPIServerKubeletClient is the user kube-apiserver presents to
	// kubelets (logs, exec, port-forward); kubelets authorize it through
	// kube-apiserver, so its group must grant the nodes/* subresources
	// (KubeAdminGroup does).
	KubeAPIServerKubeletClient = "kube-apiserver-kubelet-client"
	// KubeFrontProxyClient is the user of the client certificate
	// kube-apiserver presents to extension API servers; it is signed by the
	// front-proxy CA, and kube-apiserver names it in
	// --requestheader-allowed-names.
	KubeFrontProxyClient = "front-proxy-client"
	// KubeNodesGroup is the group of every kubelet.
	KubeNodesGroup = "system:nodes"
	// KubeNodeUserPrefix starts a kubelet's user, followed by its node
	// name: system:node:cp1.
	KubeNodeUserPrefix = "system:node:"
	// KubeAPIServerCommonName is the common name of kube-apiserver's
	// serving certificate.
	KubeAPIServerCommonName = "kube-apiserver"
)

// Kubernetes certificate lifetimes. Serving and component certificates
// live as long as node certificates and are renewed at two thirds of it
// (KubeCertCurrent says when); admin kubeconfigs, which leave the cluster,
// live a year and expire on their own.
const (
	KubeValidity      = NodeValidity
	KubeAdminValidity = 365 * 24 * time.Hour
)

// Service IPs by their index in cluster.network.serviceCIDR.
const (
	// KubeAPIServiceIndex is the kubernetes service's IP (the apiserver
	// behind kubernetes.default): the first address of the range.
	KubeAPIServiceIndex = 1
	// KubeDNSServiceIndex is the cluster DNS service's IP, the tenth.
	KubeDNSServiceIndex = 10
)

// KubeServiceIP returns the n-th address of the service range serviceCIDR
// (n from 1): KubeAPIServiceIndex is the kubernetes service's,
// KubeDNSServiceIndex the cluster DNS's. It fails for a range that does not
// parse or has no n-th address.
func KubeServiceIP(serviceCIDR string, n int) (netip.Addr, error) {
	pfx, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: service range %q: %v", ErrBadKubeRequest, serviceCIDR, err)
	}
	pfx = pfx.Masked()
	if n < 1 {
		return netip.Addr{}, fmt.Errorf("%w: service IP index %d is below 1", ErrBadKubeRequest, n)
	}
	base := pfx.Addr().As16()
	sum := new(big.Int).Add(new(big.Int).SetBytes(base[:]), big.NewInt(int64(n)))
	var b [16]byte
	if sum.BitLen() > 128 {
		return netip.Addr{}, fmt.Errorf("%w: %s has no address %d", ErrBadKubeRequest, pfx, n)
	}
	sum.FillBytes(b[:])
	ip := netip.AddrFrom16(b)
	if pfx.Addr().Is4() {
		ip = ip.Unmap()
	}
	if !pfx.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("%w: %s has no address %d", ErrBadKubeRequest, pfx, n)
	}
	return ip, nil
}

// KubeAPIServerNames returns the DNS names and IPs the kube-apiserver
// certificate of control plane n names, each once: n's names and IPs (as
// its node certificate has them), every other control plane's, localhost,
// 127.0.0.1 and ::1, the kubernetes service's names
// (kubernetes.default.svc.DNSDOMAIN and its shorter forms) and IP, the
// host of cluster.kubernetes.endpoint, and cluster.kubernetes.certSANs.
// Clients may reach any control plane through a shared endpoint, so each
// names them all. For a config whose service range does not parse (an
// invalid one) the service IP is left out.
func KubeAPIServerNames(c *config.Config, n *config.Node) ([]string, []net.IP) {
	var names []string
	var ips []net.IP
	addName := func(s string) {
		s = strings.ToLower(s)
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	addIP := func(ip net.IP) {
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	add := func(san string) {
		if ip := net.ParseIP(san); ip != nil {
			addIP(ip)
		} else if san != "" {
			addName(san)
		}
	}
	nodes := []*config.Node{n}
	for _, cp := range c.ControlPlanes() {
		if cp.Name != n.Name {
			nodes = append(nodes, cp)
		}
	}
	for _, cp := range nodes {
		for _, name := range cp.CertDNSNames() {
			addName(name)
		}
		for _, ip := range cp.CertIPs() {
			addIP(ip)
		}
	}
	addName("localhost")
	addIP(net.IPv4(127, 0, 0, 1))
	addIP(net.IPv6loopback)
	for _, name := range []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + c.Cluster.Network.DNSDomain} {
		addName(name)
	}
	if svc, err := KubeServiceIP(c.Cluster.Network.ServiceCIDR, KubeAPIServiceIndex); err == nil {
		addIP(net.IP(svc.AsSlice()))
	}
	if u, err := url.Parse(c.Cluster.Kubernetes.Endpoint); err == nil && c.Cluster.Kubernetes.Endpoint != "" {
		add(u.Hostname())
	}
	for _, san := range c.Cluster.Kubernetes.CertSANs {
		add(san)
	}
	return names, ips
}

// IssueKubeAPIServer issues control plane n's kube-apiserver serving
// certificate from the Kubernetes CA: KubeAPIServerCommonName as common
// name, the names and IPs of KubeAPIServerNames, server auth only, valid
// for KubeValidity (capped by the CA's own). The key is new.
func IssueKubeAPIServer(kubeCA config.CertKeyPair, c *config.Config, n *config.Node, now time.Time) (config.CertKeyPair, error) {
	if n == nil || n.Name == "" {
		return config.CertKeyPair{}, fmt.Errorf("%w: no node", ErrBadKubeRequest)
	}
	if n.Role != config.RoleControlPlane {
		return config.CertKeyPair{}, fmt.Errorf("%w: node %s is a %s; only control planes run kube-apiserver", ErrBadKubeRequest, n.Name, n.Role)
	}
	if _, err := KubeServiceIP(c.Cluster.Network.ServiceCIDR, KubeAPIServiceIndex); err != nil {
		return config.CertKeyPair{}, err
	}
	names, ips := KubeAPIServerNames(c, n)
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: KubeAPIServerCommonName}, DNSNames: names, IPAddresses: ips}
	return issue(kubeCA, "kubernetes", tmpl, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KubeValidity, now)
}

// IssueKubeServing issues a serving certificate from the Kubernetes CA for
// a component other than the apiserver (kube-controller-manager's and
// kube-scheduler's secure ports, whose health checks verify it): commonName
// as subject, dnsNames and ips as SANs, server auth only, valid for
// validity (capped by the CA's own). The key is new.
func IssueKubeServing(kubeCA config.CertKeyPair, commonName string, dnsNames []string, ips []net.IP, validity time.Duration, now time.Time) (config.CertKeyPair, error) {
	switch {
	case commonName == "":
		return config.CertKeyPair{}, fmt.Errorf("%w: serving certificate name is empty", ErrBadKubeRequest)
	case len(dnsNames) == 0 && len(ips) == 0:
		return config.CertKeyPair{}, fmt.Errorf("%w: serving certificate %s names no host", ErrBadKubeRequest, commonName)
	case validity <= 0:
		return config.CertKeyPair{}, fmt.Errorf("%w: validity %s is not positive", ErrBadKubeRequest, validity)
	}
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: commonName}, DNSNames: slices.Clone(dnsNames), IPAddresses: slices.Clone(ips)}
	return issue(kubeCA, "kubernetes", tmpl, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, validity, now)
}

// IssueKubeClient issues a client certificate from ca for a Kubernetes
// user: user as common name, groups as organizations (how kube-apiserver
// reads them), client auth only, no SANs, valid from now for validity but
// never past the CA's own expiry. ca is the Kubernetes CA for admin
// kubeconfigs (KubeAdminUser, KubeAdminGroup, KubeAdminValidity), the
// components (KubeControllerManagerUser, …), kubelets
// (KubeNodeUserPrefix+name, KubeNodesGroup) and kube-apiserver's kubelet
// client; it is the front-proxy CA for KubeFrontProxyClient.
func IssueKubeClient(ca config.CertKeyPair, user string, groups []string, validity time.Duration, now time.Time) (config.CertKeyPair, error) {
	if user == "" {
		return config.CertKeyPair{}, fmt.Errorf("%w: client user is empty", ErrBadKubeRequest)
	}
	if validity <= 0 {
		return config.CertKeyPair{}, fmt.Errorf("%w: validity %s is not positive", ErrBadKubeRequest, validity)
	}
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: user, Organization: slices.Clone(groups)}}
	return issue(ca, "kubernetes", tmpl, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, validity, now)
}

// SignKubeletCSR signs node nodeName's kubelet client certificate from the
// Kubernetes CA for the key of csrPEM, so that a kubelet's key never
// leaves its node and no node but a control plane holds the CA: the same
// certificate IssueKubeClient(kubeCA, KubeNodeUserPrefix+nodeName,
// {KubeNodesGroup}, validity, now) issues, for the CSR's public key. The
// subject is set here, not copied; the CSR must still ask for exactly that
// (ErrKubeletIdentity otherwise: another node's user, or other groups, is
// what a node must not get), and for nothing more: no other subject
// fields, no SANs, no extensions, an ECDSA P-256 or RSA key of 2048 bits
// or more, and a signature that verifies (ErrBadCSR otherwise).
func SignKubeletCSR(kubeCA config.CertKeyPair, csrPEM []byte, nodeName string, validity time.Duration, now time.Time) (string, error) {
	switch {
	case nodeName == "" || strings.ContainsAny(nodeName, " /\\"):
		return "", fmt.Errorf("%w: node name %q", ErrBadKubeRequest, nodeName)
	case validity <= 0:
		return "", fmt.Errorf("%w: validity %s is not positive", ErrBadKubeRequest, validity)
	}
	csr, err := parseKubeletCSR(csrPEM)
	if err != nil {
		return "", err
	}
	user := KubeNodeUserPrefix + nodeName
	if got := csr.Subject.CommonName; got != user {
		return "", fmt.Errorf("%w: it asks for user %q; node %s may ask only for %q", ErrKubeletIdentity, got, nodeName, user)
	}
	if got := csr.Subject.Organization; !slices.Equal(got, []string{KubeNodesGroup}) {
		return "", fmt.Errorf("%w: it asks for groups %q; a kubelet is in exactly [%s]", ErrKubeletIdentity, got, KubeNodesGroup)
	}
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: user, Organization: []string{KubeNodesGroup}}}
	return signFor(kubeCA, "kubernetes", tmpl, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, validity, now, csr.PublicKey)
}

// Subject attributes a kubelet CSR may carry: common name and organization.
var (
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}
)

// parseKubeletCSR decodes a kubelet's CSR and checks everything but its
// subject's values: the signature, the key, and that it asks for nothing
// a kubelet client certificate does not have.
func parseKubeletCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	csr, err := decodeCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA key on %s; want P-256", ErrBadCSR, k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits; want 2048 or more", ErrBadCSR, k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("%w: %T key; want ECDSA P-256 or RSA", ErrBadCSR, csr.PublicKey)
	}
	for _, a := range csr.Subject.Names {
		if !a.Type.Equal(oidCommonName) && !a.Type.Equal(oidOrganization) {
			return nil, fmt.Errorf("%w: subject attribute %s; a kubelet's has only a common name and organizations", ErrBadCSR, a.Type)
		}
	}
	if len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses)+len(csr.URIs) > 0 {
		return nil, fmt.Errorf("%w: it asks for subject alternative names; a kubelet client certificate has none", ErrBadCSR)
	}
	if len(csr.Extensions) > 0 {
		return nil, fmt.Errorf("%w: it asks for extension %s; a kubelet client certificate takes none from the request", ErrBadCSR, csr.Extensions[0].Id)
	}
	return csr, nil
}

// KubeCertCurrent reports whether a serving certificate pair can stay in
// use at now: its key belongs to it, ca signed it and it is valid, two
// thirds of its life has not gone (NeedsRenewal), and it names exactly
// dnsNames and ips, in any order (for kube-apiserver's, what
// KubeAPIServerNames returns now; a changed address or certSAN makes it
// stale). A false answer means issue a new one.
func KubeCertCurrent(pair, ca config.CertKeyPair, dnsNames []string, ips []net.IP, now time.Time) bool {
	cert, ok := currentKubeCert(pair, ca, now)
	return ok && sameNames(cert.DNSNames, dnsNames) && sameIPs(cert.IPAddresses, ips)
}

// KubeClientCurrent reports whether a client certificate pair can stay
// in use at now: as KubeCertCurrent, for a client certificate of user in
// exactly groups (in any order). Only ca's certificate is needed, so a
// worker can check the kubelet certificate a control plane signed.
func KubeClientCurrent(pair, ca config.CertKeyPair, user string, groups []string, now time.Time) bool {
	cert, ok := currentKubeCert(pair, ca, now)
	return ok && slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) &&
		cert.Subject.CommonName == user && sameNames(cert.Subject.Organization, groups)
}

// currentKubeCert parses pair and reports whether ca signed it, its key
// belongs to it, and it is not yet due for renewal at now. ca.Key is not
// needed.
func currentKubeCert(pair, ca config.CertKeyPair, now time.Time) (*x509.Certificate, bool) {
	kp, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
	if err != nil {
		return nil, false
	}
	// Only ca's certificate is read: a worker checks its kubelet
	// certificate without the CA's key.
	caCert, err := ParseCertificatePEM(ca.Crt)
	if err != nil || !caCert.IsCA {
		return nil, false
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	cert := kp.Leaf
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, false
	}
	return cert, !NeedsRenewal(cert, now)
}

func sameNames(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, 0, len(s))
		for _, v := range s {
			out = append(out, strings.ToLower(v))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

func sameIPs(a, b []net.IP) bool {
	norm := func(s []net.IP) []string {
		out := make([]string, 0, len(s))
		for _, ip := range s {
			out = append(out, ip.String())
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// ServiceAccountPublicPEM returns the public half of the service account
// key (secrets.serviceAccountKey, PKCS#8, SEC 1 or PKCS#1 PEM) as a PKIX
// "PUBLIC KEY" PEM block: what kube-apiserver's --service-account-key-file
// needs to verify tokens, without the private key.
func ServiceAccountPublicPEM(keyPEM string) (string, error) {
	key, err := config.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return "", fmt.Errorf("%w: service account key: %v", ErrBadKubeRequest, err)
	}
	var pub any
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		pub = k.Public()
	case *rsa.PrivateKey:
		pub = k.Public()
	default:
		return "", fmt.Errorf("%w: service account key is neither ECDSA nor RSA", ErrBadKubeRequest)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", errors.Join(ErrBadKubeRequest, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}
