package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/machine/boot"
)

// stopGrace is how long destroy waits after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

func newClusterDestroyCommand(g *globals) *cobra.Command {
	var loc clusterLocation
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Remove every node of a local cluster and delete its state",
		Long: `Remove everything the cluster's provisioner made, delete --state/NAME, and
remove the context NAME from the client config. Destroying a cluster that
is half made or half destroyed is safe; run it again after a failure.

docker: the containers, the cluster's network and the nodes' volumes are
removed (the image stays).

process: each node's boot stage is asked to shut down (it stops its cairnd first).
Then every process whose command line refers to --state/NAME, however it
was started (by hand, by an older cairnctl), gets SIGTERM and, after 5
seconds, SIGKILL. The count printed is of processes that really ended. If
any survive, the state is kept and destroy fails, so that it can be run
again.`,
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
		// Its provisioner is unknown: the process one signals whatever
		// refers to the directory; a docker cluster's state.json is
		// written before its first container.
		st = &clusterState{Name: name}
	case err != nil:
		return err
	}
	p, err := provisionerFor(st, provisionerOptions{})
	if err != nil {
		return err
	}
	summary, err := p.destroy(ctx, st, dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove cluster state: %w", err)
	}
	fmt.Fprintf(g.streams.Out, "destroyed cluster %q: %s, removed %s\n", name, summary, dir)
	return removeContext(g, name)
}

// clusterStop is what stopCluster ended.
type clusterStop struct {
	bootStages int   // boot stages that shut down on request
	shutDown   []int // their PIDs and their cairnds'
	signalled  []int // other processes of the cluster, stopped by signal
	survivors  []int // processes still running at the end
}

// stopCluster shuts every node's boot stage down through its socket (in
// parallel: each waits for its cairnd), then signals whatever still refers
// to dir.
func stopCluster(ctx context.Context, st *clusterState, dir string) clusterStop {
	var (
		mu  sync.Mutex
		res clusterStop
		wg  sync.WaitGroup
	)
	for _, n := range st.Nodes {
		wg.Go(func() {
			o := observeNode(ctx, n)
			cctx, cancel := context.WithTimeout(ctx, bootActionTimeout)
			defer cancel()
			if _, err := boot.Call(cctx, n.StateDir, boot.OpShutdown); err != nil {
				return
			}
			waitGone(ctx, []int{o.BootPID}, bootActionTimeout)
			mu.Lock()
			defer mu.Unlock()
			res.bootStages++
			// The answer comes after the cairnd exited; a boot stage still
			// running now is signalled and counted below.
			for _, pid := range []int{o.BootPID, o.PID} {
				if pid != 0 && !processRunning(pid) {
					res.shutDown = append(res.shutDown, pid)
				}
			}
		})
	}
	wg.Wait()
	var rest []int
	for _, p := range processesOf(dir) {
		rest = append(rest, p.pid)
	}
	res.signalled = terminateAll(ctx, rest, dir)
	for _, p := range processesOf(dir) {
		res.survivors = append(res.survivors, p.pid)
	}
	return res
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
