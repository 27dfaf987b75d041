package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// processProvisioner runs each node as a cairnd process under its own
// boot stage ('cairnd boot'), on the node's loopback address 127.0.N.M.
// The boot stage's control socket (STATE/boot.sock) and a /proc scan are
// the truth about what runs (cluster_node.go).
type processProvisioner struct {
	cairndFlag string
	cairnd     string // resolved on first need
}

// plan keeps the generator's loopback plan: node i on 127.0.N.i.
func (*processProvisioner) plan(context.Context, *clusterPlan) error { return nil }

// create starts each node's boot stage, which runs its cairnd.
func (pp *processProvisioner) create(ctx context.Context, p *clusterPlan, cfg *config.Config, st *clusterState) error {
	st.Cairnd = p.Cairnd
	for i, n := range cfg.Nodes {
		ns := nodeState{
			Name: n.Name, Role: string(n.Role), APIAddress: p.hostAPIFor(i, &cfg.Nodes[i]),
			LogFile:  filepath.Join(p.Dir, "logs", n.Name+".log"),
			StateDir: filepath.Join(p.Dir, "nodes", n.Name),
		}
		for _, d := range []string{filepath.Dir(ns.LogFile), ns.StateDir} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", d, err)
			}
		}
		if _, err := startDetached(p.Cairnd, bootArgs(st, ns), ns.LogFile); err != nil {
			return err
		}
		st.Nodes = append(st.Nodes, ns)
	}
	return nil
}

func (*processProvisioner) observe(ctx context.Context, st *clusterState) []observedNode {
	return observeNodes(ctx, st)
}

// act acts through the node's boot stage, starting one if none runs.
func (pp *processProvisioner) act(ctx context.Context, st *clusterState, action lifecycleAction, n nodeState) (string, error) {
	l := lifecycle{st: st, cairndFlag: pp.cairndFlag, cairnd: pp.cairnd}
	msg, err := l.act(ctx, action, n)
	pp.cairnd = l.cairnd
	return msg, err
}

// destroy shuts every boot stage down, then signals whatever still refers
// to dir (a cairnd started by hand, an older cairnctl's).
func (*processProvisioner) destroy(ctx context.Context, st *clusterState, dir string) (string, error) {
	s := stopCluster(ctx, st, dir)
	if len(s.survivors) > 0 {
		return "", fmt.Errorf("%w: pids %v still run after SIGKILL; %s is kept, run destroy again",
			ErrProcessesSurvived, s.survivors, dir)
	}
	total := len(s.shutDown) + len(s.signalled)
	return fmt.Sprintf("stopped %d %s (%d by shutting down %d boot %s, %d by signal)",
		total, plural(total, "process", "processes"), len(s.shutDown),
		s.bootStages, plural(s.bootStages, "stage", "stages"), len(s.signalled)), nil
}

// logTail reads the end of the node's log file, where its boot stage and
// cairnd write.
func (*processProvisioner) logTail(_ context.Context, _ *clusterState, n nodeState, lines int) ([]string, error) {
	if n.LogFile == "" {
		return nil, errors.New("no log file recorded")
	}
	return tailFile(n.LogFile, lines)
}
