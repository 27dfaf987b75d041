package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

func testKubeCA(t *testing.T) config.CertKeyPair {
	t.Helper()
	ca, err := config.NewKubernetesCA(nil, "test", time.Now())
	require.NoError(t, err)
	return ca
}

// kubeConfig is a cluster of two control planes and a worker, with an
// endpoint and Kubernetes certSANs, one repeating a control plane's IP.
func kubeConfig() *config.Config {
	cp1 := *etcdNode()
	return &config.Config{
		Cluster: config.Cluster{
			Network: config.ClusterNetwork{PodCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/12", DNSDomain: "cluster.local"},
			Kubernetes: config.Kubernetes{
				Endpoint: "https://K8s.Example.com:6443",
				CertSANs: []string{"192.0.2.10", "api.example.com", "10.5.0.3"},
			},
		},
		Nodes: []config.Node{
			cp1,
			{Name: "cp2", Role: config.RoleControlPlane, APIAddress: "10.5.0.3:6440", GossipAddress: "10.5.0.3:6441", RaftAddress: "10.5.0.3:6442"},
			{Name: "worker1", Role: config.RoleWorker, APIAddress: "10.5.0.9:6440", GossipAddress: "10.5.0.9:6441"},
		},
	}
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func TestKubeServiceIP(t *testing.T) {
	for _, tc := range []struct {
		cidr string
		n    int
		want string
	}{
		{"10.96.0.0/12", 1, "10.96.0.1"},
		{"10.96.0.0/12", 10, "10.96.0.10"},
		{"10.96.0.0/28", 15, "10.96.0.15"},
		{"10.96.0.255/23", 2, "10.96.0.2"}, // host bits are dropped
		{"fd00:96::/112", 10, "fd00:96::a"},
		{"fd00:96::ff00/120", 256, ""},
		{"10.96.0.0/28", 16, ""},
		{"255.255.255.255/32", 1, ""},
		{"10.96.0.0/12", 0, ""},
		{"not a cidr", 1, ""},
	} {
		ip, err := KubeServiceIP(tc.cidr, tc.n)
		if tc.want == "" {
			require.ErrorIs(t, err, ErrBadKubeRequest, "%s %d", tc.cidr, tc.n)
			continue
		}
		require.NoError(t, err, "%s %d", tc.cidr, tc.n)
		assert.Equal(t, tc.want, ip.String(), "%s %d", tc.cidr, tc.n)
	}
}

func TestKubeAPIServerNames(t *testing.T) {
	c := kubeConfig()
	names, ips := KubeAPIServerNames(c, &c.Nodes[1])
	assert.Equal(t, []string{
		"cp2", "cp1", "cp1.example.com", "localhost",
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
		"k8s.example.com", "api.example.com",
	}, names, "the node's own names first, then the other control planes', never a worker's")
	assert.Equal(t, []string{"10.5.0.3", "10.5.0.2", "10.6.0.2", "127.0.10.2", "127.0.0.1", "::1", "10.96.0.1", "192.0.2.10"}, ipStrings(ips))
	for _, ip := range ips {
		if ip.To4() != nil {
			assert.Len(t, ip, net.IPv4len, "IPv4 in 4 bytes, so the certificate and a comparison agree")
		}
	}

	c.Cluster.Kubernetes.Endpoint = "https://10.5.0.100:6443"
	_, ips = KubeAPIServerNames(c, &c.Nodes[0])
	assert.Contains(t, ipStrings(ips), "10.5.0.100", "an endpoint IP is an IP SAN")
}

func TestIssueKubeAPIServer(t *testing.T) {
	kubeCA, etcdCA := testKubeCA(t), testEtcdCA(t)
	kubePool, err := EtcdPool(kubeCA)
	require.NoError(t, err)
	etcdPool, err := EtcdPool(etcdCA)
	require.NoError(t, err)
	c := kubeConfig()
	now := time.Now()

	pair, err := IssueKubeAPIServer(kubeCA, c, &c.Nodes[0], now)
	require.NoError(t, err)
	cert := parsePair(t, pair)
	assert.Equal(t, KubeAPIServerCommonName, cert.Subject.CommonName)
	names, ips := KubeAPIServerNames(c, &c.Nodes[0])
	assert.Equal(t, names, cert.DNSNames)
	assert.Equal(t, ipStrings(ips), ipStrings(cert.IPAddresses))
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, cert.ExtKeyUsage)
	assert.False(t, cert.IsCA)
	assert.WithinDuration(t, now.Add(KubeValidity), cert.NotAfter, time.Second)

	for _, name := range []string{"cp1", "cp2", "localhost", "kubernetes.default.svc.cluster.local", "k8s.example.com", "api.example.com",
		"10.96.0.1", "127.0.0.1", "::1", "10.5.0.3", "192.0.2.10"} {
		require.NoError(t, verifies(cert, kubePool, name, x509.ExtKeyUsageServerAuth), name)
	}
	require.Error(t, verifies(cert, kubePool, "worker1", x509.ExtKeyUsageServerAuth), "a worker runs no apiserver")
	require.Error(t, verifies(cert, kubePool, "", x509.ExtKeyUsageClientAuth), "server auth only")
	require.Error(t, verifies(cert, etcdPool, "cp1", x509.ExtKeyUsageServerAuth), "another CA does not vouch for it")

	_, err = IssueKubeAPIServer(kubeCA, c, &c.Nodes[2], now)
	require.ErrorIs(t, err, ErrBadKubeRequest, "workers run no apiserver")
	c.Cluster.Network.ServiceCIDR = "bogus"
	_, err = IssueKubeAPIServer(kubeCA, c, &c.Nodes[0], now)
	require.ErrorIs(t, err, ErrBadKubeRequest, "no service IP, no certificate")
	_, err = IssueKubeAPIServer(config.CertKeyPair{}, kubeConfig(), &c.Nodes[0], now)
	require.ErrorIs(t, err, config.ErrBadCA)
}

func TestIssueKubeClient(t *testing.T) {
	kubeCA, proxyCA := testKubeCA(t), testKubeCA(t)
	kubePool, err := EtcdPool(kubeCA)
	require.NoError(t, err)
	proxyPool, err := EtcdPool(proxyCA)
	require.NoError(t, err)
	now := time.Now()

	for _, tc := range []struct {
		user   string
		groups []string
	}{
		{KubeAdminUser, []string{KubeAdminGroup}},
		{KubeControllerManagerUser, nil},
		{KubeNodeUserPrefix + "cp1", []string{KubeNodesGroup}},
		{KubeAPIServerKubeletClient, []string{KubeAdminGroup}},
	} {
		pair, err := IssueKubeClient(kubeCA, tc.user, tc.groups, KubeAdminValidity, now)
		require.NoError(t, err, tc.user)
		cert := parsePair(t, pair)
		assert.Equal(t, tc.user, cert.Subject.CommonName)
		assert.Equal(t, tc.groups, cert.Subject.Organization)
		assert.Empty(t, cert.DNSNames)
		assert.Empty(t, cert.IPAddresses)
		assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
		assert.WithinDuration(t, now.Add(KubeAdminValidity), cert.NotAfter, time.Second)
		require.NoError(t, verifies(cert, kubePool, "", x509.ExtKeyUsageClientAuth), tc.user)
		require.Error(t, verifies(cert, kubePool, "", x509.ExtKeyUsageServerAuth), "client auth only")
		require.Error(t, verifies(cert, proxyPool, "", x509.ExtKeyUsageClientAuth), "another CA")
	}

	pair, err := IssueKubeClient(proxyCA, KubeFrontProxyClient, nil, KubeValidity, now)
	require.NoError(t, err)
	require.NoError(t, verifies(parsePair(t, pair), proxyPool, "", x509.ExtKeyUsageClientAuth))
	require.Error(t, verifies(parsePair(t, pair), kubePool, "", x509.ExtKeyUsageClientAuth),
		"the front proxy's certificate is no Kubernetes client")

	caCert, _, err := config.ParseCA(kubeCA)
	require.NoError(t, err)
	pair, err = IssueKubeClient(kubeCA, KubeAdminUser, []string{KubeAdminGroup}, 20*365*24*time.Hour, now)
	require.NoError(t, err)
	assert.Equal(t, caCert.NotAfter, parsePair(t, pair).NotAfter, "never past the CA")

	_, err = IssueKubeClient(kubeCA, "", nil, time.Hour, now)
	require.ErrorIs(t, err, ErrBadKubeRequest)
	_, err = IssueKubeClient(kubeCA, KubeAdminUser, nil, 0, now)
	require.ErrorIs(t, err, ErrBadKubeRequest)
}

func TestKubeCertCurrent(t *testing.T) {
	kubeCA := testKubeCA(t)
	c := kubeConfig()
	n := &c.Nodes[0]
	now := time.Now()
	pair, err := IssueKubeAPIServer(kubeCA, c, n, now)
	require.NoError(t, err)
	names, ips := KubeAPIServerNames(c, n)

	assert.True(t, KubeCertCurrent(pair, kubeCA, names, ips, now))
	reversedNames := append([]string(nil), names...)
	for i, j := 0, len(reversedNames)-1; i < j; i, j = i+1, j-1 {
		reversedNames[i], reversedNames[j] = reversedNames[j], reversedNames[i]
	}
	assert.True(t, KubeCertCurrent(pair, kubeCA, reversedNames, ips, now), "order does not matter")
	assert.True(t, KubeCertCurrent(pair, kubeCA, names, ips, now.Add(KubeValidity/2)), "half its life gone")
	assert.False(t, KubeCertCurrent(pair, kubeCA, names, ips, now.Add(KubeValidity*2/3+time.Hour)), "due at two thirds")
	assert.False(t, KubeCertCurrent(pair, kubeCA, names, ips, now.Add(KubeValidity+time.Hour)), "expired")
	assert.False(t, KubeCertCurrent(pair, testKubeCA(t), names, ips, now), "another CA")

	c.Cluster.Kubernetes.CertSANs = append(c.Cluster.Kubernetes.CertSANs, "new.example.com")
	names2, ips2 := KubeAPIServerNames(c, n)
	assert.False(t, KubeCertCurrent(pair, kubeCA, names2, ips2, now), "a new certSAN")
	c = kubeConfig()
	c.Nodes[1].APIAddress = "10.5.0.33:6440"
	names2, ips2 = KubeAPIServerNames(c, n)
	assert.False(t, KubeCertCurrent(pair, kubeCA, names2, ips2, now), "another control plane moved")

	other, err := IssueKubeAPIServer(kubeCA, kubeConfig(), n, now)
	require.NoError(t, err)
	assert.False(t, KubeCertCurrent(config.CertKeyPair{Crt: pair.Crt, Key: other.Key}, kubeCA, names, ips, now), "a key of another certificate")
	assert.False(t, KubeCertCurrent(config.CertKeyPair{Crt: "junk", Key: pair.Key}, kubeCA, names, ips, now))
}

func TestKubeClientCurrent(t *testing.T) {
	kubeCA := testKubeCA(t)
	now := time.Now()
	node := KubeNodeUserPrefix + "cp1"
	pair, err := IssueKubeClient(kubeCA, node, []string{KubeNodesGroup}, KubeValidity, now)
	require.NoError(t, err)
	assert.True(t, KubeClientCurrent(pair, kubeCA, node, []string{KubeNodesGroup}, now))
	assert.False(t, KubeClientCurrent(pair, kubeCA, KubeNodeUserPrefix+"cp2", []string{KubeNodesGroup}, now), "another user")
	assert.False(t, KubeClientCurrent(pair, kubeCA, node, []string{KubeNodesGroup, KubeAdminGroup}, now), "other groups")
	assert.False(t, KubeClientCurrent(pair, kubeCA, node, []string{KubeNodesGroup}, now.Add(KubeValidity*2/3+time.Hour)), "due")
	assert.True(t, KubeClientCurrent(pair, config.CertKeyPair{Crt: kubeCA.Crt}, node, []string{KubeNodesGroup}, now), "the CA's certificate is enough")
	assert.False(t, KubeClientCurrent(pair, config.CertKeyPair{Crt: pair.Crt}, node, []string{KubeNodesGroup}, now), "a leaf is no CA")

	server, err := IssueKubeAPIServer(kubeCA, kubeConfig(), etcdNode(), now)
	require.NoError(t, err)
	assert.False(t, KubeClientCurrent(server, kubeCA, KubeAPIServerCommonName, nil, now), "a serving certificate is no client certificate")
}

func TestServiceAccountPublicPEM(t *testing.T) {
	keyPEM, err := config.NewServiceAccountKey(nil)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	require.NoError(t, err)

	for name, in := range map[string]string{
		"generated":  keyPEM,
		"RSA PKCS#1": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})),
		"EC SEC 1":   string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})),
	} {
		pubPEM, err := ServiceAccountPublicPEM(in)
		require.NoError(t, err, name)
		block, rest := pem.Decode([]byte(pubPEM))
		require.NotNil(t, block, name)
		assert.Empty(t, rest, name)
		assert.Equal(t, "PUBLIC KEY", block.Type, name)
		assert.NotContains(t, pubPEM, "PRIVATE", name)
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		require.NoError(t, err, name)

		// A token signed with the private key verifies with the public one.
		priv := parsePrivate(t, in)
		digest := sha256.Sum256([]byte("token"))
		sig, err := priv.Sign(rand.Reader, digest[:], crypto.SHA256)
		require.NoError(t, err, name)
		switch k := pub.(type) {
		case *ecdsa.PublicKey:
			assert.True(t, ecdsa.VerifyASN1(k, digest[:], sig), name)
		case *rsa.PublicKey:
			assert.NoError(t, rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig), name)
		default:
			t.Fatalf("%s: public key of type %T", name, pub)
		}
	}

	for _, bad := range []string{"", "junk", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		_, err := ServiceAccountPublicPEM(bad)
		require.ErrorIs(t, err, ErrBadKubeRequest, bad)
	}
}

func parsePrivate(t *testing.T, keyPEM string) crypto.Signer {
	t.Helper()
	block, _ := pem.Decode([]byte(keyPEM))
	require.NotNil(t, block)
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	require.NoError(t, err)
	return key.(crypto.Signer)
}
