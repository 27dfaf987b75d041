package config

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	otherCAOnce sync.Once
	otherCA     CertKeyPair
	otherCAErr  error
)

// testSecrets returns fixed secrets, so fixtures and their encodings are
// byte-for-byte stable. The CAs and the key in testdata/ are throwaway ones
// made for these tests and trusted nowhere.
func testSecrets(t *testing.T) Secrets {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile("testdata/" + name)
		require.NoError(t, err)
		return string(b)
	}
	pair := func(name string) CertKeyPair {
		return CertKeyPair{Crt: read(name + ".crt"), Key: read(name + ".key")}
	}
	return Secrets{
		GossipKey:         "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8M=",
		JoinToken:         "k3x9pq.7fj2m0c8wq4z1v6b",
		CA:                pair("ca"),
		EtcdCA:            pair("etcd-ca"),
		KubernetesCA:      pair("kubernetes-ca"),
		FrontProxyCA:      pair("front-proxy-ca"),
		ServiceAccountKey: read("service-account.key"),
	}
}

// anotherCA returns a second CA, generated once per test binary.
func anotherCA(t *testing.T) CertKeyPair {
	t.Helper()
	otherCAOnce.Do(func() { otherCA, otherCAErr = NewCA(nil, "other", time.Now()) })
	require.NoError(t, otherCAErr)
	return otherCA
}

// fixture returns a valid cluster of three control-plane nodes and two
// workers on 10.5.0.0/24, with endpoints derived from each node's address and
// implicit name matching, so that one mutation yields exactly one violation.
func fixture(t *testing.T) *Config {
	t.Helper()
	s := testSecrets(t)
	c := &Config{
		APIVersion: APIVersion,
		Kind:       Kind,
		Cluster: Cluster{
			Name:         "demo",
			ID:           "00112233445566778899aabbccddeeff",
			ControlPlane: ControlPlane{Expect: 3},
			Network:      ClusterNetwork{PodCIDR: DefaultPodCIDR, ServiceCIDR: DefaultServiceCIDR, DNSDomain: DefaultDNSDomain},
			Kubernetes:   Kubernetes{Version: "1.37.2"},
			Seeds:        []string{"10.5.0.2:6441", "10.5.0.3:6441"},
		},
		Secrets: s,
	}
	for i := range 5 {
		n := Node{Name: fmt.Sprintf("cp%d", i+1), Role: RoleControlPlane}
		if i >= 3 {
			n = Node{Name: fmt.Sprintf("worker%d", i-2), Role: RoleWorker}
		}
		n.Network = NodeNetwork{
			Links:     []Link{{Name: "eth0", Up: true, MTU: 1500}},
			Addresses: []Address{{Link: "eth0", CIDR: fmt.Sprintf("10.5.0.%d/24", i+2)}},
			Routes:    []Route{{Link: "eth0", Dst: "0.0.0.0/0", Gateway: "10.5.0.1", Metric: 100}},
		}
		c.Nodes = append(c.Nodes, n)
	}
	require.NoError(t, c.Validate(), "fixture must be valid")
	return c
}

// mustMarshal marshals c, failing the test on error.
func mustMarshal(t *testing.T, c *Config, redact bool) []byte {
	t.Helper()
	out, err := c.Marshal(redact)
	require.NoError(t, err)
	return out
}
