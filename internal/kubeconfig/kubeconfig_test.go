package kubeconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// testPKI is a CA and a client certificate it signed, in PEM.
type testPKI struct {
	ca, cert, key []byte
}

// newPKI makes a fresh CA and an admin client certificate of its.
func newPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return testPKI{
		ca:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

func (p testPKI) params(cluster, server string) Params {
	return Params{Cluster: cluster, Server: server, CA: p.ca, Cert: p.cert, Key: p.key}
}

func build(t *testing.T, p Params) []byte {
	t.Helper()
	out, err := Build(p)
	require.NoError(t, err)
	return out
}

func load(t *testing.T, data []byte) *clientcmdapi.Config {
	t.Helper()
	cfg, err := clientcmd.Load(data)
	require.NoError(t, err)
	return cfg
}

func TestBuildIsAKubeconfigClientGoUses(t *testing.T) {
	p := newPKI(t)

	out := build(t, p.params("demo", "https://10.5.0.2:6443"))

	cfg := load(t, out)
	require.Len(t, cfg.Clusters, 1)
	require.Len(t, cfg.AuthInfos, 1)
	require.Len(t, cfg.Contexts, 1)
	assert.Equal(t, "admin@demo", cfg.CurrentContext)
	cluster := cfg.Clusters["demo"]
	require.NotNil(t, cluster)
	assert.Equal(t, "https://10.5.0.2:6443", cluster.Server)
	assert.Equal(t, p.ca, cluster.CertificateAuthorityData)
	user := cfg.AuthInfos["admin@demo"]
	require.NotNil(t, user)
	assert.Equal(t, p.cert, user.ClientCertificateData)
	assert.Equal(t, p.key, user.ClientKeyData)
	kctx := cfg.Contexts["admin@demo"]
	require.NotNil(t, kctx)
	assert.Equal(t, clientcmdapi.Context{Cluster: "demo", AuthInfo: "admin@demo", Namespace: "default", Extensions: kctx.Extensions}, *kctx)

	// The data is embedded: the file stands alone, as kubectl writes it.
	assert.Contains(t, string(out), "certificate-authority-data: ")
	assert.Contains(t, string(out), "client-certificate-data: ")
	assert.Contains(t, string(out), "client-key-data: ")
	rest, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	require.NoError(t, err)
	assert.Equal(t, "https://10.5.0.2:6443", rest.Host)
	assert.Equal(t, p.ca, rest.CAData)
	assert.Equal(t, p.cert, rest.CertData)
	assert.Equal(t, p.key, rest.KeyData)
}

func TestBuildRefusesWhatCannotWork(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t)
	for name, params := range map[string]Params{
		"no cluster name":   p.params("", "https://10.5.0.2:6443"),
		"http":              p.params("demo", "http://10.5.0.2:6443"),
		"no host":           p.params("demo", "https:///x"),
		"not a URL":         p.params("demo", "10.5.0.2:6443"),
		"no CA":             {Cluster: "demo", Server: "https://10.5.0.2:6443", Cert: p.cert, Key: p.key},
		"CA not PEM":        {Cluster: "demo", Server: "https://10.5.0.2:6443", CA: []byte("nope"), Cert: p.cert, Key: p.key},
		"key of another":    {Cluster: "demo", Server: "https://10.5.0.2:6443", CA: p.ca, Cert: p.cert, Key: other.key},
		"no client cert":    {Cluster: "demo", Server: "https://10.5.0.2:6443", CA: p.ca, Key: p.key},
		"cert and key same": {Cluster: "demo", Server: "https://10.5.0.2:6443", CA: p.ca, Cert: p.cert, Key: p.cert},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Build(params)
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

func TestMergeIntoNothingIsTheKubeconfigItself(t *testing.T) {
	add := build(t, newPKI(t).params("demo", "https://10.5.0.2:6443"))

	merged, renamed, err := Merge(nil, add, false)

	require.NoError(t, err)
	assert.Empty(t, renamed)
	assert.Equal(t, load(t, add), load(t, merged))
}

// existingConfig is a user's kubeconfig with another cluster, preferences
// and an extension, pointing at the other cluster.
const existingConfig = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    insecure-skip-tls-verify: true
users:
- name: alice
  user:
    token: secret-token
contexts:
- name: alice@prod
  context:
    cluster: prod
    user: alice
    namespace: web
current-context: alice@prod
preferences:
  colors: true
`

func TestMergeKeepsTheOtherEntriesAndSwitchesContext(t *testing.T) {
	add := build(t, newPKI(t).params("demo", "https://10.5.0.2:6443"))

	merged, renamed, err := Merge([]byte(existingConfig), add, false)

	require.NoError(t, err)
	assert.Empty(t, renamed)
	before, after, added := load(t, []byte(existingConfig)), load(t, merged), load(t, add)
	assert.Equal(t, "admin@demo", after.CurrentContext)
	assert.Equal(t, before.Clusters["prod"], after.Clusters["prod"])
	assert.Equal(t, before.AuthInfos["alice"], after.AuthInfos["alice"])
	assert.Equal(t, before.Contexts["alice@prod"], after.Contexts["alice@prod"])
	assert.True(t, after.Preferences.Colors, "preferences are kept")
	assert.Equal(t, added.Clusters["demo"], after.Clusters["demo"])
	assert.Equal(t, added.AuthInfos["admin@demo"], after.AuthInfos["admin@demo"])
	assert.Equal(t, added.Contexts["admin@demo"], after.Contexts["admin@demo"])
	assert.Len(t, after.Clusters, 2)
	assert.Len(t, after.AuthInfos, 2)
	assert.Len(t, after.Contexts, 2)
}

func TestMergeRenamesWhatClashesUnlessForced(t *testing.T) {
	first := build(t, newPKI(t).params("demo", "https://10.5.0.2:6443"))
	existing, _, err := Merge([]byte(existingConfig), first, false)
	require.NoError(t, err)
	// A rebuilt cluster of the same name: new CA, new certificate.
	second := build(t, newPKI(t).params("demo", "https://10.5.0.3:6443"))

	merged, renamed, err := Merge(existing, second, false)

	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"cluster/demo": "demo-1", "user/admin@demo": "admin@demo-1", "context/admin@demo": "admin@demo-1",
	}, renamed)
	before, after, added := load(t, existing), load(t, merged), load(t, second)
	assert.Equal(t, "admin@demo-1", after.CurrentContext)
	for _, name := range []string{"demo", "prod"} {
		assert.Equal(t, before.Clusters[name], after.Clusters[name], "cluster %s is kept", name)
	}
	assert.Equal(t, before.AuthInfos["admin@demo"], after.AuthInfos["admin@demo"])
	assert.Equal(t, before.Contexts["admin@demo"], after.Contexts["admin@demo"])
	assert.Equal(t, added.Clusters["demo"], after.Clusters["demo-1"])
	assert.Equal(t, added.AuthInfos["admin@demo"], after.AuthInfos["admin@demo-1"])
	assert.Equal(t, "demo-1", after.Contexts["admin@demo-1"].Cluster, "the renamed context uses the renamed cluster")
	assert.Equal(t, "admin@demo-1", after.Contexts["admin@demo-1"].AuthInfo)

	// A third one takes the next free name.
	third := build(t, newPKI(t).params("demo", "https://10.5.0.4:6443"))
	_, renamed, err = Merge(merged, third, false)
	require.NoError(t, err)
	assert.Equal(t, "demo-2", renamed["cluster/demo"])
	assert.Equal(t, "admin@demo-2", renamed["context/admin@demo"])

	// With force the clashing entries are replaced and nothing is renamed.
	forced, renamed, err := Merge(existing, second, true)
	require.NoError(t, err)
	assert.Empty(t, renamed)
	after = load(t, forced)
	assert.Equal(t, added.Clusters["demo"], after.Clusters["demo"])
	assert.Equal(t, added.AuthInfos["admin@demo"], after.AuthInfos["admin@demo"])
	assert.Equal(t, added.Contexts["admin@demo"], after.Contexts["admin@demo"])
	assert.Equal(t, before.Clusters["prod"], after.Clusters["prod"], "unrelated entries are kept with force too")
	assert.Len(t, after.Clusters, 2)
	assert.Equal(t, "admin@demo", after.CurrentContext)
}

// A new certificate for the same cluster (the usual case: cairnctl
// kubeconfig run again) clashes only in the user, and so in the context;
// the cluster entry is the same and is shared.
func TestMergeSharesEqualEntries(t *testing.T) {
	p := newPKI(t)
	first := build(t, p.params("demo", "https://10.5.0.2:6443"))
	again := newPKI(t)
	again.ca = p.ca
	second := build(t, Params{Cluster: "demo", Server: "https://10.5.0.2:6443", CA: p.ca, Cert: again.cert, Key: again.key})
	existing, _, err := Merge(nil, first, false)
	require.NoError(t, err)

	merged, renamed, err := Merge(existing, second, false)

	require.NoError(t, err)
	assert.Equal(t, map[string]string{"user/admin@demo": "admin@demo-1", "context/admin@demo": "admin@demo-1"}, renamed)
	after := load(t, merged)
	assert.Len(t, after.Clusters, 1)
	assert.Equal(t, "demo", after.Contexts["admin@demo-1"].Cluster)
	assert.Equal(t, "admin@demo-1", after.Contexts["admin@demo-1"].AuthInfo)

	// The very same file merged again changes nothing.
	same, renamed, err := Merge(existing, first, false)
	require.NoError(t, err)
	assert.Empty(t, renamed)
	assert.Equal(t, load(t, existing), load(t, same))
}

func TestMergeRefusesWhatIsNotAKubeconfig(t *testing.T) {
	add := build(t, newPKI(t).params("demo", "https://10.5.0.2:6443"))

	_, _, err := Merge([]byte("clusters: 7\n"), add, false)
	require.ErrorIs(t, err, ErrInvalid)
	_, _, err = Merge(nil, []byte("{not yaml"), false)
	require.ErrorIs(t, err, ErrInvalid)
}
