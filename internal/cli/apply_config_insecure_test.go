package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/maintenance"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
)

// maintenanceMachine is a real maintenance-mode server on loopback.
type maintenanceMachine struct {
	addr string
	done chan maintenanceResult
}

type maintenanceResult struct {
	cfg  []byte
	name string
	err  error
}

func startMaintenance(t *testing.T) *maintenanceMachine {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	m := &maintenanceMachine{addr: ln.Addr().String(), done: make(chan maintenanceResult, 1)}
	go func() {
		cfg, name, err := maintenance.Serve(ctx, maintenance.Options{
			Listener: ln, Mode: "pid1", MACs: []string{}, Hostname: "boot-host",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		m.done <- maintenanceResult{cfg, name, err}
	}()
	t.Cleanup(func() {
		cancel()
		<-m.done // closed or already received: Serve has returned either way
	})
	return m
}

// wait returns what Serve returned, and lets Cleanup know it did.
func (m *maintenanceMachine) wait() maintenanceResult {
	r := <-m.done
	close(m.done)
	return r
}

func writeClusterFile(t *testing.T, mutate func(*config.Config)) (string, []byte) {
	t.Helper()
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "maint", ControlPlanes: 1, Workers: 1, LoopbackSubnet: 78})
	require.NoError(t, err)
	if mutate != nil {
		mutate(cfg)
	}
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(path, doc, 0o600))
	return path, doc
}

func TestApplyConfigInsecure(t *testing.T) {
	isolateHome(t)
	m := startMaintenance(t)
	file, doc := writeClusterFile(t, nil)

	r := runCLI(t, "apply-config", "-e", m.addr, "-f", file)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "needs --insecure")
	assert.Contains(t, r.stderr, "cairnctl config apply -f FILE", "says what a configured cluster uses")

	bad, _ := writeClusterFile(t, func(c *config.Config) {
		c.Nodes[1].Kernel.Sysctls = map[string]string{"net ipv4": "1"}
		c.Cluster.Name = "Not_A_Label"
	})
	r = runCLI(t, "apply-config", "--insecure", "-e", m.addr, "-f", bad)
	assert.Equal(t, 1, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.Len(t, lines, 3, r.stderr)
	assert.Equal(t, "Error: the cluster configuration is invalid (2 problems):", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "  cluster.name: "), lines[1])
	assert.True(t, strings.HasPrefix(lines[2], `  nodes[1].kernel.sysctls["net ipv4"]: `), lines[2])

	r = runCLI(t, "apply-config", "--insecure", "-e", m.addr, "-f", file)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no node entry matches this machine")

	r = runCLI(t, "apply-config", "--insecure", "-e", m.addr, "-f", file, "--node", "worker1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var out []insecureApplyResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	assert.Equal(t, []insecureApplyResult{{Endpoint: m.addr, NodeName: "worker1", Role: "worker"}}, out)
	got := m.wait()
	require.NoError(t, got.err)
	assert.Equal(t, doc, got.cfg)
	assert.Equal(t, "worker1", got.name)
}

// A machine that is not in maintenance mode (a TLS server with the
// machine service and no maintenance service, as a configured node) is
// named as such.
func TestApplyConfigInsecureAtAConfiguredNode(t *testing.T) {
	isolateHome(t)
	mux := http.NewServeMux()
	mux.Handle(machinev1connect.NewMachineServiceHandler(&fakeNode{}))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	file, _ := writeClusterFile(t, nil)
	r := runCLI(t, "apply-config", "--insecure", "-e", addr, "-f", file, "--node", "cp1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "not in maintenance mode")
}

func TestApplyConfigInsecureUsage(t *testing.T) {
	isolateHome(t)
	file, _ := writeClusterFile(t, nil)
	for args, want := range map[string]string{
		"apply-config --insecure -f " + file:                                   "-e ADDR",
		"apply-config --insecure -e 127.0.0.1 -f " + file + " -n cp1":          "--node NAME, not --nodes",
		"apply-config --insecure -e 127.0.0.1,127.0.0.2 --node cp1 -f " + file: "takes one endpoint",
	} {
		r := runCLI(t, strings.Fields(args)...)
		assert.Equal(t, 1, r.code, args)
		assert.Contains(t, r.stderr, want, args)
	}
}
