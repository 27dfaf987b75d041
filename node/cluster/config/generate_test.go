package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenerateLocalCluster(t *testing.T) {
	c, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 3, Workers: 2, LoopbackSubnet: 7})
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Empty(t, c.Warnings())

	assert.Equal(t, 3, c.Cluster.ControlPlane.Expect)
	assert.Equal(t, DefaultKubernetesVersion, c.Cluster.Kubernetes.Version)
	assert.Regexp(t, `^[0-9a-f]{32}$`, c.Cluster.ID)
	assert.Equal(t, []string{"127.0.7.1:6441", "127.0.7.2:6441", "127.0.7.3:6441"}, c.Cluster.Seeds)

	names := []string{"cp1", "cp2", "cp3", "worker1", "worker2"}
	require.Len(t, c.Nodes, len(names))
	for i, n := range c.Nodes {
		assert.Equal(t, names[i], n.Name)
		host := "127.0.7." + string(rune('1'+i))
		assert.Equal(t, host+":6440", n.APIEndpoint())
		assert.Equal(t, host+":6441", n.GossipEndpoint())
		if i < 3 {
			assert.Equal(t, RoleControlPlane, n.Role)
			assert.Equal(t, host+":6442", n.RaftEndpoint())
		} else {
			assert.Equal(t, RoleWorker, n.Role)
			assert.Empty(t, n.RaftAddress)
			assert.Empty(t, n.RaftEndpoint())
		}
	}

	key, err := base64.StdEncoding.DecodeString(c.Secrets.GossipKey)
	require.NoError(t, err)
	assert.Len(t, key, 32)
	assert.Regexp(t, joinTokenRE, c.Secrets.JoinToken)

	cert, _, err := ParseCA(c.Secrets.CA)
	require.NoError(t, err)
	assert.Equal(t, x509.ECDSA, cert.PublicKeyAlgorithm)
	assert.WithinDuration(t, time.Now().Add(CAValidity), cert.NotAfter, time.Hour)

	etcd, _, err := ParseCA(c.Secrets.EtcdCA)
	require.NoError(t, err, "gen config creates the etcd CA")
	assert.Equal(t, x509.ECDSA, etcd.PublicKeyAlgorithm)
	assert.Contains(t, etcd.Subject.CommonName, "etcd CA")
	assert.False(t, etcd.PublicKey.(*ecdsa.PublicKey).Equal(cert.PublicKey), "the etcd CA has a key of its own")
	assert.WithinDuration(t, time.Now().Add(CAValidity), etcd.NotAfter, time.Hour)

	kube, _, err := ParseCA(c.Secrets.KubernetesCA)
	require.NoError(t, err, "gen config creates the Kubernetes CA")
	assert.Equal(t, "cairn demo kubernetes CA", kube.Subject.CommonName)
	proxy, _, err := ParseCA(c.Secrets.FrontProxyCA)
	require.NoError(t, err, "gen config creates the front-proxy CA")
	assert.Equal(t, "cairn demo front-proxy CA", proxy.Subject.CommonName)
	keys := []*ecdsa.PublicKey{cert.PublicKey.(*ecdsa.PublicKey), etcd.PublicKey.(*ecdsa.PublicKey), kube.PublicKey.(*ecdsa.PublicKey), proxy.PublicKey.(*ecdsa.PublicKey)}
	for i := range keys {
		for j := range i {
			assert.False(t, keys[i].Equal(keys[j]), "CA %d and CA %d share a key", i, j)
		}
	}
	sa, err := parseKeyPEM(c.Secrets.ServiceAccountKey)
	require.NoError(t, err)
	saKey, ok := sa.(*ecdsa.PrivateKey)
	require.True(t, ok, "the service account key is ECDSA")
	assert.Equal(t, "P-256", saKey.Curve.Params().Name)
	assert.False(t, c.Cluster.Kubernetes.Disabled)
}

func TestGenerateKubernetesDisabled(t *testing.T) {
	c, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 1, KubernetesDisabled: true})
	require.NoError(t, err)
	assert.True(t, c.Cluster.Kubernetes.Disabled)
	assert.NotEmpty(t, c.Secrets.KubernetesCA.Key, "the secrets are there for when Kubernetes is enabled")
	out, err := c.Marshal(false)
	require.NoError(t, err)
	assert.Contains(t, string(out), "disabled: true")
}

func TestGenerateIsFresh(t *testing.T) {
	a, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 1})
	require.NoError(t, err)
	b, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 1})
	require.NoError(t, err)
	assert.NotEqual(t, a.Cluster.ID, b.Cluster.ID)
	assert.NotEqual(t, a.Secrets.GossipKey, b.Secrets.GossipKey)
	assert.NotEqual(t, a.Secrets.JoinToken, b.Secrets.JoinToken)
	assert.NotEqual(t, a.Secrets.CA.Key, b.Secrets.CA.Key)
	assert.NotEqual(t, a.Secrets.EtcdCA.Key, b.Secrets.EtcdCA.Key)
	assert.NotEqual(t, a.Secrets.KubernetesCA.Key, b.Secrets.KubernetesCA.Key)
	assert.NotEqual(t, a.Secrets.FrontProxyCA.Key, b.Secrets.FrontProxyCA.Key)
	assert.NotEqual(t, a.Secrets.ServiceAccountKey, b.Secrets.ServiceAccountKey)
}

func TestGenerateReusesSecrets(t *testing.T) {
	a, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 1})
	require.NoError(t, err)
	b, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 3, Workers: 4, Secrets: &a.Secrets, ClusterID: a.Cluster.ID})
	require.NoError(t, err)
	assert.Equal(t, a.Secrets, b.Secrets)
	assert.Equal(t, a.Cluster.ID, b.Cluster.ID)
	assert.Len(t, b.Nodes, 7)

	// Secrets from before the etcd CA existed get a new one.
	old := a.Secrets
	old.EtcdCA = CertKeyPair{}
	c, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 1, Secrets: &old, ClusterID: a.Cluster.ID})
	require.NoError(t, err)
	assert.Equal(t, a.Secrets.CA, c.Secrets.CA)
	assert.NotEmpty(t, c.Secrets.EtcdCA.Key)
	assert.NotEqual(t, a.Secrets.EtcdCA, c.Secrets.EtcdCA)

	// Secrets from before the Kubernetes secrets existed get new ones,
	// and keep the rest.
	old = a.Secrets
	old.KubernetesCA, old.FrontProxyCA, old.ServiceAccountKey = CertKeyPair{}, CertKeyPair{}, ""
	d, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 1, Secrets: &old, ClusterID: a.Cluster.ID})
	require.NoError(t, err)
	assert.Equal(t, a.Secrets.CA, d.Secrets.CA)
	assert.Equal(t, a.Secrets.EtcdCA, d.Secrets.EtcdCA)
	assert.NotEmpty(t, d.Secrets.KubernetesCA.Key)
	assert.NotEmpty(t, d.Secrets.FrontProxyCA.Key)
	assert.NotEmpty(t, d.Secrets.ServiceAccountKey)
	assert.NotEqual(t, a.Secrets.KubernetesCA, d.Secrets.KubernetesCA)
	assert.NotEqual(t, a.Secrets.ServiceAccountKey, d.Secrets.ServiceAccountKey)

	bad := a.Secrets
	bad.GossipKey = "short"
	_, err = Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 1, Secrets: &bad})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, []string{"secrets.gossipKey"}, ve.Fields())
}

func TestGenerateDeterministicWithReader(t *testing.T) {
	gen := func() *Config {
		c, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 1, Rand: bytes.NewReader(bytes.Repeat([]byte{7, 200, 13}, 4096))})
		require.NoError(t, err)
		return c
	}
	a, b := gen(), gen()
	assert.Equal(t, a.Cluster.ID, b.Cluster.ID)
	assert.Equal(t, a.Secrets.GossipKey, b.Secrets.GossipKey)
	assert.Equal(t, a.Secrets.JoinToken, b.Secrets.JoinToken)
}

func TestGenerateNodeHostsAndSANs(t *testing.T) {
	c, err := Generate(GenerateOptions{
		ClusterName: "demo", ControlPlanes: 2, Workers: 1, LoopbackSubnet: 7,
		NodeHosts: []string{"10.7.0.2", "10.7.0.3", "10.7.0.4"},
		CertSANs:  [][]string{{"127.0.7.1"}, {"127.0.7.2"}, {"127.0.7.3", "node.example"}},
	})
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Equal(t, []string{"10.7.0.2:6441", "10.7.0.3:6441"}, c.Cluster.Seeds)
	for i, n := range c.Nodes {
		ip := "10.7.0." + string(rune('2'+i))
		assert.Empty(t, n.Network.Links, "the runtime owns the node's interface")
		assert.Empty(t, n.Network.Addresses)
		assert.Equal(t, ip+":6440", n.APIAddress)
		assert.Equal(t, ip+":6441", n.GossipEndpoint())
		assert.Contains(t, n.CertSANs, "127.0.7."+string(rune('1'+i)))
		assert.True(t, slices.ContainsFunc(n.CertIPs(), net.ParseIP("127.0.7."+string(rune('1'+i))).Equal), n.Name)
	}
	assert.Equal(t, "10.7.0.2:6442", c.Nodes[0].RaftEndpoint())
	assert.Equal(t, []string{"worker1", "node.example"}, c.Nodes[2].CertDNSNames())
}

func TestGenerateVMNodes(t *testing.T) {
	c, err := Generate(GenerateOptions{
		ClusterName: "vms", ControlPlanes: 1, Workers: 1, LoopbackSubnet: 9,
		NodeAddresses: []string{"10.9.0.1/24", "10.9.0.2/24"}, NodeLinkUp: true, StateDisk: "/dev/vda",
	})
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	for _, n := range c.Nodes {
		assert.Equal(t, []Link{{Name: "eth0", Up: true}}, n.Network.Links, n.Name)
		assert.Equal(t, StateDisk{Path: "/dev/vda"}, n.StateDisk, n.Name)
	}
}

func TestGenerateBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts GenerateOptions
		want error
	}{
		{"no control plane", GenerateOptions{ClusterName: "demo"}, ErrBadOptions},
		{"negative workers", GenerateOptions{ClusterName: "demo", ControlPlanes: 1, Workers: -1}, ErrBadOptions},
		{"too many nodes", GenerateOptions{ClusterName: "demo", ControlPlanes: 5, Workers: 250}, ErrBadOptions},
		{"bad subnet", GenerateOptions{ClusterName: "demo", ControlPlanes: 1, LoopbackSubnet: 256}, ErrBadOptions},
		{"bad name", GenerateOptions{ClusterName: "Demo!", ControlPlanes: 1}, ErrInvalid},
		{"bad version", GenerateOptions{ClusterName: "demo", ControlPlanes: 1, KubernetesVersion: "one"}, ErrInvalid},
		{"hosts for fewer nodes", GenerateOptions{ClusterName: "demo", ControlPlanes: 2, NodeHosts: []string{"10.5.0.2"}}, ErrBadOptions},
		{"SANs for more nodes", GenerateOptions{ClusterName: "demo", ControlPlanes: 1, CertSANs: [][]string{{"a"}, {"b"}}}, ErrBadOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(tt.opts)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestJoinTokenAlphabet(t *testing.T) {
	seen := map[byte]bool{}
	for range 200 {
		tok, err := NewJoinToken(nil)
		require.NoError(t, err)
		require.Regexp(t, joinTokenRE, tok)
		for i := range len(tok) {
			seen[tok[i]] = true
		}
	}
	assert.Len(t, seen, 37, "all 36 letters and digits, and the dot")
}

func TestRoundTrip(t *testing.T) {
	generated, err := Generate(GenerateOptions{ClusterName: "demo", ControlPlanes: 3, Workers: 2})
	require.NoError(t, err)
	for name, c := range map[string]*Config{"generated": generated, "fixture": fixture(t)} {
		t.Run(name, func(t *testing.T) {
			parsed, err := Parse(mustMarshal(t, c, false))
			require.NoError(t, err)
			assert.Equal(t, c, parsed)
			require.NoError(t, parsed.Validate())

			canon := Canonical(c)
			again, err := Parse(canon)
			require.NoError(t, err)
			assert.Equal(t, canon, Canonical(again), "canonical form is a fixed point")
		})
	}
}

func TestCanonicalIgnoresFormatting(t *testing.T) {
	c := fixture(t)
	// The same document with comments, flow style and another key order.
	doc := []byte(`# cluster file
kind: ClusterConfig
apiVersion: cairn.dev/v1alpha1
nodes: []
secrets: {}
cluster: {name: demo, kubernetes: {version: "1.37.2"}}
`)
	p, err := Parse(doc)
	require.NoError(t, err)
	p.Secrets = c.Secrets
	p.Nodes = c.Nodes
	p.Cluster = c.Cluster
	assert.Equal(t, Canonical(c), Canonical(p))
	assert.Nil(t, Canonical(nil))
	assert.True(t, bytes.HasPrefix(Canonical(c), []byte("apiVersion: cairn.dev/v1alpha1\nkind: ClusterConfig\ncluster:\n  name: demo\n")))
}
