package cli

import (
	"bytes"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEveryCommandIsDocumented(t *testing.T) {
	root := NewRootCommand(Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		assert.NotEmpty(t, c.Short, "%s has no short help", c.CommandPath())
		group := c.Annotations[annotationGroup] != ""
		if c.Runnable() && !group && c.Parent() != nil && c.Parent().Name() != "completion" {
			assert.NotEmpty(t, c.Long, "%s has no long help", c.CommandPath())
			assert.NotEmpty(t, c.Example, "%s has no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := runCLI(t, "completion", shell)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "cairnctl", shell)
	}
}

func TestCommandTree(t *testing.T) {
	root := NewRootCommand(Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	for _, path := range [][]string{
		{"gen", "config"}, {"gen", "etcd-ca"}, {"config", "get"}, {"config", "apply"}, {"config", "edit"}, {"config", "patch"},
		{"config", "new"}, {"config", "pem"},
		{"get", "members"}, {"consensus", "status"}, {"version"}, {"health"},
		{"cluster", "create"}, {"cluster", "show"}, {"cluster", "destroy"},
		{"etcd", "members"}, {"etcd", "status"}, {"etcd", "snapshot"}, {"etcd", "defrag"}, {"etcd", "alarm", "list"},
		{"etcd", "alarm", "disarm"}, {"etcd", "forfeit-leadership"}, {"etcd", "leave"}, {"etcd", "remove-member"},
		{"etcd", "recover"}, {"kubeconfig"},
	} {
		c, rest, err := root.Find(path)
		require.NoError(t, err, path)
		assert.Empty(t, rest, path)
		assert.Equal(t, path[len(path)-1], c.Name())
	}
	for _, f := range []string{"cairnconfig", "context", "endpoints", "nodes", "output", "timeout"} {
		assert.NotNil(t, root.PersistentFlags().Lookup(f), f)
	}
	assert.Equal(t, "e", root.PersistentFlags().Lookup("endpoints").Shorthand)
	assert.Equal(t, "n", root.PersistentFlags().Lookup("nodes").Shorthand)
	assert.Equal(t, "o", root.PersistentFlags().Lookup("output").Shorthand)
}
