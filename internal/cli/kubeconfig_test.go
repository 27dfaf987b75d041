package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-project/cairn/internal/kubeconfig"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
)

// fakeKubernetes is a control plane's Kubernetes access: every call mints
// a new client certificate (from the test CA, standing in for the
// Kubernetes CA) in a kubeconfig for cluster "demo", as the node does.
type fakeKubernetes struct {
	t *testing.T

	mu     sync.Mutex
	ttls   []time.Duration
	issued [][]byte
}

const fakeServer = "https://10.5.0.2:6443"

func (f *fakeKubernetes) AdminKubeconfig(_ context.Context, ttl time.Duration) ([]byte, string, time.Time, error) {
	p := getPKI(f.t)
	pair, err := config.GenerateAdminClientCert(p.ca, "admin", []string{config.APIRoleAdmin}, time.Hour)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	out, err := kubeconfig.Build(kubeconfig.Params{Cluster: "demo", Server: fakeServer, CA: []byte(p.ca.Crt),
		Cert: []byte(pair.Crt), Key: []byte(pair.Key)})
	if err != nil {
		return nil, "", time.Time{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ttls = append(f.ttls, ttl)
	f.issued = append(f.issued, out)
	return out, fakeServer, time.Date(2027, 12, 1, 16, 0, 0, 0, time.UTC), nil
}

func (f *fakeKubernetes) last() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued[len(f.issued)-1]
}

// serveKubernetes serves node/api's Kubernetes handler over one ops per
// node name (the Cairn-Node header; "" is the endpoint's own; a nil ops is
// a worker) with the test PKI, and makes it the current context.
func serveKubernetes(t *testing.T, nodes map[string]api.KubernetesOps) {
	t.Helper()
	p := getPKI(t)
	handlers := map[string]http.Handler{}
	for name, ops := range nodes {
		_, h := api.NewKubernetesHandler(ops, nil)
		handlers[name] = h
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := handlers[r.Header.Get(headerNode)]
		if !ok {
			http.Error(w, "unknown node", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13, NextProtos: []string{"h2", "http/1.1"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	path, err := defaultClientConfigPath()
	require.NoError(t, err)
	cc, err := ReadClientConfig(path)
	require.NoError(t, err)
	cc.Merge("fake", p.adminContext(srv.Listener.Addr().String()), false)
	require.NoError(t, WriteClientConfig(path, cc))
}

// kubeconfigTest isolates HOME and $KUBECONFIG and serves a control plane
// cp1 (also the endpoint's own node) and a worker worker1.
func kubeconfigTest(t *testing.T) (home string, cp1 *fakeKubernetes) {
	t.Helper()
	home = isolateHome(t)
	t.Setenv(clientcmd.RecommendedConfigPathEnvVar, "")
	cp1 = &fakeKubernetes{t: t}
	serveKubernetes(t, map[string]api.KubernetesOps{"": cp1, "cp1": cp1, "worker1": nil})
	return home, cp1
}

// usersKubeconfig is a kubeconfig a user already has, for another cluster.
const usersKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
users:
- name: alice
  user:
    token: secret-token
contexts:
- name: alice@prod
  context:
    cluster: prod
    user: alice
current-context: alice@prod
`

// clientConfig is the client configuration kubectl makes of the file.
func clientConfig(t *testing.T, path string) clientcmd.ClientConfig {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	return clientcmd.NewDefaultClientConfig(*cfg, nil)
}

func TestKubeconfigMergesIntoTheUsersFile(t *testing.T) {
	home, cp1 := kubeconfigTest(t)
	path := filepath.Join(home, ".kube", "config")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(usersKubeconfig), 0o644))

	r := runCLI(t, "kubeconfig")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Equal(t, `kubeconfig merged into `+path+`: context "admin@demo" (current), server `+fakeServer+
		", certificate valid until 2027-12-01T16:00:00Z\n", r.stderr)
	assert.Equal(t, []time.Duration{365 * 24 * time.Hour}, cp1.ttls)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the file holds a private key")
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	assert.Equal(t, "admin@demo", cfg.CurrentContext)
	assert.Equal(t, "secret-token", cfg.AuthInfos["alice"].Token, "the user's other entries are kept")
	assert.Equal(t, "prod", cfg.Contexts["alice@prod"].Cluster)
	rest, err := clientConfig(t, path).ClientConfig()
	require.NoError(t, err)
	assert.Equal(t, fakeServer, rest.Host)

	// Again: a new certificate, so the user and context are added beside
	// the first ones, and say so.
	r = runCLI(t, "kubeconfig", "--ttl", "24h")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []string{
		`renamed user "admin@demo" to "admin@demo-1": a different user has that name (--force replaces it instead)`,
		`renamed context "admin@demo" to "admin@demo-1": a different context has that name (--force replaces it instead)`,
		`kubeconfig merged into ` + path + `: context "admin@demo-1" (current), server ` + fakeServer +
			", certificate valid until 2027-12-01T16:00:00Z",
	}, strings.Split(strings.TrimSpace(r.stderr), "\n"))
	assert.Equal(t, 24*time.Hour, cp1.ttls[1])
	cfg, err = clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	assert.Equal(t, "admin@demo-1", cfg.CurrentContext)
	assert.Len(t, cfg.AuthInfos, 3)
	assert.Len(t, cfg.Clusters, 2, "the same cluster is shared")

	// --force replaces admin@demo instead.
	r = runCLI(t, "kubeconfig", "--force", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "renamed")
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	assert.Equal(t, map[string]any{"path": path, "context": "admin@demo", "server": fakeServer,
		"expires": "2027-12-01T16:00:00Z", "renamed": map[string]any{}}, out)
	cfg, err = clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	assert.Equal(t, "admin@demo", cfg.CurrentContext)
	added, err := clientcmd.Load(cp1.last())
	require.NoError(t, err)
	assert.Equal(t, added.AuthInfos["admin@demo"].ClientCertificateData, cfg.AuthInfos["admin@demo"].ClientCertificateData)
	assert.Len(t, cfg.AuthInfos, 3)
}

// Without LOCAL-PATH the first file of $KUBECONFIG is the one merged
// into, created with its directories.
func TestKubeconfigCreatesTheFirstFileOfKUBECONFIG(t *testing.T) {
	_, _ = kubeconfigTest(t)
	dir := t.TempDir()
	first := filepath.Join(dir, "a", "b", "config")
	t.Setenv(clientcmd.RecommendedConfigPathEnvVar, first+string(filepath.ListSeparator)+filepath.Join(dir, "other"))

	r := runCLI(t, "-n", "cp1", "kubeconfig")

	require.Equal(t, 0, r.code, r.stderr)
	st, err := os.Stat(first)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.NoFileExists(t, filepath.Join(dir, "other"))
	cfg, err := clientcmd.LoadFromFile(first)
	require.NoError(t, err)
	assert.Equal(t, "admin@demo", cfg.CurrentContext)
}

// A LOCAL-PATH that is a symbolic link has the file it points at
// replaced, not the link.
func TestKubeconfigMergeFollowsASymlink(t *testing.T) {
	_, _ = kubeconfigTest(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	require.NoError(t, os.WriteFile(target, []byte(usersKubeconfig), 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target, link))

	r := runCLI(t, "kubeconfig", link)

	require.Equal(t, 0, r.code, r.stderr)
	st, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeSymlink, "the link is still a link")
	cfg, err := clientcmd.LoadFromFile(target)
	require.NoError(t, err)
	assert.Len(t, cfg.Contexts, 2)
}

func TestKubeconfigToStandardOutput(t *testing.T) {
	home, cp1 := kubeconfigTest(t)

	r := runCLI(t, "kubeconfig", "-")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, string(cp1.last()), r.stdout, "the kubeconfig as the node sent it")
	assert.Contains(t, r.stderr, "kubeconfig written to standard output: context \"admin@demo\"")
	assert.NoDirExists(t, filepath.Join(home, ".kube"))

	r = runCLI(t, "kubeconfig", "-", "-o", "json")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "standard output holds the kubeconfig")
}

func TestKubeconfigWithoutMergeWritesTheFileAsIs(t *testing.T) {
	_, cp1 := kubeconfigTest(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")

	r := runCLI(t, "kubeconfig", "--merge=false", dir)

	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "kubeconfig written to "+path+": ")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, cp1.last(), got)

	r = runCLI(t, "kubeconfig", "--merge=false", path)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, path+" exists")
	assert.Contains(t, r.stderr, "Hint: pass --force to replace it")
	assert.Len(t, cp1.ttls, 1, "nothing is minted for a file that would not be written")

	r = runCLI(t, "kubeconfig", "--merge=false", "--force", path)
	require.Equal(t, 0, r.code, r.stderr)
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, cp1.last(), got)

	// Without LOCAL-PATH: ./kubeconfig.
	t.Chdir(t.TempDir())
	r = runCLI(t, "kubeconfig", "--merge=false")
	require.Equal(t, 0, r.code, r.stderr)
	assert.FileExists(t, "kubeconfig")
}

func TestKubeconfigRefusals(t *testing.T) {
	home, cp1 := kubeconfigTest(t)

	r := runCLI(t, "-n", "worker1", "kubeconfig")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "failed_precondition")
	assert.Contains(t, r.stderr, "ask a control plane")
	assert.Contains(t, r.stderr, "Hint: name a control plane with -n")
	assert.NoDirExists(t, filepath.Join(home, ".kube"), "a refusal writes nothing")

	r = runCLI(t, "-n", "cp1,cp2", "kubeconfig")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "kubeconfig asks one node")

	r = runCLI(t, "kubeconfig", "--ttl", "0s")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--ttl must be positive")
	assert.Empty(t, cp1.ttls)

	// A file that is not a kubeconfig is not overwritten.
	bad := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(bad, []byte("clusters: 7\n"), 0o600))
	r = runCLI(t, "kubeconfig", bad)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "invalid kubeconfig")
	got, err := os.ReadFile(bad)
	require.NoError(t, err)
	assert.Equal(t, "clusters: 7\n", string(got))
}
