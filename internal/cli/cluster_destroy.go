package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
)

// stopGrace is how long destroy waits after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

func newClusterDestroyCommand(g *globals) *cobra.Command {
	var loc clusterLocation
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Stop a local cluster and delete its state",
		Long: `Stop every node process of a local cluster (SIGTERM, then SIGKILL after
5 seconds), delete --state/NAME, and remove the context NAME from the client
config.`,
		Example: `  cairnctl cluster destroy
  cairnctl cluster destroy --name dev`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := loc.dir()
			if err != nil {
				return err
			}
			return runClusterDestroy(cmd.Context(), g, loc.name, dir)
		},
	}
	loc.register(cmd)
	return cmd
}

func runClusterDestroy(ctx context.Context, g *globals, name, dir string) error {
	st, err := readState(dir)
	switch {
	case errors.Is(err, ErrClusterNotFound):
		// A create that failed before writing state.json leaves only files.
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("%w: no cluster %q under %s", ErrClusterNotFound, name, filepath.Dir(dir))
		}
		st = &clusterState{Name: name}
	case err != nil:
		return err
	}
	stopped := stopNodes(ctx, st)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove cluster state: %w", err)
	}
	fmt.Fprintf(g.streams.Out, "destroyed cluster %q: stopped %d %s, removed %s\n",
		name, stopped, plural(stopped, "node", "nodes"), dir)
	return removeContext(g, name)
}

// stopNodes sends SIGTERM to every running node, waits up to stopGrace for
// them to exit, then kills the rest. It returns how many it stopped.
func stopNodes(ctx context.Context, st *clusterState) int {
	var running []nodeState
	for _, n := range st.Nodes {
		if processRunning(n.PID) && processIsNode(n.PID, n.StateDir) && terminate(n.PID) == nil {
			running = append(running, n)
		}
	}
	deadline := time.Now().Add(stopGrace)
	for len(stillRunning(running)) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, n := range stillRunning(running) {
		_ = kill(n.PID)
	}
	killDeadline := time.Now().Add(time.Second)
	for len(stillRunning(running)) > 0 && time.Now().Before(killDeadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return len(running)
}

func stillRunning(nodes []nodeState) []nodeState {
	var out []nodeState
	for _, n := range nodes {
		if processRunning(n.PID) {
			out = append(out, n)
		}
	}
	return out
}

// removeContext deletes the cluster's context from the client config the
// global flags select, if it is there.
func removeContext(g *globals, name string) error {
	path, err := g.clientConfigPath()
	if err != nil {
		return err
	}
	cc, err := ReadClientConfig(path)
	if err != nil {
		return err
	}
	if !cc.Remove(name) {
		return nil
	}
	if err := WriteClientConfig(path, cc); err != nil {
		return err
	}
	fmt.Fprintf(g.streams.Out, "removed context %q from %s\n", name, path)
	return nil
}
