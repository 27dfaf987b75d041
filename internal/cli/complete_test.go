package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// completions runs cobra's hidden __complete command as a shell would and
// returns the offered words (the last line is cobra's directive).
func completions(t *testing.T, args ...string) []string {
	t.Helper()
	r := runCLI(t, append([]string{"__complete"}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.NotEmpty(t, lines)
	require.True(t, strings.HasPrefix(lines[len(lines)-1], ":"), "cobra's directive last: %q", r.stdout)
	return lines[:len(lines)-1]
}

// -n completes the members the endpoint reports, in the last element of a
// comma list, without the names already typed.
func TestCompleteNodes(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))
	assert.Equal(t, []string{"cp1", "worker1"}, completions(t, "-e", addr, "version", "-n", ""))
	assert.Equal(t, []string{"worker1"}, completions(t, "-e", addr, "version", "-n", "w"))
	assert.Equal(t, []string{"cp1,worker1"}, completions(t, "-e", addr, "version", "-n", "cp1,"))
	assert.Empty(t, completions(t, "-e", addr, "version", "-n", "nosuch"))
}

// Without a cluster that answers, -n offers the current context's nodes.
func TestCompleteNodesOffline(t *testing.T) {
	home := isolateHome(t)
	path := filepath.Join(home, "offline.yaml")
	cc := &ClientConfig{}
	cc.Merge("offline", Context{Endpoints: []string{deadAddr(t)}, Nodes: []string{"cp2", "cp1"}}, true)
	require.NoError(t, WriteClientConfig(path, cc))
	assert.Equal(t, []string{"cp1", "cp2"}, completions(t, "--cairnconfig", path, "version", "-n", ""))
}

// get TYPE completes both scopes' types and their aliases, and get's own
// subcommands.
func TestCompleteTypes(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))
	got := completions(t, "-e", addr, "get", "")
	for _, want := range []string{"members", "resourcedefinitions", "ClusterConfig", "cc"} {
		assert.Contains(t, got, want)
	}
	assert.Equal(t, []string{"ClusterConfig", "clusterconfigs"}, completions(t, "-e", addr, "get", "clusterc"), "the name and its plural alias, matched ignoring case")
	assert.Empty(t, completions(t, "-e", addr, "get", "ClusterConfig", ""), "no second type")
}

// service restart and logs complete the services of the endpoint's node,
// or of the node -n names.
func TestCompleteServices(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	f.services = map[string][]string{"": {"cairnd", "etcd", "kubelet"}, "worker1": {"cairnd", "containerd", "kubelet"}}
	addr := serveFake(t, f)
	assert.Equal(t, []string{"cairnd", "etcd", "kubelet"}, completions(t, "-e", addr, "service", "restart", ""))
	assert.Equal(t, []string{"kubelet"}, completions(t, "-e", addr, "logs", "k"))
	assert.Equal(t, []string{"containerd"}, completions(t, "-e", addr, "-n", "worker1", "logs", "co"))
}

// -o jsonpath= applies kubectl's template to the -o json document, with or
// without braces; a template that does not parse is a usage error.
func TestOutputJSONPath(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))
	r := runCLI(t, "-e", addr, "get", "members", "-o", "jsonpath={.members[*].name}")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "cp1 worker1\n", r.stdout)
	r = runCLI(t, "-e", addr, "get", "members", "-o", `jsonpath={range .members[*]}{.name}={.appliedConfigRevision}{"\n"}{end}`)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "cp1=7\nworker1=6\n", r.stdout)
	r = runCLI(t, "-e", addr, "get", "members", "-o", "jsonpath=.members[0].role")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "ROLE_CONTROLPLANE\n", r.stdout)
	r = runCLI(t, "-e", addr, "get", "members", "-o", "jsonpath={.members[")
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "jsonpath")
}

// -o wide is the table with more columns where a command has them.
func TestOutputWide(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	f.members[0].RaftAddress, f.members[0].GossipAddress, f.members[0].Slot = "127.0.0.1:6442", "127.0.0.1:6441", "B"
	addr := serveFake(t, f)
	r := runCLI(t, "-e", addr, "get", "members", "-o", "wide")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	head := strings.Fields(lines[0])
	assert.Equal(t, []string{"RAFT-ADDRESS", "GOSSIP-ADDRESS", "SLOT"}, head[len(head)-3:])
	row := strings.Fields(lines[1])
	assert.Equal(t, []string{"127.0.0.1:6442", "127.0.0.1:6441", "B"}, row[len(row)-3:])
	r = runCLI(t, "-e", addr, "get", "members")
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "RAFT-ADDRESS", "not without -o wide")
}
