package kube

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
)

func testInputs(t *testing.T) (Layout, Inputs) {
	t.Helper()
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "kt", ControlPlanes: 3, Workers: 1, LoopbackSubnet: 77})
	require.NoError(t, err)
	n := &cfg.Nodes[1]
	return Layout{Dir: filepath.Join(t.TempDir(), "kubernetes")},
		Inputs{Config: cfg, Node: n, IP: "127.0.77.2", Secrets: cfg.Secrets, Now: time.Now()}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	b, _ := pem.Decode(raw)
	require.NotNil(t, b, path)
	c, err := x509.ParseCertificate(b.Bytes)
	require.NoError(t, err)
	return c
}

// TestWriteControlPlaneFiles: every file the components read is written,
// keys private, the certificates for the right names; a second call with
// nothing changed writes nothing, and a node address change reissues the
// apiserver's certificate only.
func TestWriteControlPlaneFiles(t *testing.T) {
	l, in := testInputs(t)
	changed, err := WriteControlPlaneFiles(l, in)
	require.NoError(t, err)
	assert.True(t, changed)
	for _, f := range []string{"ca.crt", "ca.key", "front-proxy-ca.crt", "etcd-ca.crt", "sa.key", "sa.pub",
		"apiserver.crt", "apiserver-kubelet-client.crt", "front-proxy-client.crt", "apiserver-etcd-client.crt",
		"controller-manager.crt", "controller-manager-serving.crt", "scheduler.crt", "scheduler-serving.crt"} {
		assert.FileExists(t, l.File(f))
		if key := strings.TrimSuffix(f, ".crt") + ".key"; strings.HasSuffix(f, ".crt") && f != "ca.crt" && f != "front-proxy-ca.crt" && f != "etcd-ca.crt" {
			st, err := os.Stat(l.File(key))
			require.NoError(t, err, key)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), key)
		}
	}
	api := readCert(t, l.File("apiserver.crt"))
	assert.Contains(t, api.DNSNames, "kubernetes.default.svc.cluster.local")
	assert.Contains(t, api.DNSNames, "cp2")
	var ips []string
	for _, ip := range api.IPAddresses {
		ips = append(ips, ip.String())
	}
	assert.Contains(t, ips, "127.0.77.2", "its own address")
	assert.Contains(t, ips, "127.0.77.1", "every control plane's")
	assert.Contains(t, ips, "10.96.0.1", "the kubernetes service's")
	etcdClient := readCert(t, l.File("apiserver-etcd-client.crt"))
	assert.Equal(t, pki.EtcdClientAPIServer, etcdClient.Subject.CommonName)
	cm := readCert(t, l.File("controller-manager.crt"))
	assert.Equal(t, pki.KubeControllerManagerUser, cm.Subject.CommonName)
	kubeletClient := readCert(t, l.File("apiserver-kubelet-client.crt"))
	assert.Equal(t, []string{pki.KubeAdminGroup}, kubeletClient.Subject.Organization)

	var kc struct {
		Clusters []struct {
			Cluster map[string]string `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			Name string            `json:"name"`
			User map[string]string `json:"user"`
		} `json:"users"`
	}
	raw, err := os.ReadFile(l.Kubeconfig(Scheduler))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &kc))
	assert.Equal(t, "https://127.0.77.2:6443", kc.Clusters[0].Cluster["server"], "the local apiserver")
	assert.Equal(t, l.File("scheduler.crt"), kc.Users[0].User["client-certificate"])

	changed, err = WriteControlPlaneFiles(l, in)
	require.NoError(t, err)
	assert.False(t, changed, "nothing to do the second time")

	before := readCert(t, l.File("scheduler.crt")).SerialNumber
	in.Node.APIAddress = "127.0.77.99:6440"
	in.Node.GossipAddress = "127.0.77.99:6441"
	in.Node.RaftAddress = "127.0.77.99:6442"
	changed, err = WriteControlPlaneFiles(l, in)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, before, readCert(t, l.File("scheduler.crt")).SerialNumber, "a client certificate names no address")

	in.Now = time.Now().Add(300 * 24 * time.Hour)
	changed, err = WriteControlPlaneFiles(l, in)
	require.NoError(t, err)
	assert.True(t, changed, "certificates past two thirds of their life are issued again")
	assert.NotEqual(t, before, readCert(t, l.File("scheduler.crt")).SerialNumber)
}

func TestWriteControlPlaneFilesNeedsTheSecrets(t *testing.T) {
	l, in := testInputs(t)
	in.Secrets.ServiceAccountKey = ""
	_, err := WriteControlPlaneFiles(l, in)
	assert.ErrorIs(t, err, ErrMissingSecret)
	assert.Contains(t, err.Error(), "secrets.serviceAccountKey")
}

// TestComponents: the command lines follow the config — extra arguments
// are added or replace Cairn's where they may — and are sorted, so the
// same config renders the same services.
func TestComponents(t *testing.T) {
	l, in := testInputs(t)
	in.Config.Cluster.Kubernetes.APIServer.ExtraArgs = map[string]string{"audit-log-maxage": "3", "authorization-mode": "RBAC"}
	cp := ControlPlane{Layout: l, BinDir: "/opt/k8s", EtcdURL: "https://127.0.77.2:2379", Inputs: in}
	comps, err := cp.Components()
	require.NoError(t, err)
	require.Len(t, comps, 3)
	byName := map[string]Component{}
	for _, c := range comps {
		byName[c.Name] = c
		assert.True(t, slices.IsSorted(c.Args), c.Name)
		assert.Equal(t, filepath.Join("/opt/k8s", c.Name), c.Path)
	}
	api := byName[APIServer]
	assert.Contains(t, api.Args, "--etcd-servers=https://127.0.77.2:2379")
	assert.Contains(t, api.Args, "--bind-address=127.0.77.2")
	assert.Contains(t, api.Args, "--service-cluster-ip-range="+in.Config.Cluster.Network.ServiceCIDR)
	assert.Contains(t, api.Args, "--audit-log-maxage=3")
	assert.Contains(t, api.Args, "--authorization-mode=RBAC", "an extra argument replaces Cairn's default")
	assert.NotContains(t, api.Args, "--authorization-mode=Node,RBAC")
	assert.Equal(t, "https://127.0.77.2:6443/readyz", api.HealthURL)
	assert.Contains(t, api.Args, "--endpoint-reconciler-type=none", "a loopback address cannot be the kubernetes Service's endpoint")
	cm := byName[ControllerManager]
	assert.Contains(t, cm.Args, "--leader-elect=true")
	assert.Contains(t, cm.Args, "--cluster-cidr="+in.Config.Cluster.Network.PodCIDR)
	assert.Contains(t, cm.Args, "--kubeconfig="+l.Kubeconfig(ControllerManager))
	assert.Equal(t, "https://127.0.77.2:10257/healthz", cm.HealthURL)
	assert.Contains(t, byName[Scheduler].Args, "--leader-elect=true")

	again, err := cp.Components()
	require.NoError(t, err)
	assert.Equal(t, comps, again)

	cp.IP = "not-an-ip"
	_, err = cp.Components()
	assert.ErrorIs(t, err, ErrBadInputs)
}

// TestVersionIsTheBuildModules: Version names the k8s.io/kubernetes the
// kube binary is built from.
func TestVersionIsTheBuildModules(t *testing.T) {
	raw, err := os.ReadFile("../../../tools/kube/go.mod")
	require.NoError(t, err)
	assert.Contains(t, string(raw), "k8s.io/kubernetes v"+Version+"\n")
	assert.True(t, SameVersion("v"+Version))
	assert.True(t, SameVersion(Version))
	assert.False(t, SameVersion("1.36.0"))
}
