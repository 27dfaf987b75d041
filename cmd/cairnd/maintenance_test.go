package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/bootcfg"
	"github.com/cairn-project/cairn/node/machine/capability"
	maintenancev1 "github.com/cairn-project/cairn/proto/gen/cairn/maintenance/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/maintenance/v1/maintenancev1connect"
)

// A container without a config serves maintenance mode, boots with what
// it was given and saves it; restarted, it boots with the saved one.
func TestContainerWithoutConfigRunsMaintenanceMode(t *testing.T) {
	t.Setenv(bootcfg.EnvConfigData, "")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	stateDir := filepath.Join(t.TempDir(), "state")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	maintenanceListener = ln
	t.Cleanup(func() { maintenanceListener = nil })

	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "ctr", ControlPlanes: 2, LoopbackSubnet: 79})
	require.NoError(t, err)
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)

	type result struct {
		data []byte
		name string
		err  error
	}
	out := make(chan result, 1)
	go func() {
		d, n, err := clusterConfig("", "", stateDir, capability.ModeContainer, log)
		out <- result{d, n, err}
	}()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := maintenancev1connect.NewMaintenanceServiceClient(&http.Client{Transport: tr}, "https://"+ln.Addr().String(), connect.WithGRPC())
	_, err = c.ApplyConfig(context.Background(), connect.NewRequest(&maintenancev1.ApplyConfigRequest{Config: string(doc), NodeName: "cp2"}))
	require.NoError(t, err)
	r := <-out
	require.NoError(t, r.err)
	assert.Equal(t, doc, r.data)
	assert.Equal(t, "cp2", r.name)
	fi, err := os.Stat(filepath.Join(stateDir, appliedConfigFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "it holds the cluster's secrets")

	// Restarted: the saved configuration, no maintenance mode (the
	// listener is gone, so serving would fail).
	data, name, err := clusterConfig("", "", stateDir, capability.ModeContainer, log)
	require.NoError(t, err)
	assert.Equal(t, doc, data)
	assert.Equal(t, "cp2", name)

	// A config in the environment wins, and keeps the given name.
	t.Setenv(bootcfg.EnvConfigData, "from: env\n")
	data, name, err = clusterConfig("", "cp1", stateDir, capability.ModeContainer, log)
	require.NoError(t, err)
	assert.Equal(t, "from: env\n", string(data))
	assert.Equal(t, "cp1", name)
}

// Process mode has no maintenance mode: no config is an error.
func TestProcessWithoutConfigFails(t *testing.T) {
	t.Setenv(bootcfg.EnvConfigData, "")
	_, _, err := clusterConfig("", "", t.TempDir(), capability.ModeProcess, slog.New(slog.DiscardHandler))
	require.ErrorIs(t, err, bootcfg.ErrNoSource)
}
