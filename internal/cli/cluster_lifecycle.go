package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/machine/boot"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// lifecycleAction is one of cluster stop, start and restart.
type lifecycleAction string

const (
	lifecycleStop    lifecycleAction = "stop"
	lifecycleStart   lifecycleAction = "start"
	lifecycleRestart lifecycleAction = "restart"
)

// lifecycleHelp is each action's short and long help.
var lifecycleHelp = map[lifecycleAction][2]string{
	lifecycleStop: {"Stop nodes of a local cluster, keeping their boot stages", `Stop the cairnd of each named node (or of every node with --all) through
its boot stage, which stays and waits for 'cluster start'. A cairnd of the
node running outside its boot stage (started by hand) is stopped by signal:
SIGTERM, then SIGKILL after 5 seconds.`},
	lifecycleStart: {"Start stopped nodes of a local cluster", `Start the cairnd of each named node (or of every node with --all) through
its boot stage. A node whose boot stage is gone (killed, or the machine
rebooted) gets a new one, started in the background as 'cluster create'
does, with the binary recorded at create time unless --cairnd says
otherwise. A running node is left alone. A node with a cairnd running
outside its boot stage is refused: 'cluster restart' replaces it.`},
	lifecycleRestart: {"Restart nodes of a local cluster", `Restart the cairnd of each named node (or of every node with --all), one
after the other (with --wait, each once the one before answers again),
through its boot stage: it stops the running cairnd and
starts it again at once, with the same flags and whatever binary is at its
path now (so 'make build' then 'cluster restart --all' runs the new one).
A node without a boot stage gets one, as with 'cluster start'; a cairnd of
the node running outside its boot stage is stopped by signal first.`},
}

type lifecycleOptions struct {
	loc         clusterLocation
	all         bool
	wait        bool
	waitTimeout time.Duration
	cairnd      string
}

func newClusterLifecycleCommand(g *globals, action lifecycleAction) *cobra.Command {
	var o lifecycleOptions
	help := lifecycleHelp[action]
	cmd := &cobra.Command{
		Use:     string(action) + " NODE...|--all",
		Short:   help[0],
		Long:    help[1],
		Example: fmt.Sprintf("  cairnctl cluster %[1]s cp1\n  cairnctl cluster %[1]s --all --name dev", action),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLifecycle(cmd.Context(), g, action, o, args)
		},
	}
	o.loc.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.all, "all", false, "act on every node of the cluster")
	if action != lifecycleStop {
		cmd.Example += fmt.Sprintf("\n  cairnctl cluster %s worker1 --wait", action)
		f.BoolVar(&o.wait, "wait", false, "wait until each node's API answers again before the next node")
		f.DurationVar(&o.waitTimeout, "wait-timeout", 60*time.Second, "how long --wait waits for each node")
		f.StringVar(&o.cairnd, "cairnd", "", "cairnd binary for nodes that need a new boot stage (default: the one the cluster was created with)")
		_ = cmd.MarkFlagFilename("cairnd")
	}
	return cmd
}

func runLifecycle(ctx context.Context, g *globals, action lifecycleAction, o lifecycleOptions, names []string) error {
	if o.all == (len(names) > 0) {
		return fmt.Errorf("%w: name the nodes to %s, or pass --all", ErrUsage, action)
	}
	dir, err := o.loc.dir()
	if err != nil {
		return err
	}
	st, err := readState(dir)
	if err != nil {
		return err
	}
	if st.ConfigFile == "" { // state.json written by an older cairnctl
		st.ConfigFile = filepath.Join(dir, clusterConfigFile)
	}
	nodes, err := pickNodes(st, names, o.all)
	if err != nil {
		return err
	}
	p, err := provisionerFor(st, provisionerOptions{cairnd: o.cairnd})
	if err != nil {
		return err
	}
	var failed []string
	for _, n := range nodes {
		msg, err := p.act(ctx, st, action, n)
		if err != nil {
			fmt.Fprintf(g.streams.Err, "%s: %v\n", n.Name, err)
			failed = append(failed, n.Name)
			continue
		}
		fmt.Fprintf(g.streams.Out, "%s: %s\n", n.Name, msg)
		// Waiting node by node makes restart --all --wait a rolling
		// restart: the next node stops only once this one answers.
		if o.wait {
			if err := waitNodeAPI(ctx, g, dir, st, n, o.waitTimeout); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %s", ErrNodeFailed, strings.Join(failed, ", "))
	}
	return nil
}

// pickNodes returns the named nodes of st, or all with all; an unknown
// name fails before anything is done.
func pickNodes(st *clusterState, names []string, all bool) ([]nodeState, error) {
	if all {
		return st.Nodes, nil
	}
	var out []nodeState
	for _, name := range names {
		n, ok := st.node(name)
		if !ok {
			known := make([]string, len(st.Nodes))
			for i, n := range st.Nodes {
				known[i] = n.Name
			}
			return nil, fmt.Errorf("%w %q in cluster %q (its nodes: %s)", ErrUnknownNode, name, st.Name, strings.Join(known, ", "))
		}
		if !slices.ContainsFunc(out, func(o nodeState) bool { return o.Name == name }) {
			out = append(out, n)
		}
	}
	return out, nil
}

// lifecycle acts on the nodes of one process cluster through their boot
// stages.
type lifecycle struct {
	st         *clusterState
	cairndFlag string
	cairnd     string // resolved on first need
}

// act performs action on n and says what it did.
func (l *lifecycle) act(ctx context.Context, action lifecycleAction, n nodeState) (string, error) {
	o := observeNode(ctx, n)
	if o.State == stateUnreachable {
		return "", fmt.Errorf("boot stage pid %d does not answer on %s", o.BootPID, boot.SocketPath(n.StateDir))
	}
	var done []string
	if len(o.Unsupervised) > 0 {
		if action == lifecycleStart {
			return "", fmt.Errorf("cairnd pids %v run outside the node's boot stage; 'cluster restart %s' replaces them", o.Unsupervised, n.Name)
		}
		gone := terminateAll(ctx, o.Unsupervised, n.StateDir)
		done = append(done, fmt.Sprintf("stopped pids %v running outside the boot stage", gone))
	}
	msg, err := l.actOnBoot(ctx, action, n, o)
	if err != nil {
		return "", err
	}
	return strings.Join(append(done, msg), "; "), nil
}

// actOnBoot performs action through n's boot stage, starting one if none
// runs and the action needs a cairnd.
func (l *lifecycle) actOnBoot(ctx context.Context, action lifecycleAction, n nodeState, o observedNode) (string, error) {
	if o.BootPID == 0 {
		if action == lifecycleStop {
			return "already down (no boot stage runs)", nil
		}
		cairnd, err := l.binary()
		if err != nil {
			return "", err
		}
		bs, err := startBoot(ctx, cairnd, l.st, n)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("started boot stage pid %d, cairnd pid %d (%s)", bs.PID, bs.ChildPID, bs.State), nil
	}
	op := map[lifecycleAction]boot.Op{lifecycleStop: boot.OpStop, lifecycleStart: boot.OpStart, lifecycleRestart: boot.OpRestart}[action]
	cctx, cancel := context.WithTimeout(ctx, bootActionTimeout)
	defer cancel()
	bs, err := boot.Call(cctx, n.StateDir, op)
	if err != nil {
		return "", err
	}
	switch {
	case action == lifecycleStop && o.State == stateStopped:
		return "already stopped", nil
	case action == lifecycleStop:
		if o.PID == 0 {
			return "stopped (it was in " + o.State + ")", nil
		}
		return fmt.Sprintf("stopped cairnd pid %d (%s)", o.PID, bs.LastExit), nil
	case action == lifecycleStart && o.State == stateRunning:
		return fmt.Sprintf("already running (cairnd pid %d)", bs.ChildPID), nil
	case action == lifecycleRestart && o.PID != 0:
		return fmt.Sprintf("restarted: cairnd pid %d -> %d", o.PID, bs.ChildPID), nil
	}
	return fmt.Sprintf("started cairnd pid %d", bs.ChildPID), nil
}

// binary is the cairnd to start new boot stages with.
func (l *lifecycle) binary() (string, error) {
	if l.cairnd != "" {
		return l.cairnd, nil
	}
	flag := l.cairndFlag
	if flag == "" {
		flag = l.st.Cairnd
	}
	c, err := findCairnd(flag)
	if err != nil {
		return "", err
	}
	l.cairnd = c
	return c, nil
}

// waitNodeAPI waits until n answers Version as itself, through the
// cluster's own admin context (--state/NAME/cairnconfig).
func waitNodeAPI(ctx context.Context, g *globals, dir string, st *clusterState, n nodeState, timeout time.Duration) error {
	cc, err := ReadClientConfig(filepath.Join(dir, clientConfigFile))
	if err != nil {
		return err
	}
	admin, _, err := cc.Selected(st.Name)
	if err != nil {
		return err
	}
	if admin == nil {
		return fmt.Errorf("%w in %s", ErrNoClientCert, filepath.Join(dir, clientConfigFile))
	}
	tlsCfg, err := admin.tlsConfig(time.Now())
	if err != nil {
		return err
	}
	c := newAPIClient([]string{n.APIAddress}, min(g.timeout, healthRequestTimeout), tlsCfg)
	defer c.Close()
	if err := waitVersion(ctx, c, n.Name, time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("%w: %s did not answer in %s: %w", ErrUnhealthy, n.Name, timeout, err)
	}
	fmt.Fprintf(g.streams.Out, "%s: API answers on %s\n", n.Name, n.APIAddress)
	return nil
}

// waitVersion polls Version on c's one endpoint until it names node.
func waitVersion(ctx context.Context, c *apiClient, node string, deadline time.Time) error {
	for {
		var got string
		err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
			res, err := ep.machine.Version(ctx, request(&machinev1.VersionRequest{}, ""))
			if err == nil {
				got = res.Msg.GetNodeName()
			}
			return err
		})
		if err == nil && got == node {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%s answers as %q", node, got)
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(healthPollInterval, time.Until(deadline))):
		}
	}
}
