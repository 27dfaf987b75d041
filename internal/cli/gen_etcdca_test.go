package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// withoutEtcdCA writes dir/cluster.yaml as a config from before the etcd CA
// existed and returns the config it came from.
func withoutEtcdCA(t *testing.T, dir string) *config.Config {
	t.Helper()
	require.Equal(t, 0, runCLI(t, "gen", "config", "demo", "-o", dir).code)
	cfg := loadGenerated(t, dir)
	old := *cfg
	old.Secrets.EtcdCA = config.CertKeyPair{}
	doc, err := old.Marshal(false)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cluster.yaml"), doc, 0o600))
	return cfg
}

func TestGenEtcdCAAddsOneToAnOldConfig(t *testing.T) {
	isolateHome(t)
	dir := t.TempDir()
	orig := withoutEtcdCA(t, dir)
	path := filepath.Join(dir, "cluster.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = config.Load(data)
	var ve *config.ValidationError
	require.ErrorAs(t, err, &ve, "an old config does not validate")
	assert.Equal(t, []string{"secrets.etcdCA.crt", "secrets.etcdCA.key"}, ve.Fields())
	assert.Contains(t, err.Error(), "cairnctl gen etcd-ca FILE", "the error says how to add one")

	r := runCLI(t, "gen", "etcd-ca", path)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "cairnctl config apply -f "+path)
	cfg := loadGenerated(t, dir)
	assert.Equal(t, orig.Secrets.CA, cfg.Secrets.CA, "the cluster CA is kept")
	assert.Equal(t, orig.Nodes, cfg.Nodes)
	caCert, _, err := config.ParseCA(cfg.Secrets.EtcdCA)
	require.NoError(t, err)
	assert.Equal(t, "cairn demo etcd CA", caCert.Subject.CommonName)
	assert.NotEqual(t, cfg.Secrets.CA.Crt, cfg.Secrets.EtcdCA.Crt)
	for _, out := range []string{r.stdout, r.stderr} {
		assert.NotContains(t, out, "PRIVATE KEY")
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again := runCLI(t, "gen", "etcd-ca", path)
	assert.Equal(t, 1, again.code)
	assert.Contains(t, again.stderr, "already has secrets.etcdCA")
	assert.Equal(t, cfg.Secrets.EtcdCA, loadGenerated(t, dir).Secrets.EtcdCA, "an etcd CA is never replaced")
}

func TestGenEtcdCARefusesRedactedConfig(t *testing.T) {
	isolateHome(t)
	dir := t.TempDir()
	old := *withoutEtcdCA(t, dir)
	old.Secrets.EtcdCA = config.CertKeyPair{}
	redacted, err := old.Marshal(true)
	require.NoError(t, err)
	path := filepath.Join(dir, "redacted.yaml")
	require.NoError(t, os.WriteFile(path, redacted, 0o600))

	r := runCLI(t, "gen", "etcd-ca", path)
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "is redacted")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, redacted, after, "nothing is written")
}

func TestGenConfigWithOldSecretsAddsEtcdCA(t *testing.T) {
	isolateHome(t)
	first, second := t.TempDir(), t.TempDir()
	orig := withoutEtcdCA(t, first)
	r := runCLI(t, "gen", "config", "demo", "--with-secrets", filepath.Join(first, "cluster.yaml"), "-o", second)
	require.Equal(t, 0, r.code, r.stderr)
	regen := loadGenerated(t, second)
	assert.Equal(t, orig.Secrets.CA, regen.Secrets.CA)
	assert.NotEmpty(t, regen.Secrets.EtcdCA.Key)
}
