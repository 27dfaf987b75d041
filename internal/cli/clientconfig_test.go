package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientConfigRoundTripIsOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "config")
	c := &ClientConfig{}
	c.Merge("a", Context{Endpoints: []string{"127.0.0.1:6440"}, Nodes: []string{"cp1"}}, false)

	require.NoError(t, WriteClientConfig(path, c))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "context: a\ncontexts:\n  a:\n    endpoints:\n    - 127.0.0.1:6440\n    nodes:\n    - cp1\n", string(data))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	back, err := ReadClientConfig(path)
	require.NoError(t, err)
	assert.Equal(t, c, back)
}

func TestReadClientConfigMissingIsEmptyAndUnknownFieldsFail(t *testing.T) {
	dir := t.TempDir()
	c, err := ReadClientConfig(filepath.Join(dir, "none"))
	require.NoError(t, err)
	assert.Equal(t, &ClientConfig{}, c)

	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("contexts:\n  a:\n    endpoint: [x]\n"), 0o600))
	_, err = ReadClientConfig(bad)
	require.Error(t, err)
}

func TestClientConfigMergeAndRemove(t *testing.T) {
	c := &ClientConfig{}
	c.Merge("a", Context{Endpoints: []string{"a:1"}}, false)
	assert.Equal(t, "a", c.Context, "the first context becomes current")
	c.Merge("b", Context{Endpoints: []string{"b:1"}}, false)
	assert.Equal(t, "a", c.Context)
	c.Merge("b", Context{Endpoints: []string{"b:2"}}, true)
	assert.Equal(t, "b", c.Context)
	assert.Equal(t, []string{"b:2"}, c.Contexts["b"].Endpoints, "merging replaces a context of the same name")

	assert.True(t, c.Remove("b"))
	assert.Empty(t, c.Context, "removing the current context leaves none current")
	assert.False(t, c.Remove("b"))
	assert.Equal(t, []string{"a"}, c.contextNames())
}

func TestResolveTargetPrecedence(t *testing.T) {
	c := &ClientConfig{Context: "a", Contexts: map[string]*Context{
		"a": {Endpoints: []string{"10.0.0.1", "10.0.0.2:7000"}, Nodes: []string{"cp1"}},
		"b": {Endpoints: []string{"10.0.1.1:6440"}},
	}}
	for _, tc := range []struct {
		name              string
		context           string
		endpoints, nodes  []string
		wantEPs, wantNode []string
	}{
		{"current context, default port added", "", nil, nil, []string{"10.0.0.1:6440", "10.0.0.2:7000"}, []string{"cp1"}},
		{"--context", "b", nil, nil, []string{"10.0.1.1:6440"}, nil},
		{"flags override the context", "", []string{"h:1", " ", "h:1"}, []string{"w1", "w2"}, []string{"h:1"}, []string{"w1", "w2"}},
		{"ipv6 without port", "b", []string{"::1", "[fe80::1]"}, nil, []string{"[::1]:6440", "[fe80::1]:6440"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveTarget(c, "cfg", tc.context, tc.endpoints, tc.nodes)
			require.NoError(t, err)
			assert.Equal(t, tc.wantEPs, got.endpoints)
			assert.Equal(t, tc.wantNode, got.nodes)
		})
	}
}

func TestResolveTargetErrors(t *testing.T) {
	c := &ClientConfig{Contexts: map[string]*Context{"empty": {}}}

	_, err := resolveTarget(c, "cfg", "nope", nil, nil)
	require.ErrorIs(t, err, ErrUnknownContext)
	_, err = resolveTarget(c, "cfg", "", nil, nil)
	require.ErrorIs(t, err, ErrNoEndpoints)
	_, err = resolveTarget(c, "cfg", "empty", nil, nil)
	require.ErrorIs(t, err, ErrNoEndpoints)
	got, err := resolveTarget(c, "cfg", "", []string{"x:1"}, nil)
	require.NoError(t, err, "--endpoints works without any context")
	assert.Equal(t, []string{"x:1"}, got.endpoints)
}

func TestClientConfigPathResolution(t *testing.T) {
	home := isolateHome(t)
	g := &globals{}
	p, err := g.clientConfigPath()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(home, ".cairn", "config"), p)

	t.Setenv(EnvCairnconfig, "/env/config")
	p, err = g.clientConfigPath()
	require.NoError(t, err)
	assert.Equal(t, "/env/config", p)

	g.cairnconfig = "/flag/config"
	p, err = g.clientConfigPath()
	require.NoError(t, err)
	assert.Equal(t, "/flag/config", p)
}

func TestContextFlagSelectsFromTheFile(t *testing.T) {
	isolateHome(t)
	a, b := newFake("a"), newFake("b")
	addrA, addrB := serveFake(t, a), serveFake(t, b)
	path := filepath.Join(t.TempDir(), "config")
	c := &ClientConfig{}
	p := getPKI(t)
	c.Merge("a", p.adminContext(addrA), true)
	c.Merge("b", p.adminContext(addrB), false)
	require.NoError(t, WriteClientConfig(path, c))

	r := runCLI(t, "--cairnconfig", path, "--context", "b", "version")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Len(t, b.seenTargets(), 1)
	assert.Empty(t, a.seenTargets())
}
