package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/resources"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/runtime"
)

// fakeWithResources is a fake node holding an address and a network status.
func fakeWithResources(t *testing.T) string {
	t.Helper()
	f := newFake("cp1")
	f.resources = runtime.NewState()
	for _, r := range []runtime.Resource{
		{Type: controllers.TypeAddresses, ID: "lo/127.0.0.1/8", Spec: map[string]string{"address": "127.0.0.1/8"}},
		{Type: controllers.TypeNetworkStatus, ID: controllers.IDStatus, Spec: map[string]string{"mode": "planned"}},
	} {
		_, err := f.resources.Put(r)
		require.NoError(t, err)
	}
	return serveFake(t, f)
}

func TestGetUnknownTypeFailsNamingTheKnownTypes(t *testing.T) {
	isolateHome(t)
	addr := fakeWithResources(t)

	r := runCLI(t, "-e", addr, "get", "foo")

	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout, "no empty table")
	assert.Contains(t, r.stderr, `unknown resource type "foo"; known types: addresses, `)
	assert.Contains(t, r.stderr, "ReceivedConfig")
	assert.Contains(t, r.stderr, "NetworkStatus")
	assert.Contains(t, r.stderr, "Hint: cluster types: ClusterConfig, EtcdBootstrap, EtcdMembership, Rollout, UpgradePlan; 'cairnctl get rd' lists the resource types")

	perNode := runCLI(t, "-e", addr, "-n", "cp1,cp2", "get", "foo")
	assert.Equal(t, 1, perNode.code)
	assert.Contains(t, perNode.stderr, `cp2: invalid_argument: unknown resource type "foo"`)
	assert.Contains(t, perNode.stderr, "some nodes failed: 2 of 2")
	assert.Contains(t, perNode.stderr, "Hint: cluster types: ClusterConfig, EtcdBootstrap, EtcdMembership, Rollout, UpgradePlan; 'cairnctl get rd'")
}

func TestGetTypeNamesIgnoreCaseAndTakeAliases(t *testing.T) {
	isolateHome(t)
	addr := fakeWithResources(t)

	for _, typ := range []string{"networkstatus", "NetworkStatus", "netstatus", "NETWORKSTATUSES"} {
		r := runCLI(t, "-e", addr, "get", typ)
		require.Equal(t, 0, r.code, "%s: %s", typ, r.stderr)
		assert.Contains(t, r.stdout, "NetworkStatus   status", typ)
	}
	for _, typ := range []string{"addresses", "address", "addr", "Addresses"} {
		r := runCLI(t, "-e", addr, "get", typ, "-o", "json")
		require.Equal(t, 0, r.code, "%s: %s", typ, r.stderr)
		var out struct{ Resources []map[string]any }
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
		require.Len(t, out.Resources, 1, typ)
		assert.Equal(t, controllers.TypeAddresses, out.Resources[0]["type"], typ)
	}
	one := runCLI(t, "-e", addr, "get", "networkStatus", controllers.IDStatus, "-o", "yaml")
	require.Equal(t, 0, one.code, one.stderr)
	assert.Contains(t, one.stdout, "mode: planned")
}

func TestGetSubcommandInAnotherCaseIsAUsageError(t *testing.T) {
	isolateHome(t)
	addr := fakeWithResources(t)

	r := runCLI(t, "-e", addr, "get", "Members")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `"Members" is not a resource type; did you mean 'cairnctl get members'?`)
}

func TestGetResourceDefinitionsListsTypesAliasesAndDescriptions(t *testing.T) {
	isolateHome(t)
	addr := fakeWithResources(t)

	for _, name := range []string{"rd", "resourcedefinitions", "resourcedefinition"} {
		r := runCLI(t, "-e", addr, "get", name)
		require.Equal(t, 0, r.code, "%s: %s", name, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		assert.Equal(t, []string{"SCOPE", "TYPE", "ALIASES", "DESCRIPTION"}, strings.Fields(lines[0]), name)
		assert.Len(t, lines, 1+len(controllers.Definitions())+len(resources.Builtin()), name)
		assert.Equal(t, []string{"node", "addresses", "address,addr,addrs"}, strings.Fields(lines[1])[:3], name)
		assert.Contains(t, r.stdout, "addresses ")
		assert.Contains(t, r.stdout, "address,addr,addrs")
		assert.Contains(t, r.stdout, "IP addresses, as the kernel reports them")
	}

	js := runCLI(t, "-e", addr, "-n", "cp1", "get", "rd", "-o", "json")
	require.Equal(t, 0, js.code, js.stderr)
	var out struct {
		Definitions []struct {
			Node, Scope, Type, Description string
			Aliases                        []string
			Writable                       bool
		}
	}
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &out))
	require.NotEmpty(t, out.Definitions)
	assert.Equal(t, "cp1", out.Definitions[0].Node)
	assert.Equal(t, "node", out.Definitions[0].Scope)
	assert.Equal(t, "addresses", out.Definitions[0].Type)
	assert.Equal(t, []string{"address", "addr", "addrs"}, out.Definitions[0].Aliases)
	scopes := map[string]string{}
	for _, d := range out.Definitions {
		scopes[d.Type] = d.Scope
	}
	assert.Equal(t, "cluster", scopes["ClusterConfig"])
	assert.Equal(t, "node", scopes["ReceivedConfig"])
}

func TestGetRDShowsBothScopes(t *testing.T) {
	isolateHome(t)
	addr := fakeWithResources(t)

	r := runCLI(t, "-e", addr, "get", "rd")

	require.Equal(t, 0, r.code, r.stderr)
	scope := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		f := strings.Fields(l)
		scope[f[1]] = f[0]
	}
	assert.Equal(t, "cluster", scope["ClusterConfig"])
	assert.Equal(t, "node", scope["ReceivedConfig"])
	assert.Equal(t, "node", scope["NetworkStatus"])
}

func TestGetClusterConfigReadsTheClusterResource(t *testing.T) {
	isolateHome(t)
	addr := fakeWithResources(t)

	for _, typ := range []string{"ClusterConfig", "clusterconfig", "cc"} {
		r := runCLI(t, "-e", addr, "get", typ)
		require.Equal(t, 0, r.code, "%s: %s", typ, r.stderr)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		assert.Equal(t, []string{"NODE", "TYPE", "ID", "VERSION"}, strings.Fields(lines[0]), typ)
		assert.Equal(t, []string{"-", "ClusterConfig", "cluster", "7"}, strings.Fields(lines[1]), typ)
	}

	y := runCLI(t, "-e", addr, "get", "ClusterConfig", "cluster", "-o", "yaml")
	require.Equal(t, 0, y.code, y.stderr)
	assert.Contains(t, y.stdout, "type: ClusterConfig")
	assert.Contains(t, y.stdout, "kind: ClusterConfig", "the spec is the config document")
	assert.Contains(t, y.stdout, "version: 1.37.2")
	assert.Contains(t, y.stdout, "updateRevision: 7")

	js := runCLI(t, "-e", addr, "-n", "cp1", "get", "cc", "-o", "json")
	require.Equal(t, 0, js.code, js.stderr)
	var out struct{ Resources []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &out))
	require.Len(t, out.Resources, 1)
	assert.Equal(t, "cp1", out.Resources[0]["node"])
	assert.Equal(t, "ClusterConfig", out.Resources[0]["type"])

	missing := runCLI(t, "-e", addr, "get", "ClusterConfig", "nosuch")
	assert.Equal(t, 1, missing.code)
	assert.Contains(t, missing.stderr, "not_found")
}
