package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/api"
)

func TestUnknownSubcommandOfEveryGroupIsAnError(t *testing.T) {
	isolateHome(t)
	root := NewRootCommand(Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	var groups [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.HasParent() && c.HasSubCommands() && c.Annotations[annotationGroup] != "" {
			groups = append(groups, path)
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(root, nil)
	require.Subset(t, joinAll(groups), []string{"gen", "config", "cluster", "gossip", "completion"})

	for _, path := range groups {
		r := runCLI(t, append(path, "bogus")...)
		assert.Equal(t, 1, r.code, "%v", path)
		assert.Contains(t, r.stderr, `unknown command "bogus" for "cairnctl `+strings.Join(path, " ")+`"`, "%v", path)
		assert.Empty(t, r.stdout, "no help on stdout for %v", path)
	}

	r := runCLI(t, "gen", "secrets")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `unknown command "secrets" for "cairnctl gen" (cairnctl gen commands: config, etcd-ca)`)

	r = runCLI(t, "config", "aply")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `did you mean "apply"?`)

	help := runCLI(t, "config")
	assert.Equal(t, 0, help.code, "a group alone still prints its help")
	assert.Contains(t, help.stdout, "Available Commands:")
}

func joinAll(paths [][]string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = strings.Join(p, " ")
	}
	return out
}

func TestVersionFailsWhenANodeFailsButPrintsTheOthers(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	f.gone = map[string]bool{"nosuch": true}
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "-n", "cp1,nosuch", "version")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "cp1")
	assert.Contains(t, r.stderr, "server nosuch: not_found: unknown node: nosuch")
	assert.Contains(t, r.stderr, "some nodes failed: 1 of 2")

	js := runCLI(t, "-e", addr, "-n", "nosuch", "version", "-o", "json")
	assert.Equal(t, 1, js.code)
	assert.Contains(t, js.stdout, `"client"`)
}

func TestMembersFailsWhenANodeFailsButPrintsTheOthers(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	f.gone = map[string]bool{"nosuch": true}
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "-n", "cp1,nosuch", "get", "members")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "worker1")
	assert.Contains(t, r.stderr, "nosuch: not_found")
}

func TestClientSendLimitIsTheServersReadLimit(t *testing.T) {
	assert.Equal(t, api.MaxRequestBytes, maxRequestBytes)
}
