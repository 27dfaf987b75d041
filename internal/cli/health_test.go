package cli

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/health"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// The checks themselves are tested where they live (node/cluster/health).

func TestShortErrorKeepsTheLastEndpointsReason(t *testing.T) {
	err := &endpointsError{errs: []error{errors.New("a: refused"), errors.New("b: no leader")}}
	assert.Equal(t, "no endpoint answered (b: no leader)", health.ShortError(err))
}

// Health answers with the checks set in the fake, or unimplemented.
func (f *fakeNode) Health(_ context.Context, req *connect.Request[clusterv1.HealthRequest]) (*connect.Response[clusterv1.HealthResponse], error) {
	f.record(req.Header())
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.health == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("cairn.cluster.v1.ClusterService.Health is not implemented"))
	}
	return connect.NewResponse(f.health), nil
}

func fakeHealth(configOK bool) *clusterv1.HealthResponse {
	return &clusterv1.HealthResponse{NodeName: "cp1", Healthy: configOK, Checks: []*clusterv1.HealthCheck{
		{Name: "nodes", Ok: true, Detail: "2 nodes alive and in agreement (cp1, worker1)"},
		{Name: "config", Ok: configOK, Detail: "want revision 7; worker1 applied revision 6", Nodes: []string{"worker1"}},
	}}
}

func TestHealthPrintsTheChecksTheNodeEvaluated(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	f.health = fakeHealth(false)
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "health")

	assert.Equal(t, 1, r.code)
	assert.Equal(t, "✓ nodes: 2 nodes alive and in agreement (cp1, worker1)\n✗ config: want revision 7; worker1 applied revision 6\n", r.stdout)
	assert.Contains(t, r.stderr, ErrUnhealthy.Error())
	assert.Equal(t, []string{""}, f.seenTargets(), "one call to the endpoint")

	f.mu.Lock()
	f.health = fakeHealth(true)
	f.mu.Unlock()
	r = runCLI(t, "-e", addr, "health", "--wait")
	assert.Equal(t, 0, r.code, r.stderr)
}

func TestHealthPrintsTheChecksAsJSONAndYAML(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	f.health = fakeHealth(false)
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "health", "-o", "json")

	assert.Equal(t, 1, r.code)
	var out struct {
		Checks []struct {
			Name   string   `json:"name"`
			OK     bool     `json:"ok"`
			Detail string   `json:"detail"`
			Nodes  []string `json:"nodes"`
		} `json:"checks"`
		Healthy  bool   `json:"healthy"`
		NodeName string `json:"nodeName"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	assert.False(t, out.Healthy)
	assert.Equal(t, "cp1", out.NodeName)
	require.Len(t, out.Checks, 2)
	assert.Equal(t, "config", out.Checks[1].Name)
	assert.False(t, out.Checks[1].OK)
	assert.Equal(t, []string{"worker1"}, out.Checks[1].Nodes)
	assert.NotContains(t, r.stdout, "✗", "no progress lines in structured output")

	y := runCLI(t, "-e", addr, "health", "-o", "yaml")
	assert.Equal(t, 1, y.code)
	assert.Contains(t, y.stdout, "name: config")
}

// A node that predates the Health RPC is checked from the client, through
// the same RPCs and the same evaluation.
func TestHealthChecksFromTheClientWhenTheNodeHasNoHealthRPC(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "health")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "✗ nodes: ")
	assert.Contains(t, r.stdout, "✗ config: want revision 7; worker1 applied revision 6")
	assert.Subset(t, f.seenTargets(), []string{"cp1", "worker1"}, "each alive member's own view is asked for")
}

// With no endpoint answering, every check fails and names why.
func TestHealthWithoutAnEndpointFailsEveryCheck(t *testing.T) {
	isolateHome(t)
	serveFake(t, newFake("cp1")) // for the context's identity

	r := runCLI(t, "-e", deadAddr(t), "health")

	assert.Equal(t, 1, r.code)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 6, r.stdout)
	for i, name := range []string{"nodes", "leader", "raft", "etcd", "kubernetes"} {
		assert.True(t, strings.HasPrefix(lines[i], "✗ "+name+": cannot list members: "), lines[i])
	}
	assert.True(t, strings.HasPrefix(lines[5], "✗ config: cannot read the configuration: "), lines[5])
}
