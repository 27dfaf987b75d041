package config

import (
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// assertNoKeyMaterial fails if out contains the PEM key or any line of its
// base64 body.
func assertNoKeyMaterial(t *testing.T, out, keyPEM string) {
	t.Helper()
	require.NotEmpty(t, keyPEM)
	assert.NotContains(t, out, keyPEM)
	block, _ := pem.Decode([]byte(keyPEM))
	require.NotNil(t, block)
	for line := range strings.SplitSeq(keyPEM, "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") {
			assert.NotContains(t, out, line, "a line of the private key leaked")
		}
	}
}

func assertNoSecrets(t *testing.T, out string, s Secrets) {
	t.Helper()
	assert.NotContains(t, out, s.GossipKey)
	assert.NotContains(t, out, s.JoinToken)
	assert.NotContains(t, out, s.JoinToken[7:], "the secret half of the join token leaked")
	assertNoKeyMaterial(t, out, s.CA.Key)
	assertNoKeyMaterial(t, out, s.EtcdCA.Key)
	assertNoKeyMaterial(t, out, s.KubernetesCA.Key)
	assertNoKeyMaterial(t, out, s.FrontProxyCA.Key)
	assertNoKeyMaterial(t, out, s.ServiceAccountKey)
}

func TestMarshalRedacts(t *testing.T) {
	c := fixture(t)
	before := Canonical(c)
	out := string(mustMarshal(t, c, true))
	assertNoSecrets(t, out, c.Secrets)
	assert.Equal(t, 7, strings.Count(out, Redacted), "gossipKey, joinToken, the keys of ca, etcdCA, kubernetesCA and frontProxyCA, serviceAccountKey")
	assert.Contains(t, out, strings.Split(c.Secrets.CA.Crt, "\n")[1], "the CA certificate is public and stays")
	assert.Contains(t, out, strings.Split(c.Secrets.EtcdCA.Crt, "\n")[1], "the etcd CA certificate is public and stays")
	assert.Contains(t, out, strings.Split(c.Secrets.KubernetesCA.Crt, "\n")[1], "the Kubernetes CA certificate is public and stays")
	assert.Contains(t, out, strings.Split(c.Secrets.FrontProxyCA.Crt, "\n")[1], "the front-proxy CA certificate is public and stays")
	assert.Equal(t, before, Canonical(c), "redaction must not modify the config")

	full := string(mustMarshal(t, c, false))
	assert.Contains(t, full, c.Secrets.GossipKey)
	assert.Contains(t, full, c.Secrets.JoinToken)
	assert.NotContains(t, full, Redacted)
}

func TestRedactedOutputParsesButDoesNotValidate(t *testing.T) {
	c := fixture(t)
	r, err := Parse(mustMarshal(t, c, true))
	require.NoError(t, err, "redacted output is still a well-formed document")
	var ve *ValidationError
	require.ErrorAs(t, r.Validate(), &ve)
	assert.Equal(t, []string{"secrets.ca.key", "secrets.etcdCA.key", "secrets.frontProxyCA.key", "secrets.gossipKey", "secrets.joinToken", "secrets.kubernetesCA.key", "secrets.serviceAccountKey"}, ve.Fields())

	r.Cluster.Kubernetes.Version = "1.38.0" // an operator's edit
	r.RestoreSecrets(c)
	require.NoError(t, r.Validate())
	assert.Equal(t, c.Secrets, r.Secrets)
	assert.Equal(t, "1.38.0", r.Cluster.Kubernetes.Version)
}

func TestRedactKeepsEmptySecretsEmpty(t *testing.T) {
	c := fixture(t)
	c.Secrets.JoinToken = ""
	r := c.Redacted()
	assert.Empty(t, r.Secrets.JoinToken, "a missing secret must stay visible as missing")
	assert.Equal(t, Redacted, r.Secrets.GossipKey)
}

func TestDiffNeverLeaksSecrets(t *testing.T) {
	old := fixture(t)
	rotated := fixture(t)
	fresh, err := NewSecrets(nil, "demo", time.Now())
	require.NoError(t, err)
	rotated.Secrets = fresh

	d := Diff(mustMarshal(t, old, false), mustMarshal(t, rotated, false))
	assertNoSecrets(t, d, old.Secrets)
	assertNoSecrets(t, d, fresh)
	assert.Contains(t, d, "-  gossipKey: '"+Redacted+"'\n-  joinToken: '"+Redacted+"'\n+  gossipKey: '"+RedactedChanged+"'\n")
	assert.Contains(t, d, "+  joinToken: '"+RedactedChanged+"'\n")
	assert.Contains(t, d, "+    key: '"+RedactedChanged+"'\n")

	// A document Parse rejects is still redacted, by schema position.
	bad := strings.Replace(string(mustMarshal(t, rotated, false)), "kind: ClusterConfig", "kind: Other", 1)
	d = Diff(mustMarshal(t, old, false), []byte(bad))
	assertNoSecrets(t, d, old.Secrets)
	assertNoSecrets(t, d, fresh)

	// Text that is not YAML is not shown at all.
	d = Diff(mustMarshal(t, old, false), []byte("secrets: {gossipKey: "+fresh.GossipKey+"\n"))
	assertNoSecrets(t, d, old.Secrets)
	assert.NotContains(t, d, fresh.GossipKey)
}
