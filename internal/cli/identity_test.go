package cli

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// writeConfig writes a client config with the one context "c" current.
func writeConfig(t *testing.T, ctx Context) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cairnconfig")
	cc := &ClientConfig{}
	cc.Merge("c", ctx, true)
	require.NoError(t, WriteClientConfig(path, cc))
	return path
}

func TestClientConfigKeepsTheIdentity(t *testing.T) {
	p := getPKI(t)
	ctx := p.adminContext("127.0.0.1:6440")
	path := writeConfig(t, ctx)

	back, err := ReadClientConfig(path)
	require.NoError(t, err)
	assert.Equal(t, &ctx, back.Contexts["c"])
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(data), "    ca: |\n      -----BEGIN CERTIFICATE-----\n", "PEM stays readable")
}

func TestCommandsWithoutClientCertificateFailClearly(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	bare := runCLI(t, "--cairnconfig", writeConfig(t, Context{Endpoints: []string{addr}}), "get", "members")
	assert.Equal(t, 1, bare.code)
	assert.Contains(t, bare.stderr, `no client certificate in context "c"`)
	assert.Contains(t, bare.stderr, "config new")

	none := runCLI(t, "--cairnconfig", filepath.Join(t.TempDir(), "none"), "-e", addr, "get", "members")
	assert.Equal(t, 1, none.code)
	assert.Contains(t, none.stderr, "no client certificate: no context is selected")
	assert.Empty(t, f.seenTargets(), "nothing was sent")
}

func TestCommandsRefuseAnEndpointOfAnotherCA(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))
	other, err := newTestPKI("other")
	require.NoError(t, err)

	r := runCLI(t, "--cairnconfig", writeConfig(t, other.adminContext(addr)), "get", "members")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "certificate signed by unknown authority")
	assert.Contains(t, r.stderr, "Hint: the endpoint's certificate is not signed by this context's CA")
}

func TestExpiredClientCertificateIsNamed(t *testing.T) {
	isolateHome(t)
	p := getPKI(t)
	f := newFake("cp1")
	addr := serveFake(t, f)
	expired, err := signCert(p.ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "old", Organization: []string{config.APIRoleAdmin}},
		NotBefore:   time.Now().Add(-48 * time.Hour),
		NotAfter:    time.Now().Add(-24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	require.NoError(t, err)

	r := runCLI(t, "--cairnconfig", writeConfig(t, Context{Endpoints: []string{addr}, CA: p.ca.Crt, Crt: expired.Crt, Key: expired.Key}), "get", "members")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "unusable client certificate: it expired on")
	assert.Empty(t, f.seenTargets())
}

func TestConfigNewWritesAScopedClientConfig(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)
	out := filepath.Join(t.TempDir(), "reader.cairnconfig")

	r := runCLI(t, "--context", "fake", "config", "new", "--roles", "os:reader,os:operator", "--ttl", "2h", "--name", "alice", "-o", out)

	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `wrote `+out+` (context "fake", name "alice", roles os:reader,os:operator`)
	f.mu.Lock()
	issued := f.issued
	f.mu.Unlock()
	require.Len(t, issued, 1)
	assert.Equal(t, []string{"os:reader", "os:operator"}, issued[0].GetRoles())
	assert.Equal(t, 2*time.Hour, issued[0].GetTtl().AsDuration())
	assert.Equal(t, []string{"admin os:admin"}, f.seenCallers(), "asked with the context's identity")

	fi, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	cc, err := ReadClientConfig(out)
	require.NoError(t, err)
	assert.Equal(t, "fake", cc.Context)
	require.Len(t, cc.Contexts, 1)
	nc := cc.Contexts["fake"]
	assert.Equal(t, []string{addr}, nc.Endpoints)
	assert.Equal(t, getPKI(t).ca.Crt, nc.CA)
	crt := parseCertPEM(t, nc.Crt)
	assert.Equal(t, "alice", crt.Subject.CommonName)
	assert.Equal(t, []string{"os:reader", "os:operator"}, crt.Subject.Organization)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), crt.NotAfter, time.Minute)

	use := runCLI(t, "--cairnconfig", out, "version")
	require.Equal(t, 0, use.code, use.stderr)
	assert.Equal(t, "alice os:reader,os:operator", f.seenCallers()[1], "the new config carries the new identity")

	again := runCLI(t, "--context", "fake", "config", "new", "-o", out)
	assert.Equal(t, 1, again.code)
	assert.Contains(t, again.stderr, "--force")

	stdout := runCLI(t, "--context", "fake", "config", "new", "--name", "bob", "-o", "-")
	require.Equal(t, 0, stdout.code, stdout.stderr)
	var printed ClientConfig
	require.NoError(t, yaml.UnmarshalStrict([]byte(stdout.stdout), &printed))
	assert.Equal(t, []string{"os:reader"}, parseCertPEM(t, printed.Contexts["fake"].Crt).Subject.Organization, "os:reader by default")

	bad := runCLI(t, "--context", "fake", "config", "new", "--roles", "admin", "-o", "-")
	assert.Equal(t, 1, bad.code)
	assert.Contains(t, bad.stderr, `role "admin"`)
}

func TestConfigPEMWritesTheContextsIdentity(t *testing.T) {
	isolateHome(t)
	p := getPKI(t)
	dir := filepath.Join(t.TempDir(), "pki")

	r := runCLI(t, "--cairnconfig", writeConfig(t, p.adminContext("127.0.0.9:6440")), "config", "pem", "--dir", dir)

	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "https://127.0.0.9:6440/")
	for name, want := range map[string]string{"ca.pem": p.ca.Crt, "admin.pem": p.admin.Crt, "admin-key.pem": p.admin.Key} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, want, string(data), name)
	}
	fi, err := os.Stat(filepath.Join(dir, "admin-key.pem"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	assert.Equal(t, "client", pemBaseName("junk"))
	assert.Equal(t, "admin", pemBaseName(p.admin.Crt))
	evil, err := signCert(p.ca, &x509.Certificate{Subject: pkix.Name{CommonName: "../evil"}, NotAfter: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, "client", pemBaseName(evil.Crt), "a name is never a path")
}
