package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/etcdtest"
	"github.com/cairn-project/cairn/node/cluster/config"
)

// buildCairnd builds cmd/cairnd from this module into a temporary directory,
// with etcd beside it, where a process-mode node looks for it.
func buildCairnd(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(t.TempDir(), "cairnd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/cairnd")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build cairnd: %s", out)
	require.NoError(t, os.Symlink(etcdtest.Binary(t), filepath.Join(filepath.Dir(bin), "etcd")))
	return bin
}

// TestEndToEndLocalCluster runs the real command tree against real cairnd
// processes: create a 3+1 cluster, read members and the configuration,
// change the configuration, wait for health, issue a reader's client config
// that can read but not write, and destroy the cluster.
func TestEndToEndLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local cluster of cairnd processes")
	}
	cairnd := buildCairnd(t)
	home := isolateHome(t)
	state := t.TempDir()
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			runCLI(t, "cluster", "destroy", "--state", state)
		}
	})

	start := time.Now()
	create := runCLI(t, "cluster", "create", "--controlplanes", "3", "--workers", "1",
		"--state", state, "--cairnd", cairnd, "--wait-timeout", "60s", "--kubernetes=false")
	require.Equal(t, 0, create.code, "stdout:\n%s\nstderr:\n%s", create.stdout, create.stderr)
	t.Logf("cluster create took %s", time.Since(start).Round(time.Millisecond))
	assert.Contains(t, create.stdout, "get members")
	st, err := readState(filepath.Join(state, "local"))
	require.NoError(t, err)
	require.Len(t, st.Nodes, 4)
	cc, err := ReadClientConfig(filepath.Join(home, ".cairn", "config"))
	require.NoError(t, err)
	assert.Equal(t, "local", cc.Context, "the new context is merged and made current")
	assert.Equal(t, []string{config.APIRoleAdmin}, parseCertPEM(t, cc.Contexts["local"].Crt).Subject.Organization)

	members := runCLI(t, "get", "members", "-o", "json")
	require.Equal(t, 0, members.code, members.stderr)
	var ms struct {
		Members []struct {
			Name                  string `json:"name"`
			GossipState           string `json:"gossipState"`
			Leader                bool   `json:"leader"`
			AppliedConfigRevision uint64 `json:"appliedConfigRevision"`
		} `json:"members"`
	}
	require.NoError(t, json.Unmarshal([]byte(members.stdout), &ms))
	require.Len(t, ms.Members, 4)
	leaders := 0
	for _, m := range ms.Members {
		assert.Equal(t, "GOSSIP_STATE_ALIVE", m.GossipState, m.Name)
		if m.Leader {
			leaders++
		}
	}
	assert.Equal(t, 1, leaders)

	get := runCLI(t, "config", "get", "-o", "json")
	require.Equal(t, 0, get.code, get.stderr)
	var doc configDoc
	require.NoError(t, json.Unmarshal([]byte(get.stdout), &doc))
	require.Contains(t, doc.Config, "version: "+config.DefaultKubernetesVersion)
	changed := strings.Replace(doc.Config, "version: "+config.DefaultKubernetesVersion, "version: 1.38.0", 1)
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(file, []byte(changed), 0o600))

	apply := runCLI(t, "config", "apply", "-f", file, "--expected-revision", u64(doc.Revision), "-o", "json")
	require.Equal(t, 0, apply.code, apply.stderr)
	var res applyResult
	require.NoError(t, json.Unmarshal([]byte(apply.stdout), &res))
	assert.True(t, res.Changed)
	assert.Greater(t, res.Revision, doc.Revision)
	stale := runCLI(t, "config", "apply", "-f", file, "--expected-revision", u64(doc.Revision))
	assert.Equal(t, 1, stale.code, "a stale expected revision is refused")
	assert.Contains(t, stale.stderr, "--expected-revision "+u64(res.Revision))

	health := runCLI(t, "health", "--wait", "--wait-timeout", "30s")
	require.Equal(t, 0, health.code, "stdout:\n%s\nstderr:\n%s", health.stdout, health.stderr)
	assert.Contains(t, health.stdout, "applied revision "+u64(res.Revision))
	plain := runCLI(t, "config", "get")
	require.Equal(t, 0, plain.code, plain.stderr)
	assert.Contains(t, plain.stdout, "version: 1.38.0")

	// A reader issued through the admin context reads but cannot write.
	readerCfg := filepath.Join(t.TempDir(), "reader")
	issue := runCLI(t, "config", "new", "--roles", config.APIRoleReader, "--name", "e2e-reader", "-o", readerCfg)
	require.Equal(t, 0, issue.code, issue.stderr)
	read := runCLI(t, "--cairnconfig", readerCfg, "get", "members")
	require.Equal(t, 0, read.code, read.stderr)
	denied := runCLI(t, "--cairnconfig", readerCfg, "config", "apply", "-f", file, "--dry-run")
	assert.Equal(t, 1, denied.code)
	assert.Contains(t, denied.stderr, "permission_denied")
	assert.Contains(t, denied.stderr, "Hint:")

	running := observeNodes(t.Context(), st)
	for _, n := range running {
		require.True(t, n.Running, "%s: %s", n.Name, n.describe())
		require.NotZero(t, n.BootPID, "%s runs under its boot stage", n.Name)
	}
	destroy := runCLI(t, "cluster", "destroy", "--state", state)
	destroyed = true
	require.Equal(t, 0, destroy.code, destroy.stderr)
	assert.Contains(t, destroy.stdout, "stopped 8 processes (8 by shutting down 4 boot stages, 0 by signal)")
	assert.NoDirExists(t, filepath.Join(state, "local"))
	for _, n := range running {
		assert.False(t, processRunning(n.PID), "%s (pid %d) still runs", n.Name, n.PID)
		assert.False(t, processRunning(n.BootPID), "%s boot stage (pid %d) still runs", n.Name, n.BootPID)
	}
	assert.Empty(t, processesOf(state), "no process refers to the cluster's directory")
	cc, err = ReadClientConfig(filepath.Join(home, ".cairn", "config"))
	require.NoError(t, err)
	assert.Empty(t, cc.Contexts)
}
