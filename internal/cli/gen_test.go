package cli

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/cluster/config"
)

func TestGenConfigWritesClusterAndClientConfig(t *testing.T) {
	isolateHome(t)
	dir := t.TempDir()

	r := runCLI(t, "gen", "config", "demo", "--controlplanes", "3", "--workers", "2", "--subnet", "7",
		"--kubernetes-version", "1.38.0", "-o", dir)

	require.Equal(t, 0, r.code, r.stderr)
	data, err := os.ReadFile(filepath.Join(dir, "cluster.yaml"))
	require.NoError(t, err)
	cfg, err := config.Load(data)
	require.NoError(t, err)
	assert.Equal(t, "demo", cfg.Cluster.Name)
	assert.Equal(t, "1.38.0", cfg.Cluster.Kubernetes.Version)
	assert.Len(t, cfg.Nodes, 5)
	assert.NotEqual(t, config.Redacted, cfg.Secrets.GossipKey)
	fi, err := os.Stat(filepath.Join(dir, "cluster.yaml"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	cc, err := ReadClientConfig(filepath.Join(dir, "cairnconfig"))
	require.NoError(t, err)
	assert.Equal(t, "demo", cc.Context)
	ctx := cc.Contexts["demo"]
	assert.Equal(t, []string{"127.0.7.1:6440", "127.0.7.2:6440", "127.0.7.3:6440"}, ctx.Endpoints)
	assert.Equal(t, cfg.Secrets.CA.Crt, ctx.CA)
	crt := parseCertPEM(t, ctx.Crt)
	assert.Equal(t, "admin", crt.Subject.CommonName)
	assert.Equal(t, []string{config.APIRoleAdmin}, crt.Subject.Organization)
	assert.WithinDuration(t, time.Now().Add(365*24*time.Hour), crt.NotAfter, time.Hour)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM([]byte(ctx.CA)))
	_, err = crt.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err, "signed by the cluster CA")
	_, err = ctx.tlsConfig(time.Now())
	require.NoError(t, err, "crt and key belong together")
	fi, err = os.Stat(filepath.Join(dir, "cairnconfig"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again := runCLI(t, "gen", "config", "demo", "-o", dir)
	assert.Equal(t, 1, again.code)
	assert.Contains(t, again.stderr, "--force")
}

func TestGenConfigWithSecretsReusesSecretsAndClusterID(t *testing.T) {
	isolateHome(t)
	first, second, third := t.TempDir(), t.TempDir(), t.TempDir()
	require.Equal(t, 0, runCLI(t, "gen", "config", "demo", "-o", first).code)
	orig := loadGenerated(t, first)

	r := runCLI(t, "gen", "config", "demo", "--workers", "1", "--with-secrets", filepath.Join(first, "cluster.yaml"), "-o", second)
	require.Equal(t, 0, r.code, r.stderr)
	regen := loadGenerated(t, second)
	assert.Equal(t, orig.Secrets, regen.Secrets)
	assert.Equal(t, orig.Cluster.ID, regen.Cluster.ID)

	secretsOnly, err := yaml.Marshal(orig.Secrets)
	require.NoError(t, err)
	secretsFile := filepath.Join(t.TempDir(), "secrets.yaml")
	require.NoError(t, os.WriteFile(secretsFile, secretsOnly, 0o600))
	r = runCLI(t, "gen", "config", "demo", "--with-secrets", secretsFile, "-o", third)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, orig.Secrets, loadGenerated(t, third).Secrets)
}

func TestGenConfigRefusesRedactedSecrets(t *testing.T) {
	isolateHome(t)
	dir := t.TempDir()
	require.Equal(t, 0, runCLI(t, "gen", "config", "demo", "-o", dir).code)
	redacted, err := loadGenerated(t, dir).Marshal(true)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "redacted.yaml")
	require.NoError(t, os.WriteFile(file, redacted, 0o600))

	r := runCLI(t, "gen", "config", "demo", "--with-secrets", file, "-o", t.TempDir())

	assert.Equal(t, 1, r.code)
	assert.True(t, strings.Contains(r.stderr, "redacted"), r.stderr)
}

func loadGenerated(t *testing.T, dir string) *config.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cluster.yaml"))
	require.NoError(t, err)
	cfg, err := config.Load(data)
	require.NoError(t, err)
	return cfg
}
