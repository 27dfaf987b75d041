package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// powerPoll is the pause between Version probes while waiting for a node
// to come back.
const powerPoll = 250 * time.Millisecond

// powerOp is what reboot, shutdown and reset share: one call per node that
// answers with the boot ID it ends.
type powerOp struct {
	verb string // "reboot", for messages: "reboot requested"
	call func(ctx context.Context, ep endpoint, node string) (powerAnswer, error)
	// callTimeout, when longer than --timeout, is how long the call may
	// take: a graceful reset leaves etcd and Raft before it answers.
	callTimeout time.Duration
}

// resetCallTimeout covers a graceful reset's answer: the node gives
// leaving etcd, Raft and gossip 30 s (node/api's leaveTimeout), a
// forwarded call a little more.
const resetCallTimeout = 45 * time.Second

// powerAnswer is a node's answer to a power call.
type powerAnswer struct {
	nodeName, bootID string
	detail           string // what else the node said (reset: state, left)
}

type powerWait struct {
	wait    bool
	timeout time.Duration
}

func (w *powerWait) register(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVar(&w.wait, "wait", false, "wait until each node is back ("+what+") and the cluster is healthy; nodes go one at a time")
	cmd.Flags().DurationVar(&w.timeout, "wait-timeout", 3*time.Minute, "how long --wait waits for each node")
}

func newRebootCommand(g *globals) *cobra.Command {
	var w powerWait
	cmd := &cobra.Command{
		Use:   "reboot",
		Short: "Reboot the endpoint's node or each node named",
		Long: `Reboot each node: it stops its services (in reverse dependency order) and
its API, then restarts the machine with its state, and rejoins the
cluster as the member it was. As PID 1 that is reboot(2); in a container
cairnd exits for the container runtime to restart it; in process mode
cairnd exits for its boot stage, which starts it again at once (the host
is not rebooted). Needs os:admin.

The node answers before it goes down. With --wait, nodes are rebooted one
at a time, each once the one before is back (Version answers with a new
boot ID) and the cluster is healthy again ('cairnctl health' checks), so
'-n cp1,cp2,cp3 --wait' is a rolling reboot; --wait-timeout bounds each
node. Without --wait, every node named is asked at once.`,
		Example: `  cairnctl -n worker1 reboot
  cairnctl -n cp1,cp2,cp3 reboot --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPower(cmd.Context(), g, powerOp{verb: "reboot", call: func(ctx context.Context, ep endpoint, node string) (powerAnswer, error) {
				res, err := ep.machine.Reboot(ctx, request(&machinev1.RebootRequest{}, node))
				if err != nil {
					return powerAnswer{}, err
				}
				return powerAnswer{nodeName: res.Msg.GetNodeName(), bootID: res.Msg.GetBootId()}, nil
			}}, w, false)
		},
	}
	w.register(cmd, "a new boot ID")
	return cmd
}

func newShutdownCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "shutdown",
		Short: "Power off the endpoint's node or each node named",
		Long: `Shut each node down: it stops its services and its API, then powers the
machine off (reboot(2) with RB_POWER_OFF as PID 1). In a container and in
process mode cairnd exits 0, which neither a restart policy of on-failure
nor the boot stage restarts; 'cairnctl cluster start NODE' starts a
process-mode node again. The node keeps its state, and the cluster counts
it as down (a control plane is still a voter until the autopilot's dead
grace removes it). Needs os:admin.`,
		Example: `  cairnctl -n worker2 shutdown
  cairnctl cluster start worker2   # process mode: start it again`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPower(cmd.Context(), g, powerOp{verb: "shutdown", call: func(ctx context.Context, ep endpoint, node string) (powerAnswer, error) {
				res, err := ep.machine.Shutdown(ctx, request(&machinev1.ShutdownRequest{}, node))
				if err != nil {
					return powerAnswer{}, err
				}
				return powerAnswer{nodeName: res.Msg.GetNodeName(), bootID: res.Msg.GetBootId()}, nil
			}}, powerWait{}, false)
		},
	}
}

func newResetCommand(g *globals) *cobra.Command {
	var w powerWait
	graceful, reboot := true, true
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Wipe each node named and bring it back as a new member",
		Long: `Reset each node named with -n: it leaves the cluster, wipes its state
(Raft data, identity, logs, state ID: everything in its state directory)
and reboots, or powers off with --reboot=false, so that it comes back as a
new member with a new state ID. Needs os:admin.

Graceful (the default): a control plane first asks the leader to remove it
from Raft — refused, and nothing is wiped, when the voters left would not
be a quorum — and every node leaves gossip; the call answers once the node
has left. --graceful=false wipes at once, for a node that cannot leave (no
leader, lost quorum): the cluster then drops the old member itself.

Like 'talosctl reset', it does not ask for confirmation, so scripts behave
the same at a terminal and in CI; as a guard it refuses to run without
nodes named (-n, or nodes in the context), so that it never resets the
endpoint by default. With --wait, nodes are reset one at a time, each once
the one before is back (a new boot ID) and the cluster is healthy again.`,
		Example: `  cairnctl -n worker1 reset --wait
  cairnctl -n cp3 reset --graceful=false
  cairnctl -n worker2 reset --reboot=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &machinev1.ResetRequest{Graceful: &graceful, Reboot: &reboot}
			if w.wait && !reboot {
				return fmt.Errorf("%w: --wait waits for the node to come back, which --reboot=false rules out", ErrUsage)
			}
			return runPower(cmd.Context(), g, powerOp{verb: "reset", callTimeout: resetCallTimeout, call: func(ctx context.Context, ep endpoint, node string) (powerAnswer, error) {
				res, err := ep.machine.Reset(ctx, request(req, node))
				if err != nil {
					return powerAnswer{}, err
				}
				return powerAnswer{nodeName: res.Msg.GetNodeName(), bootID: res.Msg.GetBootId(), detail: resetDetail(res.Msg)}, nil
			}}, w, true)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&graceful, "graceful", true, "leave etcd and Raft (control planes) and gossip before wiping; refused when leaving etcd would cost its quorum")
	f.BoolVar(&reboot, "reboot", true, "reboot after the wipe; false powers the node off")
	w.register(cmd, "a new boot ID, as a new member")
	return cmd
}

// resetDetail says what a reset did before the node went down.
func resetDetail(r *machinev1.ResetResponse) string {
	var parts []string
	if r.GetLeftEtcd() {
		parts = append(parts, "left etcd")
	}
	if r.GetLeftRaft() {
		parts = append(parts, "left raft")
	}
	if r.GetLeftGossip() {
		parts = append(parts, "left gossip")
	}
	if r.GetStateId() != "" {
		parts = append(parts, "wiping state "+r.GetStateId())
	}
	return strings.Join(parts, ", ")
}

// runPower asks every target node at once, or with --wait one at a time,
// each waited for.
func runPower(ctx context.Context, g *globals, op powerOp, w powerWait, needNodes bool) error {
	c, t, err := g.clientTimeout(max(g.timeout, op.callTimeout))
	if err != nil {
		return err
	}
	defer c.Close()
	if needNodes && len(t.nodes) == 0 {
		return fmt.Errorf("%w: %s needs the nodes named (-n NODE); it does not act on the endpoint by default", ErrUsage, op.verb)
	}
	if !w.wait {
		results := fanOut(ctx, c, t.nodes, op.call)
		if err := endpointError(results); err != nil {
			return err
		}
		for _, r := range results {
			if r.err == nil {
				printPowerAnswer(g.streams.Out, op.verb, r.val)
			}
		}
		return nodeErrors(g.streams.Err, results)
	}
	nodes := t.nodes
	if len(nodes) == 0 {
		nodes = []string{""}
	}
	for _, node := range nodes {
		if err := powerAndWait(ctx, g, c, op, node, w.timeout); err != nil {
			return fmt.Errorf("%s: %w", nodeLabel(node), err)
		}
	}
	return nil
}

func printPowerAnswer(out io.Writer, verb string, a powerAnswer) {
	line := fmt.Sprintf("%s: %s requested (boot %s)", a.nodeName, verb, shortID(a.bootID))
	if a.detail != "" {
		line += ": " + a.detail
	}
	fmt.Fprintln(out, line)
}

// powerAndWait asks one node, then waits until it answers with a new boot
// ID and the cluster is healthy, within timeout.
func powerAndWait(ctx context.Context, g *globals, c *apiClient, op powerOp, node string, timeout time.Duration) error {
	start := time.Now()
	deadline := start.Add(timeout)
	var a powerAnswer
	err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		var err error
		a, err = op.call(ctx, ep, node)
		return err
	})
	if err != nil {
		return err
	}
	printPowerAnswer(g.streams.Out, op.verb, a)
	if node == "" {
		node = a.nodeName // the endpoint's own node: follow it by name
	}
	fmt.Fprintf(g.streams.Out, "%s: waiting for the node to come back\n", a.nodeName)
	boot, err := waitNewBoot(ctx, c, node, a.bootID, deadline)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.streams.Out, "%s: back after %s (boot %s)\n", a.nodeName, time.Since(start).Round(100*time.Millisecond), shortID(boot))
	_, err = waitHealthy(ctx, c, g.streams.Out, healthWait{
		wait: true, timeout: time.Until(deadline), what: a.nodeName + " to rejoin and the cluster to become healthy",
	})
	return err
}

// waitNewBoot probes Version until node answers with a boot ID other than
// old. Failures are expected while it is down (refused, unknown to gossip,
// proxy errors) and are retried until deadline, when the last one is
// returned.
func waitNewBoot(ctx context.Context, c *apiClient, node, old string, deadline time.Time) (string, error) {
	var last error
	for {
		var boot string
		err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
			res, err := ep.machine.Version(ctx, request(&machinev1.VersionRequest{}, node))
			if err == nil {
				boot = res.Msg.GetBootId()
			}
			return err
		})
		switch {
		case err == nil && boot != old:
			return boot, nil
		case err == nil:
			last = fmt.Errorf("%w: still boot %s", ErrNotBack, shortID(old))
		default:
			last = err
		}
		if !time.Now().Before(deadline) {
			return "", fmt.Errorf("%w: %w", ErrNotBack, last)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(min(powerPoll, time.Until(deadline))):
		}
	}
}

// shortID is the first 8 characters of an ID, for progress lines.
func shortID(id string) string {
	if id == "" {
		return "-"
	}
	return id[:min(8, len(id))]
}
