package config

import (
	"crypto/ed25519"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateFixtureIsValid(t *testing.T) {
	c := fixture(t)
	require.NoError(t, c.Validate())
	assert.Empty(t, c.Warnings())
}

func TestValidateViolations(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // exact field paths, in order
		msg    string   // substring of the first violation's message
	}{
		{"wrong apiVersion", func(c *Config) { c.APIVersion = "cairn.dev/v1" }, []string{"apiVersion"}, `must be "cairn.dev/v1alpha1"`},
		{"wrong kind", func(c *Config) { c.Kind = "MachineConfig" }, []string{"kind"}, `must be "ClusterConfig"`},
		{"bad kernel module name", func(c *Config) { c.Nodes[0].Kernel.Modules = []KernelModule{{Name: "br netfilter"}} },
			[]string{"nodes[0].kernel.modules[0].name"}, "is not a kernel module name"},
		{"kernel module twice", func(c *Config) {
			c.Nodes[0].Kernel.Modules = []KernelModule{{Name: "br_netfilter"}, {Name: "br-netfilter"}}
		}, []string{"nodes[0].kernel.modules[1].name"}, "listed twice"},
		{"bad sysctl name", func(c *Config) { c.Nodes[0].Kernel.Sysctls = map[string]string{"net ipv4": "1"} },
			[]string{`nodes[0].kernel.sysctls["net ipv4"]`}, "is not a sysctl name"},
		{"sysctl segment of slashes", func(c *Config) { c.Nodes[0].Kernel.Sysctls = map[string]string{"net.ipv4.conf.//.forwarding": "1"} },
			[]string{`nodes[0].kernel.sysctls["net.ipv4.conf.//.forwarding"]`}, "is not a sysctl name"},
		{"sysctl value with a newline", func(c *Config) { c.Nodes[0].Kernel.Sysctls = map[string]string{"net.ipv4.ip_forward": "1\n0"} },
			[]string{`nodes[0].kernel.sysctls["net.ipv4.ip_forward"]`}, "one non-empty line"},
		{"bad cert SAN", func(c *Config) { c.Nodes[0].CertSANs = []string{"127.0.10.2", "not a name"} },
			[]string{"nodes[0].certSANs[1]"}, "neither an IP address nor a DNS name"},
		{"unspecified cert SAN", func(c *Config) { c.Nodes[0].CertSANs = []string{"0.0.0.0"} },
			[]string{"nodes[0].certSANs[0]"}, "unspecified"},
		{"state disk path outside /dev", func(c *Config) { c.Nodes[0].StateDisk = StateDisk{Path: "/var/disk.img"} },
			[]string{"nodes[0].stateDisk.path"}, "not a device path"},
		{"state disk bad size", func(c *Config) { c.Nodes[0].StateDisk = StateDisk{MinSize: "lots"} },
			[]string{"nodes[0].stateDisk.minSize"}, "not a size"},
		{"state disk min above max", func(c *Config) { c.Nodes[0].StateDisk = StateDisk{MinSize: "2GiB", MaxSize: "1GiB"} },
			[]string{"nodes[0].stateDisk.maxSize"}, "smaller than minSize"},
		{"empty cluster name", func(c *Config) { c.Cluster.Name = "" }, []string{"cluster.name"}, "is required"},
		{"cluster name not DNS-1123", func(c *Config) { c.Cluster.Name = "Demo_1" }, []string{"cluster.name"}, "DNS-1123 label"},
		{"cluster id not hex", func(c *Config) { c.Cluster.ID = "xyz" }, []string{"cluster.id"}, "32 lowercase hex"},
		{"expect below one", func(c *Config) { c.Cluster.ControlPlane.Expect = 0 }, []string{"cluster.controlPlane.expect"}, "at least 1"},
		{"expect above controlplane count", func(c *Config) { c.Cluster.ControlPlane.Expect = 5 }, []string{"cluster.controlPlane.expect"}, "only 3 controlplane"},
		{"bad pod CIDR", func(c *Config) { c.Cluster.Network.PodCIDR = "10.244.0.0/33" }, []string{"cluster.network.podCIDR"}, "not a CIDR"},
		{"service CIDR host bits", func(c *Config) { c.Cluster.Network.ServiceCIDR = "10.96.0.1/12" }, []string{"cluster.network.serviceCIDR"}, "did you mean 10.96.0.0/12"},
		{"pod and service CIDR overlap", func(c *Config) { c.Cluster.Network.ServiceCIDR = "10.244.128.0/20" }, []string{"cluster.network.serviceCIDR"}, "overlaps podCIDR"},
		{"bad DNS domain", func(c *Config) { c.Cluster.Network.DNSDomain = "cluster..local" }, []string{"cluster.network.dnsDomain"}, "subdomain"},
		{"bad kubernetes version", func(c *Config) { c.Cluster.Kubernetes.Version = "latest" }, []string{"cluster.kubernetes.version"}, "not a version"},
		{"bad seed", func(c *Config) { c.Cluster.Seeds[1] = "10.5.0.3" }, []string{"cluster.seeds[1]"}, "not host:port"},
		{"duplicate seed", func(c *Config) { c.Cluster.Seeds[1] = c.Cluster.Seeds[0] }, []string{"cluster.seeds[1]"}, "duplicate seed"},
		{"etcd flag Cairn sets", func(c *Config) { c.Cluster.Etcd.ExtraArgs = map[string]string{"client-cert-auth": "false"} }, []string{`cluster.etcd.extraArgs["client-cert-auth"]`}, "--client-cert-auth is set by Cairn and cannot be given"},
		{"etcd flag with dashes", func(c *Config) { c.Cluster.Etcd.ExtraArgs = map[string]string{"--snapshot-count": "1"} }, []string{`cluster.etcd.extraArgs["--snapshot-count"]`}, "no leading dashes"},
		{"etcd flag value of two lines", func(c *Config) { c.Cluster.Etcd.ExtraArgs = map[string]string{"snapshot-count": "1\n2"} }, []string{`cluster.etcd.extraArgs["snapshot-count"]`}, "one line"},
		{"etcd force-new-cluster", func(c *Config) { c.Cluster.Etcd.ExtraArgs = map[string]string{"force-new-cluster": "true"} }, []string{`cluster.etcd.extraArgs["force-new-cluster"]`}, "set by Cairn"},
		{"kubernetes endpoint not https", func(c *Config) { c.Cluster.Kubernetes.Endpoint = "http://k8s.example.com:6443" }, []string{"cluster.kubernetes.endpoint"}, "not an https URL"},
		{"kubernetes endpoint without port", func(c *Config) { c.Cluster.Kubernetes.Endpoint = "https://k8s.example.com" }, []string{"cluster.kubernetes.endpoint"}, "has no port"},
		{"kubernetes endpoint with a path", func(c *Config) { c.Cluster.Kubernetes.Endpoint = "https://k8s.example.com:6443/api" }, []string{"cluster.kubernetes.endpoint"}, "not an https URL"},
		{"kubernetes endpoint bad host", func(c *Config) { c.Cluster.Kubernetes.Endpoint = "https://bad_host:6443" }, []string{"cluster.kubernetes.endpoint"}, "neither an IP address nor a DNS name"},
		{"kubernetes endpoint port zero", func(c *Config) { c.Cluster.Kubernetes.Endpoint = "https://10.5.0.10:0" }, []string{"cluster.kubernetes.endpoint"}, "port must be"},
		{"kubernetes cert SAN", func(c *Config) { c.Cluster.Kubernetes.CertSANs = []string{"k8s.example.com", "no such name"} }, []string{"cluster.kubernetes.certSANs[1]"}, "neither an IP address nor a DNS name"},
		{"kubernetes cert SAN twice", func(c *Config) { c.Cluster.Kubernetes.CertSANs = []string{"192.0.2.1", "192.0.2.1"} }, []string{"cluster.kubernetes.certSANs[1]"}, "listed twice"},
		{"apiserver flag Cairn sets", func(c *Config) {
			c.Cluster.Kubernetes.APIServer.ExtraArgs = map[string]string{"etcd-servers": "https://x:2379"}
		},
			[]string{`cluster.kubernetes.apiServer.extraArgs["etcd-servers"]`}, "--etcd-servers is set by Cairn and cannot be given"},
		{"controller-manager flag Cairn sets", func(c *Config) {
			c.Cluster.Kubernetes.ControllerManager.ExtraArgs = map[string]string{"cluster-cidr": "10.0.0.0/8"}
		},
			[]string{`cluster.kubernetes.controllerManager.extraArgs["cluster-cidr"]`}, "--cluster-cidr is set by Cairn"},
		{"scheduler flag with dashes", func(c *Config) { c.Cluster.Kubernetes.Scheduler.ExtraArgs = map[string]string{"--v": "2"} },
			[]string{`cluster.kubernetes.scheduler.extraArgs["--v"]`}, "not a kube-scheduler flag name like feature-gates (no leading dashes)"},
		{"proxy flag value of two lines", func(c *Config) { c.Cluster.Kubernetes.Proxy.ExtraArgs = map[string]string{"v": "2\n3"} },
			[]string{`cluster.kubernetes.proxy.extraArgs["v"]`}, "one line of at most 4096 bytes"},
		{"proxy flag Cairn sets", func(c *Config) { c.Cluster.Kubernetes.Proxy.ExtraArgs = map[string]string{"hostname-override": "x"} },
			[]string{`cluster.kubernetes.proxy.extraArgs["hostname-override"]`}, "set by Cairn"},
		{"kubelet flag with a field of its own", func(c *Config) { c.Cluster.Kubernetes.Kubelet.ExtraArgs = map[string]string{"max-pods": "20"} },
			[]string{`cluster.kubernetes.kubelet.extraArgs["max-pods"]`}, "--max-pods is set by Cairn and cannot be given; use cluster.kubernetes.kubelet.maxPods"},
		{"kubelet flag Cairn sets", func(c *Config) { c.Cluster.Kubernetes.Kubelet.ExtraArgs = map[string]string{"node-ip": "10.5.0.2"} },
			[]string{`cluster.kubernetes.kubelet.extraArgs["node-ip"]`}, "--node-ip is set by Cairn"},
		{"kubelet maxPods too many", func(c *Config) { c.Cluster.Kubernetes.Kubelet.MaxPods = 2501 }, []string{"cluster.kubernetes.kubelet.maxPods"}, "out of range 1..2500"},
		{"kubelet maxPods negative", func(c *Config) { c.Cluster.Kubernetes.Kubelet.MaxPods = -1 }, []string{"cluster.kubernetes.kubelet.maxPods"}, "out of range"},
		{"node label name too long", func(c *Config) {
			c.Cluster.Kubernetes.Kubelet.NodeLabels = map[string]string{"example.com/" + strings.Repeat("a", 64): ""}
		},
			[]string{`cluster.kubernetes.kubelet.nodeLabels["example.com/` + strings.Repeat("a", 64) + `"]`}, "is not a label key"},
		{"node label name with a bad character", func(c *Config) { c.Cluster.Kubernetes.Kubelet.NodeLabels = map[string]string{"rack!": "r1"} },
			[]string{`cluster.kubernetes.kubelet.nodeLabels["rack!"]`}, "is not a label key"},
		{"node label empty name", func(c *Config) { c.Cluster.Kubernetes.Kubelet.NodeLabels = map[string]string{"example.com/": "r1"} },
			[]string{`cluster.kubernetes.kubelet.nodeLabels["example.com/"]`}, "is not a label key"},
		{"node label bad prefix", func(c *Config) { c.Cluster.Kubernetes.Kubelet.NodeLabels = map[string]string{"Example_Com/rack": "r1"} },
			[]string{`cluster.kubernetes.kubelet.nodeLabels["Example_Com/rack"]`}, "must be a DNS subdomain"},
		{"node label bad value", func(c *Config) {
			c.Cluster.Kubernetes.Kubelet.NodeLabels = map[string]string{"example.com/rack": "-r1"}
		},
			[]string{`cluster.kubernetes.kubelet.nodeLabels["example.com/rack"]`}, `value "-r1" is not a label value`},
		{"node role label", func(c *Config) {
			c.Cluster.Kubernetes.Kubelet.NodeLabels = map[string]string{"node-role.kubernetes.io/worker": ""}
		}, []string{`cluster.kubernetes.kubelet.nodeLabels["node-role.kubernetes.io/worker"]`}, "NodeRestriction admission plugin refuses node-role.kubernetes.io/"},
		{"kubernetes.io label kubelet sets", func(c *Config) {
			c.Cluster.Kubernetes.Kubelet.NodeLabels = map[string]string{"kubernetes.io/hostname": "x"}
		},
			[]string{`cluster.kubernetes.kubelet.nodeLabels["kubernetes.io/hostname"]`}, "namespace, which is reserved"},
		{"k8s.io subdomain label", func(c *Config) { c.Cluster.Kubernetes.Kubelet.NodeLabels = map[string]string{"foo.k8s.io/bar": "x"} },
			[]string{`cluster.kubernetes.kubelet.nodeLabels["foo.k8s.io/bar"]`}, "namespace, which is reserved"},
		{"service CIDR too small", func(c *Config) { c.Cluster.Network.ServiceCIDR = "10.96.0.0/29" }, []string{"cluster.network.serviceCIDR"}, "kubernetes service's IP (the first) and the cluster DNS service's (the tenth), so its prefix length must be at most /28"},
		{"service CIDR too large", func(c *Config) { c.Cluster.Network.ServiceCIDR = "10.96.0.0/11" }, []string{"cluster.network.serviceCIDR"}, "at least /12"},
		{"IPv6 service CIDR too small", func(c *Config) { c.Cluster.Network.ServiceCIDR = "fd00:96::/125" }, []string{"cluster.network.serviceCIDR"}, "at most /124"},
		{"pod CIDR too small", func(c *Config) { c.Cluster.Network.PodCIDR = "10.244.0.0/25" }, []string{"cluster.network.podCIDR"}, "must be /8 to /24: every node gets a /24 from it"},
		{"pod CIDR too large", func(c *Config) { c.Cluster.Network.PodCIDR = "12.0.0.0/7" }, []string{"cluster.network.podCIDR"}, "must be /8 to /24"},
		{"IPv6 pod CIDR too large", func(c *Config) { c.Cluster.Network.PodCIDR = "fd00::/32" }, []string{"cluster.network.podCIDR"}, "must be /48 to /64: every node gets a /64"},
		{"node network overlaps the pod and service CIDRs", func(c *Config) { c.Nodes[1].Network.Addresses[0].CIDR = "10.5.0.3/8" },
			[]string{"cluster.network.podCIDR", "cluster.network.serviceCIDR"}, "10.244.0.0/16 overlaps the network 10.0.0.0/8 of node cp2 (nodes[1].network.addresses[0].cidr)"},
		{"node endpoint inside the service CIDR", func(c *Config) { c.Nodes[0].APIAddress = "10.96.0.5:6440" },
			[]string{"cluster.network.serviceCIDR"}, "10.96.0.0/12 contains 10.96.0.5, the address of node cp1 (nodes[0].apiAddress)"},
		{"node endpoint inside the pod CIDR", func(c *Config) { c.Nodes[3].GossipAddress = "10.244.3.4:6441" },
			[]string{"cluster.network.podCIDR"}, "contains 10.244.3.4, the address of node worker1 (nodes[3].gossipAddress)"},
		{"missing Kubernetes CA", func(c *Config) { c.Secrets.KubernetesCA = CertKeyPair{} }, []string{"secrets.kubernetesCA.crt", "secrets.kubernetesCA.key"},
			"is required ('cairnctl gen config' generates it; a config from before it existed gets one from 'cairnctl gen config --with-secrets FILE'; or set cluster.kubernetes.disabled)"},
		{"missing front-proxy CA", func(c *Config) { c.Secrets.FrontProxyCA = CertKeyPair{} }, []string{"secrets.frontProxyCA.crt", "secrets.frontProxyCA.key"}, "is required"},
		{"Kubernetes CA not a CA", func(c *Config) { c.Secrets.KubernetesCA = leafOf(t, c.Secrets.KubernetesCA) }, []string{"secrets.kubernetesCA.crt"}, "not a CA certificate"},
		{"front-proxy CA key mismatch", func(c *Config) { c.Secrets.FrontProxyCA.Key = anotherCA(t).Key }, []string{"secrets.frontProxyCA.key"}, "does not belong"},
		{"Kubernetes CA is the cluster CA", func(c *Config) { c.Secrets.KubernetesCA = c.Secrets.CA }, []string{"secrets.kubernetesCA.crt"}, "has the same key as secrets.ca.crt: Kubernetes needs a CA of its own"},
		{"Kubernetes CA is the etcd CA", func(c *Config) { c.Secrets.KubernetesCA = c.Secrets.EtcdCA }, []string{"secrets.kubernetesCA.crt"}, "has the same key as secrets.etcdCA.crt"},
		{"front-proxy CA is the Kubernetes CA", func(c *Config) { c.Secrets.FrontProxyCA = c.Secrets.KubernetesCA }, []string{"secrets.frontProxyCA.crt"}, "has the same key as secrets.kubernetesCA.crt: the front proxy needs a CA of its own"},
		{"missing service account key", func(c *Config) { c.Secrets.ServiceAccountKey = "" }, []string{"secrets.serviceAccountKey"}, "is required ('cairnctl gen config' generates it"},
		{"redacted service account key", func(c *Config) { c.Secrets.ServiceAccountKey = Redacted }, []string{"secrets.serviceAccountKey"}, "is redacted"},
		{"service account key does not parse", func(c *Config) { c.Secrets.ServiceAccountKey = "junk" }, []string{"secrets.serviceAccountKey"}, "does not parse as a PEM private key"},
		{"service account key RSA too short", func(c *Config) { c.Secrets.ServiceAccountKey = rsaKeyPEM(t, 1024) }, []string{"secrets.serviceAccountKey"}, "RSA key of 1024 bits; it must have at least 2048"},
		{"service account key ed25519", func(c *Config) { c.Secrets.ServiceAccountKey = ed25519KeyPEM(t) }, []string{"secrets.serviceAccountKey"}, "neither an ECDSA nor an RSA key"},
		{"missing gossip key", func(c *Config) { c.Secrets.GossipKey = "" }, []string{"secrets.gossipKey"}, "is required"},
		{"gossip key not 32 bytes", func(c *Config) { c.Secrets.GossipKey = "AAAAAAAAAAAAAAAAAAAAAA==" }, []string{"secrets.gossipKey"}, "decodes to 16 bytes"},
		{"gossip key not base64", func(c *Config) { c.Secrets.GossipKey = "not base64!" }, []string{"secrets.gossipKey"}, "not valid standard base64"},
		{"missing join token", func(c *Config) { c.Secrets.JoinToken = "" }, []string{"secrets.joinToken"}, "is required"},
		{"malformed join token", func(c *Config) { c.Secrets.JoinToken = "ABCDEF.0123456789abcdef" }, []string{"secrets.joinToken"}, "must look like"},
		{"redacted join token", func(c *Config) { c.Secrets.JoinToken = Redacted }, []string{"secrets.joinToken"}, "is redacted"},
		{"missing CA", func(c *Config) { c.Secrets.CA = CertKeyPair{} }, []string{"secrets.ca.crt", "secrets.ca.key"}, "is required"},
		{"CA cert does not parse", func(c *Config) { c.Secrets.CA.Crt = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, []string{"secrets.ca.crt"}, "does not parse"},
		{"CA key does not parse", func(c *Config) { c.Secrets.CA.Key = "junk" }, []string{"secrets.ca.key"}, "does not parse"},
		{"CA cert and key mismatch", func(c *Config) { c.Secrets.CA.Key = anotherCA(t).Key }, []string{"secrets.ca.key"}, "does not belong"},
		{"missing etcd CA", func(c *Config) { c.Secrets.EtcdCA = CertKeyPair{} }, []string{"secrets.etcdCA.crt", "secrets.etcdCA.key"}, "is required (add a new one with 'cairnctl gen etcd-ca FILE'"},
		{"etcd CA cert does not parse", func(c *Config) {
			c.Secrets.EtcdCA.Crt = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}, []string{"secrets.etcdCA.crt"}, "does not parse"},
		{"etcd CA key does not parse", func(c *Config) { c.Secrets.EtcdCA.Key = "junk" }, []string{"secrets.etcdCA.key"}, "does not parse"},
		{"etcd CA key redacted", func(c *Config) { c.Secrets.EtcdCA.Key = Redacted }, []string{"secrets.etcdCA.key"}, "is redacted"},
		{"etcd CA cert and key mismatch", func(c *Config) { c.Secrets.EtcdCA.Key = anotherCA(t).Key }, []string{"secrets.etcdCA.key"}, "does not belong"},
		{"etcd CA not a CA", func(c *Config) { c.Secrets.EtcdCA = leafOf(t, c.Secrets.EtcdCA) }, []string{"secrets.etcdCA.crt"}, "not a CA certificate"},
		{"etcd CA is the cluster CA", func(c *Config) { c.Secrets.EtcdCA = c.Secrets.CA }, []string{"secrets.etcdCA.crt"}, "has the same key as secrets.ca.crt: etcd needs a CA of its own, so that certificates from the cluster CA cannot reach etcd (delete secrets.etcdCA and add a new one with 'cairnctl gen etcd-ca FILE'"},
		{"no nodes", func(c *Config) { c.Nodes = nil }, []string{"cluster.controlPlane.expect", "nodes"}, "only 0 controlplane"},
		{"duplicate node name", func(c *Config) { c.Nodes[1].Name = "cp1" }, []string{"nodes[1].name"}, "duplicate node name cp1 (also nodes[0].name)"},
		{"node name not DNS-1123", func(c *Config) { c.Nodes[1].Name = "CP-2" }, []string{"nodes[1].name"}, "DNS-1123"},
		{"unknown role", func(c *Config) { c.Cluster.ControlPlane.Expect = 1; c.Nodes[2].Role = "master" }, []string{"nodes[2].role"}, `"master" is not a role`},
		{"missing role", func(c *Config) { c.Nodes[4].Role = "" }, []string{"nodes[4].role"}, "is required"},
		{"raftAddress on a worker", func(c *Config) { c.Nodes[3].RaftAddress = "10.5.0.5:6442" }, []string{"nodes[3].raftAddress"}, "only allowed on controlplane"},
		{"apiAddress without port", func(c *Config) { c.Nodes[0].APIAddress = "10.5.0.2" }, []string{"nodes[0].apiAddress"}, "not host:port"},
		{"apiAddress port out of range", func(c *Config) { c.Nodes[0].APIAddress = "10.5.0.2:70000" }, []string{"nodes[0].apiAddress"}, "port must be"},
		{"gossipAddress unspecified", func(c *Config) { c.Nodes[0].GossipAddress = "0.0.0.0:6441" }, []string{"nodes[0].gossipAddress"}, "cannot be unspecified"},
		{"raftAddress bad host", func(c *Config) { c.Nodes[0].RaftAddress = "bad_host:6442" }, []string{"nodes[0].raftAddress"}, "neither an IP address nor a DNS name"},
		{"endpoint collides with a derived one", func(c *Config) { c.Nodes[1].APIAddress = "10.5.0.2:6440" }, []string{"nodes[1].apiAddress"}, "duplicate address 10.5.0.2:6440 (also nodes[0].apiAddress)"},
		{"no address to derive endpoints from", func(c *Config) { c.Nodes[3].Network = NodeNetwork{} }, []string{"nodes[3].apiAddress", "nodes[3].gossipAddress"}, "required when network.addresses is empty"},
		{"bad match MAC", func(c *Config) { c.Nodes[0].Match.MAC = "52:54:00" }, []string{"nodes[0].match.mac"}, "not a MAC"},
		{"duplicate match MAC", func(c *Config) {
			c.Nodes[0].Match.MAC = "52:54:00:12:34:56"
			c.Nodes[2].Match.MAC = "52-54-00-12-34-56"
		}, []string{"nodes[2].match.mac"}, "duplicate match MAC 52:54:00:12:34:56 (also nodes[0].match.mac)"},
		{"match name selects another node", func(c *Config) { c.Nodes[2].Match.Name = "cp1" }, []string{"nodes[2].match.name"}, "duplicate match name cp1 (also nodes[0].name)"},
		{"bad hostname", func(c *Config) { c.Nodes[0].Network.Hostname = "-cp1" }, []string{"nodes[0].network.hostname"}, "subdomain"},
		{"hostname taken by another node's name", func(c *Config) { c.Nodes[1].Network.Hostname = "cp1" }, []string{"nodes[1].network.hostname"}, "duplicate hostname cp1"},
		{"empty link name", func(c *Config) { c.Nodes[0].Network.Links = append(c.Nodes[0].Network.Links, Link{}) }, []string{"nodes[0].network.links[1].name"}, "is required"},
		{"duplicate link", func(c *Config) { c.Nodes[0].Network.Links = append(c.Nodes[0].Network.Links, Link{Name: "eth0"}) }, []string{"nodes[0].network.links[1].name"}, "duplicate link eth0"},
		{"link name too long", func(c *Config) {
			c.Nodes[0].Network.Links = append(c.Nodes[0].Network.Links, Link{Name: "averyveryverylongname"})
		}, []string{"nodes[0].network.links[1].name"}, "not a valid interface name"},
		{"MTU too small", func(c *Config) { c.Nodes[1].Network.Links[0].MTU = 67 }, []string{"nodes[1].network.links[0].mtu"}, "out of range 68..65535"},
		{"MTU too large", func(c *Config) { c.Nodes[1].Network.Links[0].MTU = 65536 }, []string{"nodes[1].network.links[0].mtu"}, "out of range"},
		{"bad address CIDR", func(c *Config) { c.Nodes[1].Network.Addresses[0].CIDR = "10.5.0.300/24" }, []string{"nodes[1].network.addresses[0].cidr"}, "not an address with prefix length"},
		{"address without prefix length", func(c *Config) { c.Nodes[1].Network.Addresses[0].CIDR = "10.5.0.3" }, []string{"nodes[1].network.addresses[0].cidr"}, "not an address with prefix length"},
		{"duplicate address across nodes", func(c *Config) {
			c.Nodes[1].Network.Addresses = append(c.Nodes[1].Network.Addresses, Address{Link: "eth0", CIDR: "10.5.0.2/24"})
		}, []string{"nodes[1].network.addresses[1].cidr"}, "duplicate address 10.5.0.2 (also nodes[0].network.addresses[0].cidr)"},
		{"address inside pod CIDR", func(c *Config) {
			c.Nodes[1].Network.Addresses = append(c.Nodes[1].Network.Addresses, Address{Link: "eth0", CIDR: "10.244.1.1/24"})
		}, []string{"nodes[1].network.addresses[1].cidr"}, "inside cluster.network.podCIDR"},
		{"address on undeclared link", func(c *Config) {
			c.Nodes[1].Network.Addresses = append(c.Nodes[1].Network.Addresses, Address{Link: "eth1", CIDR: "10.9.0.2/24"})
		}, []string{"nodes[1].network.addresses[1].link"}, `refers to link "eth1"`},
		{"route on undeclared link", func(c *Config) { c.Nodes[2].Network.Routes[0].Link = "eth1" }, []string{"nodes[2].network.routes[0].link"}, "not declared"},
		{"route dst not a prefix", func(c *Config) { c.Nodes[2].Network.Routes[0].Dst = "default" }, []string{"nodes[2].network.routes[0].dst"}, "not a CIDR"},
		{"route dst host bits", func(c *Config) { c.Nodes[2].Network.Routes[0].Dst = "10.9.0.1/16" }, []string{"nodes[2].network.routes[0].dst"}, "host bits"},
		{"bad gateway", func(c *Config) { c.Nodes[2].Network.Routes[0].Gateway = "10.5.0.256" }, []string{"nodes[2].network.routes[0].gateway"}, "not an IP address"},
		{"gateway of another family", func(c *Config) { c.Nodes[2].Network.Routes[0].Gateway = "fd00::1" }, []string{"nodes[2].network.routes[0].gateway"}, "same address family"},
		{"gateway unreachable", func(c *Config) { c.Nodes[2].Network.Routes[0].Gateway = "10.6.0.1" }, []string{"nodes[2].network.routes[0].gateway"}, "not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fixture(t)
			tt.mutate(c)
			err := c.Validate()
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalid)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.want, ve.Fields(), "violations: %v", ve.Violations)
			assert.Contains(t, ve.Violations[0].Message, tt.msg)
		})
	}
}

// TestValidateReportsEverything checks that problems do not hide each other
// and that the order is stable and numeric on list indexes.
func TestValidateReportsEverything(t *testing.T) {
	c := fixture(t)
	for i := range 8 { // 13 nodes, so nodes[10] exists
		n := c.Nodes[3]
		n.Name = "extra" + string(rune('a'+i))
		n.Network.Addresses = []Address{{Link: "eth0", CIDR: fmt.Sprintf("10.5.0.%d/24", 20+i)}}
		n.Network.Links = []Link{{Name: "eth0"}}
		n.Network.Routes = nil
		c.Nodes = append(c.Nodes, n)
	}
	require.NoError(t, c.Validate())

	c.Kind = "Other"
	c.Secrets.GossipKey = ""
	c.Nodes[10].Network.Links[0].MTU = 1
	c.Nodes[2].Network.Routes[0].Gateway = "10.6.0.1"
	c.Cluster.Name = ""
	want := []string{
		"cluster.name",
		"kind",
		"nodes[2].network.routes[0].gateway",
		"nodes[10].network.links[0].mtu",
		"secrets.gossipKey",
	}
	var ve *ValidationError
	for range 3 {
		require.ErrorAs(t, c.Validate(), &ve)
		assert.Equal(t, want, ve.Fields())
	}
	assert.Contains(t, ve.Error(), "nodes[10].network.links[0].mtu: 1 is out of range")
}

func TestWarningsEvenExpect(t *testing.T) {
	c := fixture(t)
	c.Cluster.ControlPlane.Expect = 2
	require.NoError(t, c.Validate(), "an even expect is legal")
	w := c.Warnings()
	require.Len(t, w, 1)
	assert.Equal(t, "cluster.controlPlane.expect", w[0].Field)
}

func TestValidateIPv6(t *testing.T) {
	c := fixture(t)
	n := &c.Nodes[0]
	n.Network.Addresses = append(n.Network.Addresses, Address{Link: "eth0", CIDR: "fd00:5::2/64"})
	n.Network.Routes = append(n.Network.Routes,
		Route{Link: "eth0", Dst: "::/0", Gateway: "fe80::1"},
		Route{Link: "eth0", Dst: "fd00:6::/64", Gateway: "fd00:5::1"},
	)
	n.APIAddress = "[fd00:5::2]:6440"
	require.NoError(t, c.Validate())
}

// TestValidateNeverEchoesSecrets checks that messages about bad secrets do not
// quote them, because validation errors are returned to API clients and logged.
func TestValidateNeverEchoesSecrets(t *testing.T) {
	c := fixture(t)
	c.Secrets.GossipKey = "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0"
	c.Secrets.JoinToken = "SECRET.TOKENVALUE0000000"
	c.Secrets.CA.Key = anotherCA(t).Key
	err := c.Validate()
	require.Error(t, err)
	for _, s := range []string{c.Secrets.GossipKey, c.Secrets.JoinToken, "SECRET", "TOKENVALUE"} {
		assert.NotContains(t, err.Error(), s)
	}
	assertNoKeyMaterial(t, err.Error(), anotherCA(t).Key)

	// The etcd CA's key: mismatched, and the same pair as the cluster CA.
	c = fixture(t)
	etcdKey := c.Secrets.EtcdCA.Key
	c.Secrets.CA.Key = etcdKey
	err = c.Validate()
	require.Error(t, err)
	assertNoKeyMaterial(t, err.Error(), etcdKey)
	c = fixture(t)
	c.Secrets.EtcdCA = c.Secrets.CA
	err = c.Validate()
	require.Error(t, err)
	assertNoKeyMaterial(t, err.Error(), c.Secrets.CA.Key)

	// The Kubernetes CAs and the service account key.
	c = fixture(t)
	kubeKey, saKey := c.Secrets.KubernetesCA.Key, c.Secrets.ServiceAccountKey
	c.Secrets.FrontProxyCA = c.Secrets.KubernetesCA
	c.Secrets.CA.Key = kubeKey
	c.Secrets.ServiceAccountKey = saKey[:len(saKey)/2]
	err = c.Validate()
	require.Error(t, err)
	assertNoKeyMaterial(t, err.Error(), kubeKey)
	assertNoKeyMaterial(t, err.Error(), saKey)
}

// leafOf returns a client certificate issued by ca: a valid pair that is not
// a CA.
func leafOf(t *testing.T, ca CertKeyPair) CertKeyPair {
	t.Helper()
	leaf, err := GenerateAdminClientCert(ca, "leaf", []string{APIRoleAdmin}, time.Hour)
	require.NoError(t, err)
	return leaf
}

// A valid Kubernetes section, and Kubernetes' ranges and keys of the
// other kinds, pass.
func TestValidateKubernetesSettings(t *testing.T) {
	c := fixture(t)
	k := &c.Cluster.Kubernetes
	k.Endpoint = "https://k8s.example.com:6443"
	k.CertSANs = []string{"k8s.example.com", "192.0.2.10", "fd00::10"}
	k.APIServer.ExtraArgs = map[string]string{"v": "2", "audit-log-maxage": "30"}
	k.ControllerManager.ExtraArgs = map[string]string{"terminated-pod-gc-threshold": "100"}
	k.Scheduler.ExtraArgs = map[string]string{"v": "3"}
	k.Proxy.ExtraArgs = map[string]string{"proxy-mode": "nftables"}
	k.Kubelet = Kubelet{
		ExtraArgs: map[string]string{"feature-gates": "A=true,B=false"},
		MaxPods:   250,
		NodeLabels: map[string]string{
			"rack": "r1", "example.com/tier": "", "topology.kubernetes.io/zone": "zone-a",
			"node.kubernetes.io/exclude-from-external-load-balancers": "true", "team.kubelet.kubernetes.io/x": "y",
		},
	}
	require.NoError(t, c.Validate())

	for _, ep := range []string{"https://10.5.0.2:6443", "https://[fd00::2]:6443/", "https://K8S.example.com:443"} {
		k.Endpoint = ep
		assert.NoError(t, c.Validate(), ep)
	}

	c.Cluster.Network.PodCIDR, c.Cluster.Network.ServiceCIDR = "fd00:244::/56", "fd00:96::/112"
	c.Secrets.ServiceAccountKey = rsaKeyPEM(t, 2048)
	require.NoError(t, c.Validate())
	c.Cluster.Network.PodCIDR, c.Cluster.Network.ServiceCIDR = "11.0.0.0/8", "192.168.0.0/28"
	require.NoError(t, c.Validate(), "the largest pod and the smallest service range")
}

// With Kubernetes disabled its secrets are optional, but checked when given.
func TestValidateKubernetesDisabled(t *testing.T) {
	c := fixture(t)
	c.Cluster.Kubernetes.Disabled = true
	require.NoError(t, c.Validate())
	c.Secrets.KubernetesCA, c.Secrets.FrontProxyCA, c.Secrets.ServiceAccountKey = CertKeyPair{}, CertKeyPair{}, ""
	require.NoError(t, c.Validate(), "no Kubernetes secrets are needed")

	c.Secrets.ServiceAccountKey = "junk"
	c.Secrets.FrontProxyCA = c.Secrets.CA
	var ve *ValidationError
	require.ErrorAs(t, c.Validate(), &ve)
	assert.Equal(t, []string{"secrets.frontProxyCA.crt", "secrets.serviceAccountKey"}, ve.Fields())
}

// rsaKeyPEM returns a new RSA private key of bits as PKCS#1 PEM.
func rsaKeyPEM(t *testing.T, bits int) string {
	t.Helper()
	key, err := rsa.GenerateKey(cryptorand.Reader, bits)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}

// ed25519KeyPEM returns a new Ed25519 private key as PKCS#8 PEM.
func ed25519KeyPEM(t *testing.T) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(cryptorand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestComparePaths(t *testing.T) {
	paths := []string{"nodes[10].name", "nodes[2].network.routes[0].dst", "nodes[2].name", "cluster.name", "nodes", "nodes[1].network.addresses[12].cidr", "nodes[1].network.addresses[3].cidr"}
	want := []string{"cluster.name", "nodes", "nodes[1].network.addresses[3].cidr", "nodes[1].network.addresses[12].cidr", "nodes[2].name", "nodes[2].network.routes[0].dst", "nodes[10].name"}
	for range 5 {
		rand.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
		var vs violations
		for _, p := range paths {
			vs.add(fieldPath(p), "x")
		}
		got := (&ValidationError{Violations: vs.sorted()}).Fields()
		assert.Equal(t, want, got)
	}
}

func TestValidationErrorUnwrap(t *testing.T) {
	err := violations{{Field: "a", Message: "b"}}.asError(ErrUnknownField)
	assert.ErrorIs(t, err, ErrUnknownField)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.NotErrorIs(t, err, ErrSyntax)
	assert.False(t, errors.Is(violations{}.asError(ErrInvalid), ErrInvalid), "no violations is no error")
	assert.True(t, strings.HasPrefix(err.Error(), "invalid cluster config: unknown field: a: b"))
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"4096": 4096, "4096B": 4096, "1KiB": 1024, "1.5GiB": 3 << 29, "20GB": 20e9, "512MiB": 512 << 20, "1TiB": 1 << 40,
	} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "GiB", "-1GiB", "1XB", "NaN"} {
		_, err := ParseSize(bad)
		assert.Error(t, err, bad)
	}
}

func TestCertSANsJoinTheCertificateNames(t *testing.T) {
	c := fixture(t)
	n := &c.Nodes[0]
	n.CertSANs = []string{"127.0.10.2", "CP1.Example.Test", "127.0.10.2"}
	ips := n.CertIPs()
	assert.True(t, ips[len(ips)-1].Equal(net.ParseIP("127.0.10.2")), "%v", ips)
	assert.Len(t, ips, len(n.EndpointIPs())+1, "the repeated SAN counts once")
	assert.Equal(t, []string{n.Name, "cp1.example.test"}, n.CertDNSNames())
}

// Names as sysctl(8) takes them are valid, including a '/' that stands
// for a '.' in an interface name.
func TestValidateSysctlNames(t *testing.T) {
	c := fixture(t)
	c.Nodes[0].Kernel.Sysctls = map[string]string{
		"net.ipv4.ip_forward": "1", "net.ipv4.conf.eth0/100.forwarding": "1",
		"net.ipv4.tcp_rmem": "4096 131072 6291456", "net.ipv6.conf.br-lan@1.disable_ipv6": "1",
	}
	require.NoError(t, c.Validate())
}
