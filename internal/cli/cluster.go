package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// defaultClusterName is the name cluster commands use without --name.
const defaultClusterName = "local"

// clusterLocation are the flags that locate a local cluster's state.
type clusterLocation struct {
	name     string
	stateDir string
}

func (l *clusterLocation) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&l.name, "name", defaultClusterName, "cluster name")
	cmd.Flags().StringVar(&l.stateDir, "state", "", "directory holding local clusters (default $HOME/.cairn/clusters)")
	_ = cmd.MarkFlagDirname("state")
}

// dir returns the absolute directory of the named cluster's state.
func (l *clusterLocation) dir() (string, error) {
	root := l.stateDir
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locate the cluster state: %w", err)
		}
		root = filepath.Join(home, ".cairn", "clusters")
	}
	if l.name == "" || l.name != filepath.Base(l.name) || l.name == "." || l.name == ".." {
		return "", fmt.Errorf("%w: --name %q is not a plain name", ErrUsage, l.name)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("locate the cluster state: %w", err)
	}
	return filepath.Join(root, l.name), nil
}

func newClusterCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run local clusters of cairnd processes, containers or VMs",
		Long: `Create, show, stop, start, restart, destroy and read the logs of local
clusters. Each node's API is reached on a loopback address of its own,
127.0.N.M with the default ports, as on real hosts, whatever the node is
('cluster create --provisioner'):

  process  one cairnd process per node (the default). Each runs under its
           boot stage ('cairnd boot'), a parent of its own that restarts
           it after a crash and through which stop, start, restart and
           destroy act.
  docker   one container per node from the cairnd image, on a private
           Docker network, its API published on 127.0.N.M.
  qemu     one VM per node, its API forwarded from 127.0.N.M.

State (configuration, node data, logs, sockets) lives in --state/NAME; its
state.json records the provisioner, so the other commands need no flag.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newClusterCreateCommand(g), newClusterShowCommand(g), newClusterDestroyCommand(g),
		newClusterLifecycleCommand(g, lifecycleStop), newClusterLifecycleCommand(g, lifecycleStart),
		newClusterLifecycleCommand(g, lifecycleRestart), newClusterLogsCommand(g))
	return cmd
}

// destroyCommand is the command line that removes this cluster, for hints.
func (l *clusterLocation) destroyCommand() string { return l.command("destroy") }

// command is the command line of 'cairnctl cluster SUB' for this cluster,
// for hints.
func (l *clusterLocation) command(sub string) string {
	cmd := "cairnctl cluster " + sub + " --name " + l.name
	if l.stateDir != "" {
		cmd += " --state " + l.stateDir
	}
	return cmd
}
