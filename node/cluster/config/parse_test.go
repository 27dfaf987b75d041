package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const minimalDoc = `apiVersion: cairn.dev/v1alpha1
kind: ClusterConfig
cluster:
  name: demo
  controlPlane:
    expect: 1
nodes:
- name: cp1
  role: controlplane
  network:
    links:
    - name: eth0
      mtu: 1500
    routes:
    - link: eth0
      dst: 0.0.0.0/0
      metric: 100
`

func TestParseAcceptsMinimal(t *testing.T) {
	c, err := Parse([]byte(minimalDoc))
	require.NoError(t, err)
	assert.Equal(t, "demo", c.Cluster.Name)
	assert.Equal(t, 1500, c.Nodes[0].Network.Links[0].MTU)
	assert.Equal(t, uint32(100), c.Nodes[0].Network.Routes[0].Metric)
}

// A map field (kernel.sysctls) decodes, its keys dotted.
func TestParseAcceptsSysctls(t *testing.T) {
	doc := strings.Replace(minimalDoc, "  role: controlplane\n",
		"  role: controlplane\n  kernel:\n    sysctls:\n      net.ipv4.ip_forward: \"1\"\n      net.ipv4.conf.eth0/100.forwarding: \"0\"\n", 1)
	c, err := Parse([]byte(doc))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.conf.eth0/100.forwarding": "0"}, c.Nodes[0].Kernel.Sysctls)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replaced in minimalDoc; empty old means the whole document is new
		sentinel error
		fields   []string // exact field paths; nil when the error has none
		msg      string
	}{
		{"unknown top-level field", "kind: ClusterConfig\n", "kind: ClusterConfig\nmachine: {}\n", ErrUnknownField, []string{"machine"}, "unknown field"},
		{"unknown nested field", "      mtu: 1500\n", "      mtu: 1500\n      mtuu: 9000\n", ErrUnknownField, []string{"nodes[0].network.links[0].mtuu"}, "unknown field"},
		{"field in the wrong case", "  controlPlane:\n", "  controlplane:\n", ErrUnknownField, []string{"cluster.controlplane"}, `did you mean "controlPlane"?`},
		{"two unknown fields", "  name: demo\n", "  name: demo\n  zz: 1\n  aa: 2\n", ErrUnknownField, []string{"cluster.aa", "cluster.zz"}, "unknown field"},
		{"string where an integer belongs", "expect: 1", "expect: three", ErrSyntax, []string{"cluster.controlPlane.expect"}, "must be an integer"},
		{"number where a string belongs", "  name: demo\n", "  name: 42\n", ErrSyntax, []string{"cluster.name"}, "quote the value"},
		{"negative metric", "metric: 100", "metric: -1", ErrSyntax, []string{"nodes[0].network.routes[0].metric"}, "from 0 to 4294967295"},
		{"mapping where a list belongs", "nodes:\n", "nodes: {}\nx:\n", ErrUnknownField, []string{"nodes", "x"}, "must be a list"},
		{"wrong apiVersion", "cairn.dev/v1alpha1", "cairn.dev/v2", ErrUnsupportedVersion, []string{"apiVersion"}, `must be "cairn.dev/v1alpha1"`},
		{"wrong kind", "kind: ClusterConfig", "kind: MachineConfig", ErrUnsupportedVersion, []string{"kind"}, `must be "ClusterConfig"`},
		{"missing header", "", "cluster: {}\n", ErrUnsupportedVersion, []string{"apiVersion", "kind"}, "is required"},
		{"empty document", "", "", ErrUnsupportedVersion, []string{"apiVersion", "kind"}, "is required"},
		{"duplicate key", "  name: demo\n", "  name: demo\n  name: other\n", ErrSyntax, nil, "already set"},
		{"not YAML", "", "cluster: [\n", ErrSyntax, nil, ""},
		{"not a mapping", "", "- a\n- b\n", ErrSyntax, nil, "must be a mapping"},
		{"sysctl value a number", "  role: controlplane\n", "  role: controlplane\n  kernel:\n    sysctls:\n      net.ipv4.ip_forward: 1\n",
			ErrSyntax, []string{`nodes[0].kernel.sysctls["net.ipv4.ip_forward"]`}, "quote the value"},
		{"sysctls a list", "  role: controlplane\n", "  role: controlplane\n  kernel:\n    sysctls: [a]\n",
			ErrSyntax, []string{"nodes[0].kernel.sysctls"}, "must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.new
			if tt.old != "" {
				require.Contains(t, minimalDoc, tt.old)
				doc = strings.Replace(minimalDoc, tt.old, tt.new, 1)
			}
			c, err := Parse([]byte(doc))
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, tt.sentinel)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tt.msg)
			var ve *ValidationError
			if tt.fields == nil {
				assert.NotErrorAs(t, err, &ve)
				return
			}
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.fields, ve.Fields())
		})
	}
}

func TestLoadValidates(t *testing.T) {
	_, err := Load([]byte(minimalDoc))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields(), "secrets.gossipKey")

	c := fixture(t)
	loaded, err := Load(mustMarshal(t, c, false))
	require.NoError(t, err)
	assert.Equal(t, c, loaded)
}

// The Kubernetes settings survive a round trip through the canonical form,
// and a misspelt one is an unknown field like any other.
func TestParseKubernetesSettings(t *testing.T) {
	c := fixture(t)
	c.Cluster.Kubernetes.Disabled = true
	c.Cluster.Kubernetes.Endpoint = "https://k8s.example.com:6443"
	c.Cluster.Kubernetes.CertSANs = []string{"192.0.2.10"}
	c.Cluster.Kubernetes.APIServer.ExtraArgs = map[string]string{"v": "2"}
	c.Cluster.Kubernetes.Kubelet = Kubelet{MaxPods: 250, NodeLabels: map[string]string{"example.com/rack": "r1"}}
	got, err := Load(Canonical(c))
	require.NoError(t, err)
	assert.Equal(t, c, got)

	doc := strings.Replace(string(Canonical(c)), "maxPods:", "maxpods:", 1)
	_, err = Parse([]byte(doc))
	require.ErrorIs(t, err, ErrUnknownField)
	assert.Contains(t, err.Error(), "cluster.kubernetes.kubelet.maxpods")
}
