package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	upgradev1 "github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

func newUpgradeCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Run a rolling upgrade of the whole cluster, led by the Raft leader",
		Long: `Upgrade every node of the cluster to a new release, one node (or up to
--max-unavailable workers) at a time, with health gates and automatic
fallback. The plan is one record in Raft; the Raft leader carries it out,
and a new leader after a failover continues it where it was.

Each node fetches the release from another by digest, verifies it, writes
it into its inactive boot slot (A/B) and restarts into it on trial; it
confirms the slot only once the leader has seen it healthy for a while. A
node whose new slot does not start or does not become healthy falls back to
its old slot by itself, and the plan pauses with the reason.

Before each node: the cluster health check passes (as 'cairnctl health'),
no other node is down, workers and control planes are never down together,
a control plane goes only when the others keep a majority, and the Raft
leader goes last, after handing leadership over. A node that runs a
kubelet is cordoned and drained first (its pods evicted through the
Eviction API, so PodDisruptionBudgets hold; DaemonSet and static pods
stay) and uncordoned once it is back, Ready and confirmed.`,
		Example: `  make bundle VERSION=v0.2.0
  cairnctl upgrade start _out/bundles/cairnd-v0.2.0 --dry-run
  cairnctl upgrade start _out/bundles/cairnd-v0.2.0 --wait
  cairnctl upgrade status -w
  cairnctl upgrade pause; cairnctl upgrade resume
  cairnctl upgrade abort; cairnctl upgrade rollback --wait`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newUpgradeStartCommand(g), newUpgradeStatusCommand(g), newUpgradePauseCommand(g),
		newUpgradeResumeCommand(g), newUpgradeAbortCommand(g), newUpgradeRollbackCommand(g))
	return cmd
}

func (c *apiClient) upgradeService(ep endpoint) upgradev1connect.UpgradeServiceClient {
	return upgradev1connect.NewUpgradeServiceClient(&http.Client{Transport: c.transport}, "https://"+ep.addr, connect.WithGRPC())
}

type upgradeStartOptions struct {
	image, digest                      string
	maxUnavailable                     int
	workersFirst, controlPlanesFirst   bool
	allowDowngrade, dryRun, wait       bool
	install, reboot, verify, stabilize time.Duration
	waitTimeout                        time.Duration
}

func newUpgradeStartCommand(g *globals) *cobra.Command {
	var o upgradeStartOptions
	cmd := &cobra.Command{
		Use:   "start [BUNDLE]",
		Short: "Start a rolling upgrade to BUNDLE (uploaded first) or to an uploaded --digest",
		Long: `Upload BUNDLE (or --image BUNDLE) to the endpoint's node, then start the
plan that upgrades every node to it. A bundle is a cairnd binary built
with a release version ('make bundle VERSION=...'), static for container
nodes (the image has no C library). Refused, with nothing started, for a
file that is not a cairnd for the nodes' architecture (or is dynamically
linked, for container nodes), a version older than a node's without
--allow-downgrade, a
--max-unavailable that would take every worker down, a node that is not
alive, or while another plan runs or is paused (its ID is named).

--dry-run prints the plan (order, gates) without starting it. --wait shows
the plan's progress until it is done, and fails when it pauses or is
aborted. Needs os:admin.`,
		Example: `  cairnctl upgrade start _out/bundles/cairnd-v0.2.0 --dry-run
  cairnctl upgrade start --image _out/bundles/cairnd-v0.2.0 --max-unavailable 2 --wait
  cairnctl upgrade start --digest sha256:4f1c... --control-planes-first`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if o.image != "" && o.image != args[0] {
					return fmt.Errorf("%w: give the bundle once (argument or --image)", ErrUsage)
				}
				o.image = args[0]
			}
			return runUpgradeStart(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "the bundle to upgrade to, uploaded to the endpoint's node first")
	f.StringVar(&o.digest, "digest", "", "upgrade to an artifact a node already holds (sha256:HEX; see 'artifact list')")
	f.IntVar(&o.maxUnavailable, "max-unavailable", 1, "workers upgraded at once (control planes always go one at a time)")
	f.BoolVar(&o.workersFirst, "workers-first", false, "upgrade the workers, then the control planes (the default)")
	f.BoolVar(&o.controlPlanesFirst, "control-planes-first", false, "upgrade the control planes, then the workers")
	f.BoolVar(&o.allowDowngrade, "allow-downgrade", false, "allow a target older than a node's version")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan without starting it")
	f.BoolVar(&o.wait, "wait", false, "show progress until the plan is done")
	f.DurationVar(&o.waitTimeout, "wait-timeout", time.Hour, "how long --wait waits")
	f.DurationVar(&o.install, "install-timeout", 0, "per node: granted → restarting into the new slot (default 5m)")
	f.DurationVar(&o.reboot, "reboot-timeout", 0, "per node: restarting → back at the new version (default 5m)")
	f.DurationVar(&o.verify, "verify-timeout", 0, "per node: back → healthy and confirmed (default 5m); a slot not confirmed by reboot+verify timeout falls back")
	f.DurationVar(&o.stabilize, "stabilize", 0, "per node: how long it must be seen healthy before it confirms (default 5s)")
	cmd.MarkFlagsMutuallyExclusive("workers-first", "control-planes-first")
	cmd.MarkFlagsMutuallyExclusive("image", "digest")
	_ = cmd.MarkFlagFilename("image")
	return cmd
}

func runUpgradeStart(ctx context.Context, g *globals, o upgradeStartOptions) error {
	if (o.image == "") == (o.digest == "") {
		return fmt.Errorf("%w: name the bundle (BUNDLE or --image) or an uploaded --digest", ErrUsage)
	}
	c, t, err := g.client()
	if err != nil {
		return err
	}
	defer c.Close()
	if len(t.nodes) > 0 {
		return fmt.Errorf("%w: an upgrade is the whole cluster's; --nodes does not apply", ErrUsage)
	}
	digest := o.digest
	if o.image != "" {
		res, info, err := uploadArtifact(ctx, c, "", o.image)
		if err != nil {
			return err
		}
		digest = res.GetArtifact().GetDigest()
		fmt.Fprintln(g.streams.Err, uploadSummary("", info, res))
	}
	order := ""
	switch {
	case o.workersFirst:
		order = "workers-first"
	case o.controlPlanesFirst:
		order = "control-planes-first"
	}
	req := &upgradev1.StartRequest{
		Digest: digest, Order: order, MaxUnavailable: int32(o.maxUnavailable), AllowDowngrade: o.allowDowngrade, DryRun: o.dryRun,
		Timeouts: &upgradev1.Timeouts{Install: optDuration(o.install), Reboot: optDuration(o.reboot), Verify: optDuration(o.verify), Stabilize: optDuration(o.stabilize)},
	}
	if !o.dryRun {
		// The same ID on every endpoint tried: a start whose answer was
		// lost is not refused as a second plan.
		req.PlanId = "upgrade-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	var res *upgradev1.StartResponse
	err = c.call(ctx, func(ctx context.Context, ep endpoint) error {
		r, err := c.upgradeService(ep).Start(ctx, connect.NewRequest(req))
		if err == nil {
			res = r.Msg
		}
		return err
	})
	if err != nil {
		return err
	}
	if g.structured() && !o.wait {
		return g.printData(protoObject(res))
	}
	if o.dryRun {
		return writeDryRun(g.streams.Out, res.GetPlan())
	}
	if !o.wait {
		fmt.Fprintf(g.streams.Out, "upgrade %s started: %d nodes to %s\n", res.GetPlan().GetId(), len(res.GetPlan().GetSteps()), res.GetPlan().GetTargetVersion())
		return nil
	}
	return waitUpgrade(ctx, g, c, res.GetPlan().GetId(), o.waitTimeout)
}

func optDuration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// writeDryRun prints the plan Start would store, in order, and its gates.
func writeDryRun(w io.Writer, p *upgradev1.Plan) error {
	fmt.Fprintf(w, "dry run: nothing started\ntarget:  %s (%s, %s)\norder:   %s, at most %d worker(s) at once, control planes one at a time\n",
		p.GetTargetVersion(), p.GetDigest(), byteSize(uint64(p.GetSize())), p.GetOrder(), p.GetMaxUnavailable())
	to := p.GetTimeouts()
	fmt.Fprintf(w, "timeouts: install %s, reboot %s, verify %s; healthy for %s before a node confirms\n\n",
		to.GetInstall().AsDuration(), to.GetReboot().AsDuration(), to.GetVerify().AsDuration(), to.GetStabilize().AsDuration())
	t := newTable("#", "NODE", "ROLE", "FROM", "TO")
	for i, s := range p.GetSteps() {
		to := p.GetTargetVersion()
		if s.GetNode() == p.GetLeader() {
			to += " (Raft leader: last, after handing leadership over)"
		}
		t.add(strconv.Itoa(i+1), s.GetNode(), s.GetRole(), s.GetFrom(), to)
	}
	if err := t.write(w); err != nil {
		return err
	}
	fmt.Fprint(w, `
before each node: the cluster health check passes; no node outside the plan's
steps is down; workers and control planes are never down together; a control
plane only while the others keep a majority (Raft and etcd). A node that runs
a kubelet is cordoned and drained first (PodDisruptionBudgets hold) and
uncordoned once back, Ready and confirmed; its drain counts against the
install timeout.
`)
	return nil
}

// waitUpgrade shows the plan's progress until it is done (nil), pauses or
// is aborted (ErrUpgradeStopped), or timeout passes.
func waitUpgrade(ctx context.Context, g *globals, c *apiClient, id string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := newProgress(g.streams.Err)
	for {
		plan, err := upgradeStatus(ctx, c)
		if err == nil {
			if plan.GetId() != id {
				return fmt.Errorf("%w: plan %s replaced %s", ErrUpgradeStopped, plan.GetId(), id)
			}
			p.show(progressLines(plan))
			switch plan.GetPhase() {
			case "done":
				if g.structured() {
					return g.printData(protoObject(plan))
				}
				fmt.Fprintf(g.streams.Out, "upgrade %s done: %d nodes at %s\n", id, len(plan.GetSteps()), plan.GetTargetVersion())
				return nil
			case "paused", "aborted":
				return fmt.Errorf("%w: plan %s is %s: %s", ErrUpgradeStopped, id, plan.GetPhase(), plan.GetReason())
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("upgrade %s not done within %s (it goes on; see 'cairnctl upgrade status'): %w", id, timeout, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// progressLines are one line per node and a summary, for --wait.
func progressLines(p *upgradev1.Plan) []string {
	done := 0
	var lines []string
	for _, s := range p.GetSteps() {
		mark := markPending
		switch s.GetState() {
		case "done":
			mark, done = markOK, done+1
		case "failed":
			mark = markFailed
		}
		line := fmt.Sprintf("%s %-12s %-10s %s", mark, s.GetNode(), s.GetState(), s.GetReason())
		lines = append(lines, strings.TrimRight(line, " "))
	}
	summary := fmt.Sprintf("upgrade %s to %s: %s, %d of %d nodes done", p.GetId(), p.GetTargetVersion(), p.GetPhase(), done, len(p.GetSteps()))
	if p.GetWaiting() != "" {
		summary += " — waiting: " + p.GetWaiting()
	}
	return append([]string{summary}, lines...)
}

func upgradeStatus(ctx context.Context, c *apiClient) (*upgradev1.Plan, error) {
	var plan *upgradev1.Plan
	err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		r, err := c.upgradeService(ep).Status(ctx, connect.NewRequest(&upgradev1.StatusRequest{}))
		if err == nil {
			plan = r.Msg.GetPlan()
		}
		return err
	})
	return plan, err
}

func newUpgradeStatusCommand(g *globals) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the upgrade plan: its phase and each node's step",
		Long: `Show the upgrade plan as the Raft leader holds it: target, phase, what
holds it back, and one row per node in upgrade order (state, since when,
the version it came from, how many times it was granted, why it failed).

With -o json|yaml: the plan as cairn.upgrade.v1.Plan.`,
		Example: `  cairnctl upgrade status
  cairnctl upgrade status -w
  cairnctl upgrade status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			render := func(ctx context.Context) ([]byte, error) {
				plan, err := upgradeStatus(ctx, c)
				if err != nil {
					return nil, err
				}
				var b bytes.Buffer
				if g.structured() {
					err = writeData(&b, g.output, protoObject(plan))
				} else {
					err = writePlan(&b, plan)
				}
				return b.Bytes(), err
			}
			if watch {
				return g.watch(cmd.Context(), render)
			}
			out, err := render(cmd.Context())
			if err != nil {
				return err
			}
			_, err = g.streams.Out.Write(out)
			return err
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "poll every second and redraw")
	return cmd
}

// writePlan renders the plan as a header and a table of its steps.
func writePlan(w io.Writer, p *upgradev1.Plan) error {
	if p.GetRollback() {
		fmt.Fprintf(w, "plan:    %s (%s): rolls the nodes that run %s back to their previous slot\nphase:   %s", p.GetId(), p.GetCreated().AsTime().Format(time.RFC3339), p.GetTargetVersion(), p.GetPhase())
	} else {
		fmt.Fprintf(w, "plan:    %s (%s)\ntarget:  %s (%s)\nphase:   %s", p.GetId(), p.GetCreated().AsTime().Format(time.RFC3339), p.GetTargetVersion(), p.GetDigest(), p.GetPhase())
	}
	if p.GetReason() != "" {
		fmt.Fprintf(w, ": %s", p.GetReason())
	}
	fmt.Fprintln(w)
	if p.GetWaiting() != "" {
		fmt.Fprintf(w, "waiting: %s\n", p.GetWaiting())
	}
	fmt.Fprintln(w)
	t := newTable("NODE", "ROLE", "STATE", "SINCE", "FROM", "TO", "ATTEMPT", "REASON")
	for _, s := range p.GetSteps() {
		state := s.GetState()
		if s.GetConfirm() {
			state += " (confirming)"
		}
		t.add(s.GetNode(), s.GetRole(), state, s.GetSince().AsTime().Local().Format(time.TimeOnly), s.GetFrom(), s.GetTarget(), strconv.Itoa(int(s.GetAttempt())), s.GetReason())
	}
	return t.write(w)
}

// newUpgradeChangeCommand is pause, resume and abort: one call, the plan
// after it printed.
func newUpgradeChangeCommand(g *globals, use, short, long string, withReason bool,
	call func(ctx context.Context, cl upgradev1connect.UpgradeServiceClient, reason string) (*upgradev1.Plan, error)) *cobra.Command {
	var reason string
	example := "  cairnctl upgrade " + use
	if withReason {
		example += "\n  cairnctl upgrade " + use + " --reason 'worker2 looks slow' -o json"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long + "\n\nNeeds os:admin.", Example: example, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			var plan *upgradev1.Plan
			err = c.call(cmd.Context(), func(ctx context.Context, ep endpoint) error {
				p, err := call(ctx, c.upgradeService(ep), reason)
				plan = p
				return err
			})
			if err != nil {
				return err
			}
			if g.structured() {
				return g.printData(protoObject(plan))
			}
			return writePlan(g.streams.Out, plan)
		},
	}
	if withReason {
		cmd.Flags().StringVar(&reason, "reason", "", "kept in the plan, for status")
	}
	return cmd
}

// planOf is the plan a change's answer carries.
func planOf[T any, PT interface {
	*T
	GetPlan() *upgradev1.Plan
}](r *connect.Response[T], err error) (*upgradev1.Plan, error) {
	if err != nil {
		return nil, err
	}
	return PT(r.Msg).GetPlan(), nil
}

func newUpgradePauseCommand(g *globals) *cobra.Command {
	return newUpgradeChangeCommand(g, "pause", "Pause the running upgrade where it is",
		"Nodes being upgraded finish their step (and confirm once healthy); nothing more is granted until 'resume'.", true,
		func(ctx context.Context, cl upgradev1connect.UpgradeServiceClient, reason string) (*upgradev1.Plan, error) {
			return planOf(cl.Pause(ctx, connect.NewRequest(&upgradev1.PauseRequest{Reason: reason})))
		})
}

func newUpgradeResumeCommand(g *globals) *cobra.Command {
	return newUpgradeChangeCommand(g, "resume", "Resume a paused upgrade; failed nodes are tried again",
		"Run a paused plan again. Failed nodes become pending and are tried once more: the only way a node that fell back to its old slot is upgraded again by the same plan.", false,
		func(ctx context.Context, cl upgradev1connect.UpgradeServiceClient, _ string) (*upgradev1.Plan, error) {
			return planOf(cl.Resume(ctx, connect.NewRequest(&upgradev1.ResumeRequest{})))
		})
}

func newUpgradeAbortCommand(g *globals) *cobra.Command {
	return newUpgradeChangeCommand(g, "abort", "End the upgrade where it is",
		"Upgraded nodes stay upgraded; nodes in the middle of a step finish it or fall back on their own; nothing more is granted, and a new plan may start.", true,
		func(ctx context.Context, cl upgradev1connect.UpgradeServiceClient, reason string) (*upgradev1.Plan, error) {
			return planOf(cl.Abort(ctx, connect.NewRequest(&upgradev1.AbortRequest{Reason: reason})))
		})
}

func newUpgradeRollbackCommand(g *globals) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Return the nodes the plan upgraded to their previous slot",
		Long: `Replace a paused, aborted or finished plan with one that rolls every node
running its target back to the boot slot it ran before (the version its
step came from), one node at a time through the same gates as the upgrade:
each node makes its other slot the confirmed one and restarts into it, and
is done once seen healthy there. Refused while the plan runs (pause or
abort it first). --wait shows progress until it is done. Needs os:admin.`,
		Example: `  cairnctl upgrade pause && cairnctl upgrade rollback --wait`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			var plan *upgradev1.Plan
			err = c.call(cmd.Context(), func(ctx context.Context, ep endpoint) (err error) {
				plan, err = planOf(c.upgradeService(ep).Rollback(ctx, connect.NewRequest(&upgradev1.RollbackRequest{})))
				return err
			})
			if err != nil {
				return err
			}
			if wait {
				return waitUpgrade(cmd.Context(), g, c, plan.GetId(), timeout)
			}
			if g.structured() {
				return g.printData(protoObject(plan))
			}
			return writePlan(g.streams.Out, plan)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "show progress until the rollback is done")
	cmd.Flags().DurationVar(&timeout, "wait-timeout", time.Hour, "how long --wait waits")
	return cmd
}
